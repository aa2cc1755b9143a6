package test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardShowsDeployments: the deployments panel shows a canary's
// state and step and a weighted service's live weights.
func TestDashboardShowsDeployments(t *testing.T) {
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", chromium, err)
		}
		t.Skipf("no %s (apt-get install -y chromium)", chromium)
	}
	stable, next := backend(t, "stable"), backend(t, "next")
	cfg := config(canaryTpl, "stable", stable.URL, "next", next.URL, "steps", "[5, 25, 50, 100]", "extra", "")
	cfg = "admin: { address: \"127.0.0.1:0\", dashboard: true }\n" + cfg[len("\nadmin: { address: \"127.0.0.1:0\" }\n"):]
	u := startUsher(t, cfg)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1440, 900))
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer func() { cancel(); cancelAlloc() }()
	ctx, cancelT := context.WithTimeout(ctx, 30*time.Second)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+u.addrs["admin"]+"/dashboard/")); err != nil {
		t.Fatal(err)
	}
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
