package test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's Chromium, which the test command installs.
const chromiumPath = "/usr/bin/chromium"

// needChromium skips the test where there is no Chromium, and fails it in
// CI, where the test command installs one.
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", chromiumPath, err)
		}
		t.Skipf("no %s (apt-get install -y chromium)", chromiumPath)
	}
}

// openDashboard opens the dashboard of the admin API at admin in a
// headless Chromium of its own, for at most limit; the browser ends with
// the test.
func openDashboard(t *testing.T, admin string, limit time.Duration) context.Context {
	t.Helper()
	needChromium(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1440, 900))
	ctx, cancel := chromedp.NewContext(allocCtx)
	ctx, cancelT := context.WithTimeout(ctx, limit)
	t.Cleanup(func() { cancelT(); cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+admin+"/dashboard/")); err != nil {
		t.Fatal(err)
	}
	return ctx
}
