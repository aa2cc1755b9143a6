package test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardShowsCacheHitRatio: the routers table shows the share of a
// router's GETs its cache answered (1 miss, 3 hits: 75%).
func TestDashboardShowsCacheHitRatio(t *testing.T) {
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", chromium, err)
		}
		t.Skipf("no %s (apt-get install -y chromium)", chromium)
	}
	_, be := cacheBackend(t, nil)
	cfg := config(cacheTpl, "be", be, "store", "memory", "redis", "")
	cfg = "admin: { address: \"127.0.0.1:0\", dashboard: true }\n" + cfg[len("\nadmin: { address: \"127.0.0.1:0\" }\n"):]
	u := startUsher(t, cfg)
	for range 4 {
		cacheGet(t, u.url("web")+"/page")
	}
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
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(document.querySelector('tr[data-router="cached"] td.cache-ratio') || {}).textContent === '75%'`)); err != nil {
		t.Fatalf("the dashboard never showed 75%% for the cached router: %v", err)
	}
	got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr[data-router="zc"] td.cache-ratio`)))
	if err != nil {
		t.Fatal(err)
	}
	if got != "–" {
		t.Fatalf("a router its cache saw nothing of shows %q", got)
	}
}
