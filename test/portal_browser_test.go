package test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/usher-lb/usher/internal/totp"
)

// addPortalUser runs `usher user add` as an operator does and returns the
// TOTP secret it printed.
func addPortalUser(t *testing.T, file, name, password string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(usherBin, append([]string{"user", "add", name, "--file", file}, args...)...)
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("usher user add: %v\n%s", err, out)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	b32, ok := strings.CutPrefix(first, "secret: ")
	if !ok || !strings.Contains(string(out), "otpauth://totp/") {
		t.Fatalf("usher user add printed:\n%s", out)
	}
	secret, err := totp.Decode(b32)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// TestPortalInChromium: a person at a real browser, JavaScript off, asks
// for a page of a.usher.test, is sent to usher's login page, signs in with
// a password and the code of their authenticator (computed here), comes
// back to that page, reaches b.usher.test without signing in again (one
// cookie on usher.test), signs out there, and meets the login page again
// on a.
func TestPortalInChromium(t *testing.T) {
	needChromium(t)
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yaml")
	secret := addPortalUser(t, users, "alice", "wonder land", "--groups", "admin,dev")
	app := func(name string) string {
		return backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
			leaked := strings.Contains(r.Header.Get("Cookie"), "usher_portal")
			fmt.Fprintf(w, "<!doctype html><title>%s</title><p id=who>%s %s %s cookie-leaked=%v</p>", name, name,
				r.Header.Get("Remote-User"), r.Header.Get("Remote-Groups"), leaked)
		}).URL
	}
	certFile, keyFile, _ := selfSigned(t, dir, "a.usher.test", "b.usher.test")
	u := startUsher(t, config(`
entrypoints:
  websecure: { address: "127.0.0.1:0", tls: {} }
tls:
  certificates: [ { certFile: "{{cert}}", keyFile: "{{key}}" } ]
http:
  routers:
    a: { rule: "Host(`+"`a.usher.test`"+`)", middlewares: [login], service: a, tls: {} }
    b: { rule: "Host(`+"`b.usher.test`"+`)", middlewares: [login], service: b, tls: {} }
  middlewares:
    login: { portal: { usersFile: "{{users}}", cookieDomain: usher.test } }
  services:
    a: { loadBalancer: { servers: [ { url: "{{a}}" } ] } }
    b: { loadBalancer: { servers: [ { url: "{{b}}" } ] } }
`, "cert", certFile, "key", keyFile, "users", users, "a", app("a"), "b", app("b")))
	_, port, _ := strings.Cut(u.addrs["websecure"], ":")
	site := func(host, path string) string { return "https://" + host + ".usher.test:" + port + path }

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("host-resolver-rules", "MAP *.usher.test 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.Flag("blink-settings", "scriptEnabled=false"),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	defer cancelT()
	fail := func(step string, err error) {
		t.Helper()
		t.Fatalf("%s: %v; usher log:\n%s", step, err, u.logText())
	}

	do := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			fail(step, err)
		}
	}
	get := func(step string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			fail(step, err)
		}
		return strings.TrimSpace(v)
	}
	id := func(s string) chromedp.CSS { return chromedp.CSS("#" + s) }

	do("the login page", chromedp.Navigate(site("a", "/orders?id=7")), chromedp.WaitVisible(id("login")))
	loc := get("the login page", chromedp.Location())
	lu, _ := url.Parse(loc)
	if lu.Host != "a.usher.test:"+port || lu.Path != "/.usher/login/" || lu.Query().Get("rd") != "/orders?id=7" {
		t.Fatalf("sent to %s, want a's login page with rd=/orders?id=7", loc)
	}
	do("sign in",
		chromedp.SendKeys(id("username"), "alice"),
		chromedp.SendKeys(id("password"), "wonder land"),
		chromedp.SendKeys(id("code"), totp.CodeAt(secret, time.Now())),
		chromedp.Click(id("submit")),
		chromedp.WaitVisible(id("who")))
	loc, who := get("sign in", chromedp.Location()), get("sign in", chromedp.Text(id("who")))
	if loc != site("a", "/orders?id=7") || who != "a alice admin,dev cookie-leaked=false" {
		t.Fatalf("after signing in: at %s, page says %q", loc, who)
	}
	do("the second host", chromedp.Navigate(site("b", "/cart")), chromedp.WaitVisible(id("who")))
	if who := get("the second host", chromedp.Text(id("who"))); who != "b alice admin,dev cookie-leaked=false" {
		t.Fatalf("b.usher.test says %q", who)
	}
	do("the signed-in page", chromedp.Navigate(site("b", "/.usher/login/")), chromedp.WaitVisible(id("logout")))
	if s := get("the signed-in page", chromedp.Text(id("who"))); !strings.Contains(s, "alice") {
		t.Errorf("the signed-in page says %q", s)
	}
	do("sign out", chromedp.Click(id("logout")), chromedp.WaitVisible(id("login")))
	do("after signing out", chromedp.Navigate(site("a", "/orders")), chromedp.WaitVisible(id("login")))
	if lu, _ := url.Parse(get("after signing out", chromedp.Location())); lu.Path != "/.usher/login/" {
		t.Errorf("after signing out, a.usher.test/orders is at %s, want the login page", lu)
	}
	log := u.logText()
	if strings.Contains(log, "wonder land") {
		t.Error("the password is in usher's log")
	}
	for _, want := range []string{`"msg":"login"`, `"msg":"logout"`} {
		if !strings.Contains(log, want) {
			t.Errorf("usher's log lacks %s", want)
		}
	}
}
