package portal

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/passwd"
	"github.com/usher-lb/usher/internal/totp"
)

var (
	aliceSecret = []byte("alice's 20-byte key!")
	hashOnce    sync.Once
	pwHash      string
)

const password = "wonder land"

func usersFile(t testing.TB) string {
	t.Helper()
	hashOnce.Do(func() { pwHash, _ = passwd.HashBcrypt(password, 4) })
	path := filepath.Join(t.TempDir(), "users.yaml")
	body := fmt.Sprintf("users:\n  alice: {password: '%s', groups: [admin, dev], totp: %s}\n  bob: {password: '%s'}\n", pwHash, totp.Encode(aliceSecret), pwHash)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// rig is a portal with a clock of its own, a backend that tells what it got,
// and a browser's cookie jar kept by hand (the cookies are Secure, and the
// test speaks plain HTTP to a handler).
type rig struct {
	t       testing.TB
	p       *portal
	now     time.Time
	jar     map[string]string
	logs    *bytes.Buffer
	lastReq *http.Request
	lastID  *observe.Identity
	ip      string
}

func newRig(t testing.TB, cfg *config.Portal) *rig {
	t.Helper()
	if cfg.UsersFile == "" {
		cfg.UsersFile = usersFile(t)
	}
	rg := &rig{t: t, now: time.Unix(1_800_000_000, 0), jar: map[string]string{}, logs: &bytes.Buffer{}, ip: "203.0.113.7"}
	log := slog.New(slog.NewTextHandler(rg.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := env.With(t.Context(), env.New(env.Config{Log: log}, nil))
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rg.lastReq = r
		io.WriteString(w, "app")
	})
	h, err := New(ctx, next, cfg, "login")
	if err != nil {
		t.Fatal(err)
	}
	rg.p = h.(*portal)
	clock := func() time.Time { return rg.now }
	rg.p.now, rg.p.st.users.now, rg.p.st.clients.now = clock, clock, clock
	t.Cleanup(func() { rg.p.st.sessions.(interface{ Close() }).Close() })
	return rg
}

func (rg *rig) do(method, target string, form url.Values, hdr ...string) *http.Response {
	rg.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = rg.ip + ":5000"
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	for k, v := range rg.jar {
		r.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	w := httptest.NewRecorder()
	ow := observe.NewRecorder(w)
	rg.p.ServeHTTP(ow, r)
	rg.lastID = ow.Rec.Identity
	resp := w.Result()
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 {
			delete(rg.jar, c.Name)
		} else {
			rg.jar[c.Name] = c.Value
		}
	}
	return resp
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// loginForm fetches the login page and returns the form's fields.
func (rg *rig) loginForm(target string) url.Values {
	rg.t.Helper()
	resp := rg.do("GET", target, nil)
	b, _ := io.ReadAll(resp.Body)
	m := csrfField.FindSubmatch(b)
	if resp.StatusCode != 200 || m == nil {
		rg.t.Fatalf("GET %s: %d, no csrf field:\n%s", target, resp.StatusCode, b)
	}
	rd := regexp.MustCompile(`name="rd" value="([^"]*)"`).FindSubmatch(b)
	return url.Values{"csrf": {string(m[1])}, "rd": {htmlUnescape(string(rd[1]))}}
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#39;", "'", "&#34;", `"`, "&lt;", "<", "&gt;", ">").Replace(s)
}

func (rg *rig) login(user, pw, code string) *http.Response {
	rg.t.Helper()
	f := rg.loginForm("/.usher/login/")
	f.Set("username", user)
	f.Set("password", pw)
	f.Set("code", code)
	return rg.do("POST", "/.usher/login/", f)
}

func (rg *rig) code(offset int) string {
	return totp.Code(aliceSecret, totp.Step(rg.now)+int64(offset))
}

func TestLoginFlow(t *testing.T) {
	rg := newRig(t, &config.Portal{CookieDomain: "example.com"})
	resp := rg.do("GET", "http://app.example.com/orders?id=7", nil)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/.usher/login/?rd=%2Forders%3Fid%3D7" {
		t.Fatalf("no session: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	f := rg.loginForm("http://app.example.com" + resp.Header.Get("Location"))
	if f.Get("rd") != "/orders?id=7" {
		t.Fatalf("rd in the form: %q", f.Get("rd"))
	}
	if c := rg.jar["usher_portal_csrf"]; c == "" {
		t.Fatal("no CSRF cookie")
	}
	f.Set("username", "alice")
	f.Set("password", password)
	f.Set("code", rg.code(0))
	resp = rg.do("POST", "http://app.example.com/.usher/login/", f)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/orders?id=7" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("login: %d %q\n%s\n%s", resp.StatusCode, resp.Header.Get("Location"), b, rg.logs)
	}
	var sc string
	for _, v := range resp.Header["Set-Cookie"] {
		if strings.HasPrefix(v, "usher_portal=") {
			sc = v
		}
	}
	for _, attr := range []string{"Domain=example.com", "Path=/", "Max-Age=43200", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(sc, attr) {
			t.Errorf("session cookie %q lacks %s", sc, attr)
		}
	}
	// Another host of the domain: the same session.
	resp = rg.do("GET", "http://shop.example.com/cart", nil, "Remote-User", "mallory", "Remote_Groups", "root", "Cookie", "theme=dark")
	if resp.StatusCode != 200 {
		t.Fatalf("with the session: %d", resp.StatusCode)
	}
	h := rg.lastReq.Header
	if h.Get("Remote-User") != "alice" || h.Get("Remote-Groups") != "admin,dev" || len(h["Remote-User"]) != 1 {
		t.Errorf("identity headers to the server: %v", h)
	}
	for k := range h {
		if strings.EqualFold(k, "Remote_Groups") {
			t.Errorf("the client's %s reached the server", k)
		}
	}
	if id := rg.lastID; id == nil || id.User != "alice" || id.Middleware != "login" || len(id.Groups) != 2 {
		t.Errorf("identity on the access log record: %+v", id)
	}
	if c := strings.Join(h["Cookie"], ";"); strings.Contains(c, "usher_portal") || !strings.Contains(c, "theme=dark") {
		t.Errorf("cookies to the server: %q", c)
	}
	// The login page knows the browser now.
	resp = rg.do("GET", "http://shop.example.com/.usher/login/", nil)
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "signed in as <strong>alice</strong>") {
		t.Errorf("login page with a session:\n%s", b)
	}
	resp = rg.do("GET", "http://shop.example.com/.usher/login/?rd=https://shop.example.com/x", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://shop.example.com/x" {
		t.Errorf("login page with a session and rd: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Logout ends the session, wherever its cookie is.
	old := rg.jar["usher_portal"]
	resp = rg.do("POST", "http://shop.example.com/.usher/login/logout", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/.usher/login/" || rg.jar["usher_portal"] != "" {
		t.Fatalf("logout: %d %q, cookie %q", resp.StatusCode, resp.Header.Get("Location"), rg.jar["usher_portal"])
	}
	rg.jar["usher_portal"] = old // a copy of the cookie kept by an attacker
	if resp = rg.do("GET", "http://app.example.com/orders", nil); resp.StatusCode != http.StatusFound {
		t.Errorf("after logout, the old cookie: %d", resp.StatusCode)
	}
	for _, secret := range []string{password, rg.code(0), old} {
		if strings.Contains(rg.logs.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, rg.logs)
		}
	}
	if !regexp.MustCompile(`msg=login .*user=alice`).MatchString(rg.logs.String()) || !regexp.MustCompile(`msg=logout .*user=alice`).MatchString(rg.logs.String()) {
		t.Errorf("log:\n%s", rg.logs)
	}
}

func TestSessionEnds(t *testing.T) {
	rg := newRig(t, &config.Portal{SessionTTL: config.Duration(time.Hour)})
	if resp := rg.login("alice", password, rg.code(0)); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/.usher/login/" {
		t.Fatalf("login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := rg.do("GET", "/app", nil); resp.StatusCode != 200 {
		t.Fatalf("%d", resp.StatusCode)
	}
	rg.now = rg.now.Add(time.Hour)
	if resp := rg.do("GET", "/app", nil); resp.StatusCode != http.StatusFound {
		t.Errorf("after sessionTTL: %d", resp.StatusCode)
	}
	// A forged or altered cookie is none.
	rg.jar["usher_portal"] = "AAAA" + rg.jar["usher_portal"]
	if resp := rg.do("GET", "/app", nil); resp.StatusCode != http.StatusFound {
		t.Errorf("altered cookie: %d", resp.StatusCode)
	}
}

func TestTOTPCodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offset int
		reuse  bool // log in first with this code, then again
		status int
	}{
		{"now", 0, false, http.StatusSeeOther},
		{"one step late", -1, false, http.StatusSeeOther},
		{"one step early", 1, false, http.StatusSeeOther},
		{"two steps late", -2, false, http.StatusUnauthorized},
		{"two steps early", 2, false, http.StatusUnauthorized},
		{"reused", 0, true, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rg := newRig(t, &config.Portal{})
			code := rg.code(tc.offset)
			if tc.reuse {
				if resp := rg.login("alice", password, code); resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("first use: %d", resp.StatusCode)
				}
				rg.do("POST", "/.usher/login/logout", nil)
			}
			resp := rg.login("alice", password, code)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tc.status, rg.logs)
			}
			if tc.reuse && !strings.Contains(rg.logs.String(), `reason="TOTP code already used"`) {
				t.Errorf("log:\n%s", rg.logs)
			}
		})
	}
	// A code of an earlier step than the last used one is refused too, and
	// the next step's code is taken.
	rg := newRig(t, &config.Portal{})
	rg.login("alice", password, rg.code(1))
	rg.do("POST", "/.usher/login/logout", nil)
	if resp := rg.login("alice", password, rg.code(0)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("an older step after a newer one: %d", resp.StatusCode)
	}
	rg.now = rg.now.Add(60 * time.Second)
	if resp := rg.login("alice", password, rg.code(0)); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a later step: %d", resp.StatusCode)
	}
}

