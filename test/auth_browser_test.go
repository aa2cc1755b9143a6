package test

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
)

// TestPasswordsInChromium: a real browser logs in through basicAuth and
// digestAuth (Chromium's own Digest code, answering usher's challenges), the
// credentials given when it asks, as a user typing them in its login box.
func TestPasswordsInChromium(t *testing.T) {
	needChromium(t)
	algorithm := regexp.MustCompile(`algorithm="?([A-Za-z0-9-]+)`)
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		alg := "none"
		if m := algorithm.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
			alg = m[1]
		}
		fmt.Fprintf(w, "<p id=who>%s %s</p>", r.Header.Get("X-User"), alg)
	}).URL
	m := md5.Sum([]byte("alice:shop:wonder land"))
	s := sha256.Sum256([]byte("alice:shop:wonder land"))
	bcrypt := hashPassword(t, "wonder land", "--bcrypt", "--cost", "4")
	u := startUsher(t, config(`
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    digest: { rule: "PathPrefix(`+"`/digest`"+`)", middlewares: [digest], service: app }
    basic:  { rule: "PathPrefix(`+"`/basic`"+`)", middlewares: [basic], service: app }
  middlewares:
    digest: { digestAuth: { realm: shop, users: ["alice:shop:{{md5}}", "alice:shop:{{sha}}"], headerField: X-User } }
    basic:  { basicAuth: { realm: shop, users: ["alice:{{bcrypt}}"], headerField: X-User } }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "md5", hex.EncodeToString(m[:]), "sha", hex.EncodeToString(s[:]), "bcrypt", bcrypt, "be", be))

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	for _, tc := range []struct{ name, path, password, want string }{
		{"digest", "/digest/orders?id=7", "wonder land", "alice SHA-256"},
		{"basic", "/basic/orders", "wonder land", "alice none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := chromedp.NewContext(allocCtx)
			defer cancel()
			events := make(chan any, 64)
			// Listen's function must not call the browser: the events go
			// to a goroutine that answers them.
			if err := chromedp.Listen(ctx, func(ev any) {
				switch ev.(type) {
				case *fetch.EventAuthRequired, *fetch.EventRequestPaused:
					events <- ev
				}
			}); err != nil {
				t.Fatal(err)
			}
			asked := make(chan string, 16)
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case ev := <-events:
						switch e := ev.(type) {
						case *fetch.EventAuthRequired:
							asked <- e.AuthChallenge.Scheme
							chromedp.Call(ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: e.RequestID,
								AuthChallengeResponse: &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: "alice", Password: tc.password}})
						case *fetch.EventRequestPaused:
							chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: e.RequestID})
						}
					}
				}
			}()
			tctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
			defer cancelT()
			yes := true
			if _, err := chromedp.Call(tctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &yes}); err != nil {
				t.Fatal(err)
			}
			if err := chromedp.Do(tctx, chromedp.Navigate(u.url("web")+tc.path)); err != nil {
				t.Fatalf("browser: %v; usher log:\n%s", err, u.logText())
			}
			who, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS("#who")))
			if err != nil {
				t.Fatalf("browser: %v", err)
			}
			if strings.TrimSpace(who) != tc.want {
				t.Errorf("page says %q, want %q", who, tc.want)
			}
			select {
			case scheme := <-asked:
				if !strings.EqualFold(scheme, tc.name) {
					t.Errorf("the browser was asked for %q credentials", scheme)
				}
			default:
				t.Error("the browser was never asked for credentials")
			}
		})
	}
}
