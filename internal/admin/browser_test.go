package admin

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/usher-lb/usher/internal/observe"
)

const chromium = "/usr/bin/chromium"

// browser starts headless Chromium for the test and returns its context; the
// browser is gone when the test's cleanups have run.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", chromium, err)
		}
		t.Skipf("no %s (apt-get install -y chromium)", chromium)
	}
	profile := t.TempDir() // removed after the browser is stopped below
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1440, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // waits for the browser to exit
	})
	return ctx
}

// artifacts is where screenshots go: $USHER_ARTIFACTS, or the test's temp dir.
func artifacts(t *testing.T) string {
	if dir := os.Getenv("USHER_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(artifacts(t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func TestDashboardInBrowser(t *testing.T) {
	ctx := browser(t)
	f := newFixture(t, fixtureOpts{token: adminToken, dashboard: true, lifelike: true})

	// Steady traffic for the charts, until the test ends.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, path := range []string{"/api/users", "/"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(15 * time.Millisecond):
				}
				req, _ := http.NewRequest(http.MethodGet, f.web+path, nil)
				req.Host = "example.com"
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		}()
	}
	t.Cleanup(func() { close(stop); wg.Wait() })
	f.bus.Publish(observe.Event{Type: "reload", To: "applied", Reason: "file changed"})

	// Whatever the page throws or logs as an error fails the test (the
	// browser logs a violation of the content security policy as one).
	if err := chromedp.Do(ctx); err != nil { // start the browser
		t.Fatal(err)
	}
	var mu sync.Mutex
	var pageErrors []string
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				pageErrors = append(pageErrors, m.String())
				mu.Unlock()
			}
		}
	}()

	app1, app2 := f.backends[0].URL, f.shownURL(1)
	row := func(url string) chromedp.CSS { return chromedp.CSS(fmt.Sprintf(`#services tr[data-server=%q]`, url)) }
	step := func(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel chromedp.CSS) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		s, err := chromedp.Run(sctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	call := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
	call("network.enable", err)
	_, err = chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": "Bearer " + adminToken},
	})
	call("set the token", err)
	step("load the dashboard", 20*time.Second,
		chromedp.Navigate(f.admin.URL+"/dashboard/"),
		chromedp.WaitVisible(chromedp.CSS(`#routers tr[data-router="api"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#routers tr[data-router="ops"]`)),
		chromedp.WaitVisible(row(app1)+`[data-health="up"]`),
		chromedp.WaitVisible(row(app2)+`[data-health="up"]`),
		chromedp.WaitVisible(chromedp.CSS(`#entrypoints li[data-entrypoint="web"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#middlewares tr[data-middleware="strip-api"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#conn[data-state="live"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#events li.event[data-type="reload"]`)),
	)
	// A guard's refusals show beside it, and move with traffic.
	f.decide("headers", "frame", 5, 7, 0)
	step("see frame's decisions", 5*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`#middlewares tr[data-middleware="frame"] .d-deny[data-denied="7"]`)))
	if got := text(`#middlewares tr[data-middleware="frame"] td.decisions`); got != "5 allowed · 7 refused" {
		t.Errorf("frame's decisions read %q", got)
	}
	if rule := text(`#routers tr[data-router="api"] code.rule`); rule != "Host(`example.com`) && PathPrefix(`/api`)" {
		t.Errorf("api's rule shows as %q", rule)
	}

	// Let the charts fill for a few seconds, as an operator would see them.
	time.Sleep(4 * time.Second)
	screenshot(t, ctx, "dashboard.png")

	// A drain and a failing health check show within 5s, with their events.
	srv1, _ := f.state.Servers.Lookup("app|" + app1)
	srv2, _ := f.state.Servers.Lookup("app|" + f.serverURL(1))
	srv1.SetDraining(true)
	srv2.SetHealthy(false)
	f.bus.Publish(observe.Event{Type: "health", Service: "app", Server: app2, From: "healthy", To: "unhealthy", Reason: "3 probes failed: connection refused"})
	step("see the drain, the server down and its event", 5*time.Second,
		chromedp.WaitVisible(row(app1)+`[data-health="draining"]`),
		chromedp.WaitVisible(row(app2)+`[data-health="down"]`),
		chromedp.WaitVisible(chromedp.CSS(`#events li.event[data-type="health"]`)),
	)
	if badge := text(row(app1) + ` .badge`); badge != "draining" {
		t.Errorf("badge of the drained server reads %q", badge)
	}
	screenshot(t, ctx, "dashboard-drained.png")

	// Undrain from the page itself.
	step("undrain with the button", 5*time.Second,
		chromedp.Click(row(app1)+` button`),
		chromedp.WaitVisible(row(app1)+`[data-health="up"]`),
	)
	if srv1.Draining() {
		t.Error("the Undrain button did not undrain the server")
	}

	// A refused reload shows its problems.
	srv2.SetHealthy(true)
	f.setStatus(refusedStatus())
	step("see the refused reload", 5*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`#banner`)),
		chromedp.WaitVisible(chromedp.CSS(`#routers tr[data-router="api"] .badge.error`)),
	)

	_, err = chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
	})
	call("dark mode", err)
	time.Sleep(300 * time.Millisecond)
	screenshot(t, ctx, "dashboard-dark-refused.png")

	mu.Lock()
	defer mu.Unlock()
	for _, e := range pageErrors {
		t.Errorf("page error: %s", e)
	}
}
