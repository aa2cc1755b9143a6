package test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardShowsDeployments: the deployments panel shows a canary's
// state and step and a weighted service's live weights.
func TestDashboardShowsDeployments(t *testing.T) {
	needChromium(t)
	stable, next := backend(t, "stable"), backend(t, "next")
	cfg := config(canaryTpl, "stable", stable.URL, "next", next.URL, "steps", "[5, 25, 50, 100]", "extra", "")
	cfg = "admin: { address: \"127.0.0.1:0\", dashboard: true }\n" + cfg[len("\nadmin: { address: \"127.0.0.1:0\" }\n"):]
	u := startUsher(t, cfg)
	ctx := openDashboard(t, u.addrs["admin"], 30*time.Second)
	row := `document.querySelector('tr[data-deployment="shop"]')`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!`+row+` && `+row+`.textContent.includes('progressing') && `+row+`.textContent.includes('step 1 of 4 (5%)') && `+row+`.textContent.includes('stable 95%')`)); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#deployments`)))
		t.Fatalf("the deployments panel never showed the canary at step 1: %v\n%s", err, got)
	}
	runCLI(t, "canary", "abort", "shop", "--admin", u.addrs["admin"])
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](row+`.textContent.includes('aborted') && `+row+`.textContent.includes('stable 100%')`)); err != nil {
		t.Fatalf("the deployments panel never showed the abort: %v", err)
	}
}
