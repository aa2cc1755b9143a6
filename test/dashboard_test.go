package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardShowsAKilledBackendGoDown runs usher with its dashboard, opens
// the page in headless Chromium, kills a backend and waits for the page to show
// it down within the health check's time. Screenshots go to $USHER_ARTIFACTS
// (or the test's temp dir).
func TestDashboardShowsAKilledBackendGoDown(t *testing.T) {
	needChromium(t)
	a, b := backend(t, "a"), backend(t, "b")
	u := startUsher(t, config(`
admin: { address: "127.0.0.1:0", dashboard: true }
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    shop: { rule: "Host(`+"`shop.example`"+`)", service: shop }
  services:
    shop:
      loadBalancer:
        healthCheck: { path: /, interval: 200ms, timeout: 150ms, unhealthyAfter: 2, healthyAfter: 1 }
        servers: [ { url: "{{a}}" }, { url: "{{b}}" } ]
`, "a", a.URL, "b", b.URL))
	dir := os.Getenv("USHER_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	os.MkdirAll(dir, 0o755)

	ctx := openDashboard(t, u.addrs["admin"], 60*time.Second)

	shot := func(name string) {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 gives a PNG
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		path := filepath.Join(dir, name)
		os.WriteFile(path, png, 0o644)
		t.Logf("screenshot: %s", path)
	}
	row := func(url, health string) string {
		return fmt.Sprintf(`tr[data-server=%q][data-health=%q]`, url, health)
	}
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`tr[data-router="shop"]`)),
		chromedp.WaitVisible(chromedp.CSS(row(a.URL, "up"))),
		chromedp.WaitVisible(chromedp.CSS(row(b.URL, "up"))),
	); err != nil {
		t.Fatalf("dashboard did not show the router and both servers up: %v", err)
	}
	shot("dashboard-before.png")

	b.Close() // the backend dies
	killed := time.Now()
	waitCtx, cancelWait := context.WithTimeout(ctx, 5*time.Second)
	defer cancelWait()
	if err := chromedp.Do(waitCtx, chromedp.WaitVisible(chromedp.CSS(row(b.URL, "down")))); err != nil {
		shot("dashboard-timeout.png")
		t.Fatalf("the killed server is not shown down within 5s: %v", err)
	}
	t.Logf("shown down %v after the kill (checks every 200ms, down after 2 failures)", time.Since(killed).Round(10*time.Millisecond))
	shot("dashboard-after.png")
}