func TestRequireTOTP(t *testing.T) {
	rg := newRig(t, &config.Portal{})
	if resp := rg.login("bob", password, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bob without a secret, requireTOTP on: %d", resp.StatusCode)
	}
	if resp := rg.login("alice", password, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("alice without her code: %d", resp.StatusCode)
	}
	off := false
	rg = newRig(t, &config.Portal{RequireTOTP: &off})
	if resp := rg.login("bob", password, ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("bob without a secret, requireTOTP off: %d", resp.StatusCode)
	}
	rg.do("POST", "/.usher/login/logout", nil)
	if resp := rg.login("alice", password, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("alice, who has a secret, without her code: %d", resp.StatusCode)
	}
}

func TestUserLockout(t *testing.T) {
	rg := newRig(t, &config.Portal{MaxUserFailures: 4, LockoutDuration: config.Duration(10 * time.Minute)})
	want := []int{401, 401, 401, 401} // userFree=2: the third waits 1 s, the fourth locks
	for i, w := range want {
		rg.ip = fmt.Sprintf("198.51.100.%d", i+1) // each from another client
		if resp := rg.login("alice", "guess", rg.code(0)); resp.StatusCode != w {
			t.Fatalf("failure %d: %d, want %d", i+1, resp.StatusCode, w)
		}
		rg.now = rg.now.Add(2 * time.Second)
	}
	if !strings.Contains(rg.logs.String(), "user locked out") {
		t.Errorf("no lockout in the log:\n%s", rg.logs)
	}
	rg.ip = "192.0.2.99"
	resp := rg.login("alice", password, rg.code(0))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("locked user with the right password: %d", resp.StatusCode)
	}
	if resp := rg.login("bob", password, ""); resp.StatusCode == http.StatusTooManyRequests {
		t.Error("another user is locked too")
	}
	rg.now = rg.now.Add(10 * time.Minute)
	if resp := rg.login("alice", password, rg.code(0)); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after the lockout: %d", resp.StatusCode)
	}
}

