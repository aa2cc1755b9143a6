package test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardShowsCacheHitRatio: the routers table shows the share of a
// router's GETs its cache answered (1 miss, 3 hits: 75%).
func TestDashboardShowsCacheHitRatio(t *testing.T) {
	needChromium(t)
	_, be := cacheBackend(t, nil)
	cfg := config(cacheTpl, "be", be, "store", "memory", "redis", "")
	cfg = "admin: { address: \"127.0.0.1:0\", dashboard: true }\n" + cfg[len("\nadmin: { address: \"127.0.0.1:0\" }\n"):]
	u := startUsher(t, cfg)
	for range 4 {
		cacheGet(t, u.url("web")+"/page")
	}
	ctx := openDashboard(t, u.addrs["admin"], 30*time.Second)
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
