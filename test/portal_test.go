package test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/totp"
)

// portalClient is a browser-like client of usher's TLS entrypoint at addr
// for any *.usher.test name: a cookie jar, redirects not followed (each is
// checked).
func portalClient(t *testing.T, addr string) *http.Client {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the test's own self-signed certificate
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var formField = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)

// portalLogin fetches the login page at page and posts its form with the
// given fields; it returns the answer to the post.
func portalLogin(t *testing.T, c *http.Client, page string, fields url.Values) *http.Response {
	t.Helper()
	resp, err := c.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	form := url.Values{}
	for _, m := range formField.FindAllStringSubmatch(body, -1) {
		form.Set(m[1], strings.ReplaceAll(m[2], "&amp;", "&"))
	}
	if form.Get("csrf") == "" {
		t.Fatalf("GET %s: %d, no form:\n%s", page, resp.StatusCode, body)
	}
	for k, v := range fields {
		form[k] = v
	}
	u, _ := url.Parse(page)
	u.RawQuery = ""
	resp, err = c.PostForm(u.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	return resp
}

// TestPortalThroughUsher: the portal on the real binary, spoken to as a
// script or an API client would: the redirect and its rd, 401 for API
// clients, single sign-on on two hosts, rd to another site dropped, logout
// ending the session for a copy of its cookie, a code used twice, a locked
// user, the decisions counted and the user logged.
func TestPortalThroughUsher(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	secret := addPortalUser(t, users, "alice", "wonder land", "--groups", "ops")
	logPath := filepath.Join(dir, "access.log")
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s user=%s groups=%s", r.Host, r.Header.Get("Remote-User"), r.Header.Get("Remote-Groups"))
	}).URL
	certFile, keyFile, _ := selfSigned(t, dir, "a.usher.test", "b.usher.test")
	u := startUsher(t, config(`
accessLog: { path: "{{log}}", format: json }
admin: { address: "127.0.0.1:0" }
entrypoints:
  websecure: { address: "127.0.0.1:0", tls: {} }
tls:
  certificates: [ { certFile: "{{cert}}", keyFile: "{{key}}" } ]
http:
  routers:
    a: { rule: "Host(`+"`a.usher.test`"+`)", middlewares: [sso], service: app, tls: {} }
    b: { rule: "Host(`+"`b.usher.test`"+`)", middlewares: [sso], service: app, tls: {} }
  middlewares:
    sso: { portal: { usersFile: "{{users}}", cookieDomain: usher.test, maxUserFailures: 3, lockoutDuration: 1h } }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "cert", certFile, "key", keyFile, "users", users, "be", be, "log", logPath))
	addr := u.addrs["websecure"]
	c := portalClient(t, addr)

	req, _ := http.NewRequest("GET", "https://a.usher.test/api/orders", nil)
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 401 || !strings.Contains(body, `"login":"/.usher/login/"`) {
		t.Fatalf("API client: %d %s", resp.StatusCode, body)
	}
	resp, err = c.Get("https://a.usher.test/orders?id=7")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/.usher/login/?rd=%2Forders%3Fid%3D7" {
		t.Fatalf("no session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	code := totp.CodeAt(secret, time.Now())
	login := url.Values{"username": {"alice"}, "password": {"wonder land"}, "code": {code}}
	resp = portalLogin(t, c, "https://a.usher.test"+resp.Header.Get("Location"), login)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/orders?id=7" {
		t.Fatalf("login: %d %q; log:\n%s", resp.StatusCode, resp.Header.Get("Location"), u.logText())
	}
	for _, host := range []string{"a", "b"} {
		resp, err := c.Get("https://" + host + ".usher.test/cart")
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); resp.StatusCode != 200 || body != host+".usher.test user=alice groups=ops" {
			t.Errorf("%s after login: %d %q", host, resp.StatusCode, body)
		}
	}
	// The session cookie, as a thief would keep it.
	stolen := c.Jar.Cookies(&url.URL{Scheme: "https", Host: "b.usher.test", Path: "/"})
	resp, err = c.Post("https://b.usher.test/.usher/login/logout", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/.usher/login/" {
		t.Fatalf("logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	thief := portalClient(t, addr)
	thief.Jar.SetCookies(&url.URL{Scheme: "https", Host: "a.usher.test"}, stolen)
	if resp, err := thief.Get("https://a.usher.test/cart"); err != nil || readAll(t, resp) != "" || resp.StatusCode != http.StatusFound {
		t.Errorf("the cookie after logout: %v %v", resp.StatusCode, err)
	}
	// The same code again: refused. Another site in rd: dropped.
	login.Set("rd", "https://evil.example/")
	if resp := portalLogin(t, c, "https://a.usher.test/.usher/login/", login); resp.StatusCode != 401 {
		t.Errorf("a code used twice: %d", resp.StatusCode)
	}
	login.Set("code", totp.Code(secret, totp.Step(time.Now())+1))
	if resp := portalLogin(t, c, "https://a.usher.test/.usher/login/", login); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/.usher/login/" {
		t.Errorf("login with rd to another site: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Three wrong passwords lock alice, even for the right one.
	other := portalClient(t, addr)
	for i := range 3 {
		if resp := portalLogin(t, other, "https://b.usher.test/.usher/login/", url.Values{"username": {"alice"}, "password": {fmt.Sprint("guess", i)}}); resp.StatusCode != 401 {
			t.Fatalf("wrong password %d: %d", i+1, resp.StatusCode)
		}
	}
	login.Set("code", totp.Code(secret, totp.Step(time.Now())+1))
	resp = portalLogin(t, other, "https://b.usher.test/.usher/login/", login)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("locked alice with her password: %d", resp.StatusCode)
	}
	if !strings.Contains(u.logText(), "user locked out") {
		t.Error("the lockout is not logged")
	}
	_, metrics := get(t, "http://"+u.addrs["admin"]+"/metrics")
	for _, r := range []string{"allow", "deny"} {
		if !strings.Contains(metrics, `usher_middleware_decisions_total{kind="portal",middleware="sso",result="`+r+`"}`) {
			t.Errorf("metrics lack the portal's %s decisions", r)
		}
	}
	var lines []map[string]any
	waitFor(t, 5*time.Second, func() bool {
		lines = readJSONLines(t, logPath)
		for _, l := range lines {
			if l["user"] == "alice" {
				return true
			}
		}
		return false
	})
	all := u.logText() + fmt.Sprint(lines)
	// (The code is not looked for: six digits turn up in timestamps.)
	for _, s := range []string{"wonder land", "guess0", stolen[0].Value} {
		if strings.Contains(all, s) {
			t.Errorf("a log shows %q", s)
		}
	}
}