func TestClientLockout(t *testing.T) {
	rg := newRig(t, &config.Portal{MaxClientFailures: 8, LockoutDuration: config.Duration(time.Minute)})
	for i := range 8 {
		// A new user name each time: the user guard never trips.
		if resp := rg.login(fmt.Sprintf("user%d", i), "guess", ""); resp.StatusCode != 401 {
			t.Fatalf("failure %d: %d", i+1, resp.StatusCode)
		}
		rg.now = rg.now.Add(time.Minute) // past any backoff wait
	}
	rg.now = rg.now.Add(-59 * time.Second)
	if resp := rg.login("alice", password, rg.code(0)); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("locked client: %d", resp.StatusCode)
	}
	if !strings.Contains(rg.logs.String(), "client locked out") || strings.Contains(rg.logs.String(), "user0") {
		t.Errorf("log (an unknown name must not be logged):\n%s", rg.logs)
	}
	rg.ip = "203.0.113.8"
	if resp := rg.login("alice", password, rg.code(0)); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("another client: %d", resp.StatusCode)
	}
}

func TestGuard(t *testing.T) {
	now := time.Unix(1e9, 0)
	g := newGuard[string](4)
	g.now = func() time.Time { return now }
	p := policy{free: 2, limit: 6, lockFor: time.Hour}
	for i, w := range []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, time.Hour} {
		d, locked := g.fail("a", p)
		if d != w || locked != (i == 5) {
			t.Fatalf("failure %d: %s %v, want %s", i+1, d, locked, w)
		}
	}
	if g.wait("a") != time.Hour || g.wait("b") != 0 {
		t.Error("wait")
	}
	now = now.Add(time.Hour)
	if d, _ := g.fail("a", p); d != 0 {
		t.Errorf("after a lock served, failures start afresh: %s", d)
	}
	g.succeed("a")
	if g.wait("a") != 0 || len(g.m) != 0 {
		t.Error("succeed does not forget")
	}
	for i := range 10 {
		g.fail(fmt.Sprint(i), p)
	}
	if len(g.m) > 4 {
		t.Errorf("%d keys kept, max 4", len(g.m))
	}
}

func TestRedirects(t *testing.T) {
	rg := newRig(t, &config.Portal{CookieDomain: ".Example.com"})
	for _, tc := range []struct{ rd, want string }{
		{"", ""},
		{"/orders?id=7", "/orders?id=7"},
		{"https://example.com/a", "https://example.com/a"},
		{"https://shop.example.com/a?b=c", "https://shop.example.com/a?b=c"},
		{"http://SHOP.example.com:8443/a", "http://SHOP.example.com:8443/a"},
		{"https://app.test/here", "https://app.test/here"}, // the login page's own host
		{"//evil.com/a", ""},
		{"///evil.com", ""},
		{"/\\evil.com", ""},
		{"https://evil.com/", ""},
		{"https://example.com.evil.com/", ""},
		{"https://evilexample.com/", ""},
		{"https://shop.example.com@evil.com/", ""},
		{"https://user:pw@shop.example.com/", ""},
		{"javascript:alert(1)", ""},
		{"data:text/html,hi", ""},
		{"ftp://shop.example.com/", ""},
		{"https:/shop.example.com", ""},
		{"https://shop.example.com/\r\nSet-Cookie:x", ""},
		{"/a b", ""},
		{"relative/path", ""},
		{"\t//evil.com", ""},
		{"https://evil.com\\.example.com/", ""},
		{"https://%65vil.com/", ""},
	} {
		r := httptest.NewRequest("GET", "https://app.test/.usher/login/", nil)
		got, ok := rg.p.checkRD(tc.rd, r)
		if got != tc.want || ok != (tc.want != "" || tc.rd == "") {
			t.Errorf("rd %q: %q %v, want %q", tc.rd, got, ok, tc.want)
		}
	}
	// A login with a bad rd goes to the login page, not there.
	f := rg.loginForm("http://app.test/.usher/login/?rd=https://evil.com/")
	if f.Get("rd") != "" {
		t.Errorf("the form keeps rd %q", f.Get("rd"))
	}
	f.Set("rd", "https://evil.com/")
	f.Set("username", "alice")
	f.Set("password", password)
	f.Set("code", rg.code(0))
	resp := rg.do("POST", "http://app.test/.usher/login/", f)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/.usher/login/" {
		t.Errorf("login with rd to evil.com: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestLoginHost(t *testing.T) {
	rg := newRig(t, &config.Portal{LoginURL: "https://login.example.com/auth/", CookieDomain: "example.com"})
	resp := rg.do("GET", "https://shop.example.com/cart?x=1", nil)
	want := "https://login.example.com/auth/?rd=" + url.QueryEscape("https://shop.example.com/cart?x=1")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
		t.Fatalf("%d %q, want %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	// The login path on another host is the app's.
	if resp := rg.do("GET", "https://shop.example.com/auth/", nil); resp.StatusCode != http.StatusFound {
		t.Errorf("/auth/ on the app's host: %d", resp.StatusCode)
	}
	f := rg.loginForm("https://login.example.com/auth/?rd=" + url.QueryEscape("https://shop.example.com/cart?x=1"))
	f.Set("username", "alice")
	f.Set("password", password)
	f.Set("code", rg.code(0))
	resp = rg.do("POST", "https://login.example.com/auth/", f)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://shop.example.com/cart?x=1" {
		t.Fatalf("login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := rg.do("GET", "https://shop.example.com/cart", nil); resp.StatusCode != 200 {
		t.Errorf("after login: %d", resp.StatusCode)
	}
	resp = rg.do("POST", "https://login.example.com/auth/logout", nil)
	if resp.Header.Get("Location") != "https://login.example.com/auth/" {
		t.Errorf("logout goes to %q", resp.Header.Get("Location"))
	}
	if resp := rg.do("GET", "https://login.example.com/auth", nil); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/auth/" {
		t.Errorf("/auth without its slash: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestAPIClients(t *testing.T) {
	rg := newRig(t, &config.Portal{})
	for _, hdr := range [][]string{{"Accept", "application/json"}, {"Authorization", "Bearer x"}, {"X-Requested-With", "XMLHttpRequest"}} {
		resp := rg.do("GET", "/api/orders", nil, hdr...)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 401 || resp.Header.Get("Location") != "" || !strings.Contains(string(b), `"login":"/.usher/login/"`) || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%v: %d %q %s", hdr, resp.StatusCode, resp.Header.Get("Location"), b)
		}
	}
	if resp := rg.do("GET", "/page", nil, "Accept", "text/html,*/*"); resp.StatusCode != http.StatusFound {
		t.Errorf("a browser: %d", resp.StatusCode)
	}
}

func TestCSRF(t *testing.T) {
	rg := newRig(t, &config.Portal{})
	f := rg.loginForm("/.usher/login/")
	f.Set("username", "alice")
	f.Set("password", password)
	f.Set("code", rg.code(0))
	good := f.Get("csrf")
	for _, tc := range []struct {
		name   string
		token  string
		cookie string
	}{
		{"no token", "", rg.jar["usher_portal_csrf"]},
		{"no cookie", good, ""},
		{"another browser's cookie", good, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"a forged token", "bm90IGEgdG9rZW4", rg.jar["usher_portal_csrf"]},
	} {
		jar := rg.jar
		rg.jar = map[string]string{}
		if tc.cookie != "" {
			rg.jar["usher_portal_csrf"] = tc.cookie
		}
		g := url.Values{}
		for k, v := range f {
			g[k] = v
		}
		g.Set("csrf", tc.token)
		if resp := rg.do("POST", "/.usher/login/", g); resp.StatusCode != http.StatusForbidden || rg.jar["usher_portal"] != "" {
			t.Errorf("%s: %d", tc.name, resp.StatusCode)
		}
		rg.jar = jar
	}
	if resp := rg.do("POST", "/.usher/login/", f); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the right token: %d", resp.StatusCode)
	}
}

func TestPageAndMethods(t *testing.T) {
	rg := newRig(t, &config.Portal{})
	resp := rg.do("GET", "/.usher/login/", nil)
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`<form method="post" action="/.usher/login/"`, `name="username"`, `name="password"`, `name="code"`, `name="rd"`, `href="/.usher/login/style.css"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(string(b), "<script") || regexp.MustCompile(`(src|href)="(https?:)?//`).Match(b) {
		t.Error("the page loads a script or something from elsewhere")
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", resp.Header)
	}
	if resp := rg.do("GET", "/.usher/login/style.css", nil); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("style.css: %d", resp.StatusCode)
	}
	if resp := rg.do("PUT", "/.usher/login/", nil); resp.StatusCode != 405 {
		t.Errorf("PUT: %d", resp.StatusCode)
	}
	if resp := rg.do("GET", "/.usher/login/nope", nil); resp.StatusCode != 404 {
		t.Errorf("unknown page: %d", resp.StatusCode)
	}
	big := url.Values{"username": {strings.Repeat("a", 20<<10)}}
	if resp := rg.do("POST", "/.usher/login/", big); resp.StatusCode != 400 {
		t.Errorf("a huge form: %d", resp.StatusCode)
	}
}

func TestCookieDomainOnlyWhereItHolds(t *testing.T) {
	rg := newRig(t, &config.Portal{CookieDomain: "example.com"})
	f := rg.loginForm("http://127.0.0.1/.usher/login/")
	f.Set("username", "alice")
	f.Set("password", password)
	f.Set("code", rg.code(0))
	resp := rg.do("POST", "http://127.0.0.1/.usher/login/", f)
	for _, c := range resp.Cookies() {
		if c.Name == "usher_portal" && c.Domain != "" {
			t.Errorf("a login on 127.0.0.1 sets a cookie for %s, which the browser would drop", c.Domain)
		}
	}
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("login: %d", resp.StatusCode)
	}
}
