package oidc

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/redisconn/redistest"
)

// site is usher's side: the middleware in front of a server that echoes
// what it was told about the user.
type site struct {
	t   testing.TB
	m   *middleware
	srv *httptest.Server
	op  *fakeOP
	mu  sync.Mutex
	now time.Time // the middleware's clock
}

func newSite(t testing.TB, op *fakeOP, tweak func(*config.OIDC)) *site {
	t.Helper()
	return newSiteEnv(t, op, tweak, env.Config{})
}

func newSiteEnv(t testing.TB, op *fakeOP, tweak func(*config.OIDC), ec env.Config) *site {
	t.Helper()
	cfg := &config.OIDC{Issuer: op.srv.URL, ClientID: testClient, ClientSecret: testSecret}
	if tweak != nil {
		tweak(cfg)
	}
	store := env.NewStore()
	t.Cleanup(store.Close)
	b := store.Begin()
	ctx := env.With(context.Background(), env.New(ec, b))
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Got-User", strings.Join(r.Header.Values("X-Forwarded-User"), "|"))
		w.Header().Set("Got-Email", strings.Join(r.Header.Values("X-Forwarded-Email"), "|"))
		w.Header().Set("Got-Groups", strings.Join(r.Header.Values("X-Forwarded-Groups"), "|"))
		w.Header().Set("Got-Cookie", r.Header.Get("Cookie"))
		io.WriteString(w, "app "+r.URL.RequestURI())
	})
	h, err := New(ctx, next, cfg, "sso")
	if err != nil {
		t.Fatal(err)
	}
	b.Commit()
	s := &site{t: t, m: h.(*middleware), op: op, now: time.Now()}
	s.m.now = func() time.Time { s.mu.Lock(); defer s.mu.Unlock(); return s.now }
	s.srv = httptest.NewServer(h)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *site) advance(d time.Duration) {
	s.mu.Lock()
	s.now = s.now.Add(d)
	s.mu.Unlock()
}

type browser struct {
	t   testing.TB
	jar *cookiejar.Jar
	c   *http.Client
}

func newBrowser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, jar: jar, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type answer struct {
	status int
	h      http.Header
	body   string
}

func (b *browser) do(method, u string, hdr ...string) answer {
	b.t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return answer{resp.StatusCode, resp.Header, string(body)}
}

func (b *browser) get(u string, hdr ...string) answer { b.t.Helper(); return b.do("GET", u, hdr...) }

// startLogin asks for path without a session and returns the provider's
// authorization URL it is sent to.
func (b *browser) startLogin(s *site, path string) string {
	b.t.Helper()
	a := b.get(s.srv.URL + path)
	if a.status != http.StatusFound {
		b.t.Fatalf("GET %s without a session: %d %q, want 302 to the provider", path, a.status, a.body)
	}
	return a.h.Get("Location")
}

// login goes through the whole login as sub and returns the callback's answer.
func (b *browser) login(s *site, path, sub, email string, extra map[string]any, tweak func(map[string]any)) answer {
	b.t.Helper()
	return b.get(s.op.approve(b.startLogin(s, path), sub, email, extra, tweak))
}

func TestLoginFlow(t *testing.T) {
	op := newFakeOP(t)
	s := newSite(t, op, nil)
	b := newBrowser(t)
	auth := b.startLogin(s, "/shop/cart?item=1")
	q, _ := url.Parse(auth)
	if got := q.Query().Get("redirect_uri"); got != s.srv.URL+"/oauth2/callback" {
		t.Fatalf("redirect_uri %q", got)
	}
	if sc := q.Query().Get("scope"); sc != "openid email" {
		t.Fatalf("scope %q", sc)
	}
	cb := op.approve(auth, "u1", "alice@example.com", map[string]any{"groups": []string{"staff", "ops"}}, nil)
	a := b.get(cb)
	if a.status != http.StatusSeeOther || a.h.Get("Location") != "/shop/cart?item=1" {
		t.Fatalf("callback: %d %q → %q", a.status, a.body, a.h.Get("Location"))
	}
	if sc := a.h.Values("Set-Cookie"); len(sc) != 2 || !strings.Contains(strings.Join(sc, "\n"), "HttpOnly") || !strings.Contains(strings.Join(sc, "\n"), "SameSite=Lax") {
		t.Fatalf("cookies: %q", sc)
	}
	// The email came only from userinfo: the ID token had none.
	a = b.get(s.srv.URL+"/shop/cart?item=1", "X-Forwarded-User", "mallory", "X-Forwarded-Groups", "admin")
	if a.status != 200 || a.body != "app /shop/cart?item=1" {
		t.Fatalf("with a session: %d %q", a.status, a.body)
	}
	if a.h.Get("Got-User") != "alice@example.com" || a.h.Get("Got-Email") != "alice@example.com" || a.h.Get("Got-Groups") != "staff,ops" {
		t.Fatalf("the server was told user %q email %q groups %q", a.h.Get("Got-User"), a.h.Get("Got-Email"), a.h.Get("Got-Groups"))
	}
	if strings.Contains(a.h.Get("Got-Cookie"), "_usher_oidc") {
		t.Fatalf("the server got usher's cookies: %q", a.h.Get("Got-Cookie"))
	}
	// The callback again (the code used, the login cookie gone): refused.
	if a := b.get(cb); a.status != http.StatusBadRequest {
		t.Fatalf("replayed callback: %d %q", a.status, a.body)
	}
	if op.exchanges != 1 {
		t.Fatalf("%d code exchanges, want 1", op.exchanges)
	}
}

func TestCallbackRefusals(t *testing.T) {
	op := newFakeOP(t)
	s := newSite(t, op, nil)
	for name, tc := range map[string]struct {
		change func(b *browser, cb string) string // the callback URL the browser follows
		tweak  func(map[string]any)               // the ID token's claims
		want   int
	}{
		"state of no login of this browser": {change: func(b *browser, cb string) string {
			return replaceParam(cb, "state", random())
		}, want: 400},
		"another browser's callback": {change: func(b *browser, cb string) string {
			*b = *newBrowser(t)
			return cb
		}, want: 400},
		"tampered login cookie": {change: func(b *browser, cb string) string {
			u, _ := url.Parse(cb)
			cs := b.jar.Cookies(u)
			for _, c := range cs {
				v := []byte(c.Value)
				v[len(v)/2] ^= 1
				c.Value = string(v)
				c.Path = "/oauth2/callback"
			}
			b.jar.SetCookies(u, cs)
			return cb
		}, want: 400},
		"state altered by one character": {change: func(b *browser, cb string) string {
			u, _ := url.Parse(cb)
			st := []byte(u.Query().Get("state"))
			st[len(st)-1] ^= 1
			return replaceParam(cb, "state", string(st))
		}, want: 400},
		"login expired": {change: func(b *browser, cb string) string {
			s.advance(loginTTL + time.Second)
			return cb
		}, want: 400},
		"provider says access_denied": {change: func(b *browser, cb string) string {
			u, _ := url.Parse(cb)
			return strings.Split(cb, "?")[0] + "?error=access_denied&state=" + u.Query().Get("state")
		}, want: 403},
		"no code":               {change: func(b *browser, cb string) string { return replaceParam(cb, "code", "") }, want: 400},
		"unknown code":          {change: func(b *browser, cb string) string { return replaceParam(cb, "code", "forged") }, want: 403},
		"nonce mismatch":        {tweak: func(c map[string]any) { c["nonce"] = "other" }, want: 403},
		"no nonce":              {tweak: func(c map[string]any) { delete(c, "nonce") }, want: 403},
		"wrong audience":        {tweak: func(c map[string]any) { c["aud"] = "other-client" }, want: 403},
		"wrong issuer":          {tweak: func(c map[string]any) { c["iss"] = "https://evil.example" }, want: 403},
		"expired ID token":      {tweak: func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }, want: 403},
		"no exp":                {tweak: func(c map[string]any) { delete(c, "exp") }, want: 403},
		"sub with a line break": {tweak: func(c map[string]any) { c["sub"] = "u1\r\nX-Admin: yes" }, want: 403},
		"azp of another":        {tweak: func(c map[string]any) { c["aud"] = []string{testClient, "x"}; c["azp"] = "x" }, want: 403},
	} {
		t.Run(name, func(t *testing.T) {
			s.mu.Lock()
			s.now = time.Now()
			s.mu.Unlock()
			b := newBrowser(t)
			cb := op.approve(b.startLogin(s, "/"), "u1", "alice@example.com", nil, tc.tweak)
			if tc.change != nil {
				cb = tc.change(b, cb)
			}
			a := b.get(cb)
			if a.status != tc.want {
				t.Fatalf("callback: %d %q, want %d", a.status, a.body, tc.want)
			}
			if a := b.get(s.srv.URL + "/"); a.status != http.StatusFound {
				t.Fatalf("after a refused login the browser has a session: %d", a.status)
			}
		})
	}
}

func replaceParam(raw, k, v string) string {
	u, _ := url.Parse(raw)
	q := u.Query()
	if v == "" {
		q.Del(k)
	} else {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func TestAuthorization(t *testing.T) {
	op := newFakeOP(t)
	type user struct {
		email  string
		extra  map[string]any
		tweak  func(map[string]any)
		status int
	}
	alice := user{email: "Alice@Example.com", extra: map[string]any{"groups": []string{"staff"}}}
	for name, tc := range map[string]struct {
		cfg   func(*config.OIDC)
		users []user
	}{
		"no restriction lets every user in": {nil, []user{{email: "x@y.z", status: 303}, {status: 303}}},
		"emails": {func(c *config.OIDC) { c.Emails = []string{"alice@example.com"} }, []user{
			{email: alice.email, status: 303}, {email: "bob@example.com", status: 403}, {status: 403},
			{email: "alice@example.com.evil.com", status: 403},
		}},
		"domains": {func(c *config.OIDC) { c.Domains = []string{"example.com"} }, []user{
			{email: "bob@example.com", status: 303}, {email: "bob@sub.example.com", status: 403},
			{email: "bob@notexample.com", status: 403}, {email: "bob@example.com@evil.com", status: 403},
			{email: "eve@evil.com", extra: map[string]any{"email": "eve@example.com", "email_verified": false}, status: 403},
		}},
		"groups": {func(c *config.OIDC) { c.Groups = []string{"staff"} }, []user{
			{email: "a@b.c", extra: map[string]any{"groups": []string{"ops", "staff"}}, status: 303},
			{email: "a@b.c", extra: map[string]any{"groups": "staff"}, status: 303},
			{email: "a@b.c", extra: map[string]any{"groups": []string{"Staff"}}, status: 403},
			{email: "a@b.c", extra: map[string]any{"groups": []string{"staff,ops"}}, status: 403},
			{email: "a@b.c", status: 403},
		}},
		"groups from a dotted claim": {func(c *config.OIDC) { c.Groups = []string{"admin"}; c.GroupsClaim = "realm_access.roles" }, []user{
			{extra: map[string]any{"realm_access": map[string]any{"roles": []string{"admin"}}}, status: 303},
			{extra: map[string]any{"groups": []string{"admin"}}, status: 403},
		}},
		"any one of the three": {func(c *config.OIDC) { c.Emails = []string{"z@z.z"}; c.Groups = []string{"staff"} }, []user{
			alice, {email: "z@z.z", status: 303}, {email: "q@q.q", status: 403},
		}},
	} {
		t.Run(name, func(t *testing.T) {
			s := newSite(t, op, tc.cfg)
			for i, u := range tc.users {
				if u.status == 0 {
					u.status = 303
				}
				b := newBrowser(t)
				a := b.login(s, "/", "u", u.email, u.extra, u.tweak)
				if a.status != u.status {
					t.Errorf("user %d (%s %v): %d %q, want %d", i, u.email, u.extra, a.status, a.body, u.status)
				}
				if a.status == 403 {
					if a := b.get(s.srv.URL + "/"); a.status != 302 {
						t.Errorf("user %d refused but has a session: %d", i, a.status)
					}
				}
			}
		})
	}
}

func TestSessionCookie(t *testing.T) {
	op := newFakeOP(t)
	s := newSite(t, op, func(c *config.OIDC) { c.SessionLifetime = ptr(config.Duration(time.Hour)) })
	other := newSite(t, op, nil) // another middleware, another purpose
	u, _ := url.Parse(s.srv.URL)
	loggedIn := func() *browser {
		b := newBrowser(t)
		if a := b.login(s, "/", "u1", "a@b.c", nil, nil); a.status != 303 {
			t.Fatalf("login: %d %q", a.status, a.body)
		}
		if a := b.get(s.srv.URL + "/"); a.status != 200 {
			t.Fatalf("with a session: %d", a.status)
		}
		return b
	}
	setCookie := func(b *browser, v string) {
		b.jar.SetCookies(u, []*http.Cookie{{Name: "_usher_oidc", Value: v, Path: "/"}})
	}
	cookie := func(b *browser) string {
		for _, c := range b.jar.Cookies(u) {
			if c.Name == "_usher_oidc" {
				return c.Value
			}
		}
		t.Fatal("no session cookie")
		return ""
	}
	for name, change := range map[string]func(b *browser){
		"tampered": func(b *browser) {
			v := []byte(cookie(b))
			v[10] ^= 1
			setCookie(b, string(v))
		},
		"truncated":       func(b *browser) { setCookie(b, cookie(b)[:30]) },
		"made up":         func(b *browser) { setCookie(b, random()) },
		"session expired": func(b *browser) { s.advance(time.Hour + time.Second) },
		"sealed for another middleware": func(b *browser) {
			setCookie(b, other.m.sealer.Seal(other.m.sealSession, []byte(random()), time.Now().Add(time.Hour)))
		},
		"logged out, cookie replayed": func(b *browser) {
			v := cookie(b)
			if a := b.get(s.srv.URL + "/oauth2/logout"); a.status != 302 {
				t.Fatalf("logout: %d", a.status)
			}
			setCookie(b, v)
		},
	} {
		t.Run(name, func(t *testing.T) {
			s.mu.Lock()
			s.now = time.Now()
			s.mu.Unlock()
			b := loggedIn()
			change(b)
			if a := b.get(s.srv.URL + "/"); a.status != http.StatusFound || !strings.HasPrefix(a.h.Get("Location"), op.srv.URL) {
				t.Fatalf("%d %q, want a redirect to the provider", a.status, a.body)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestAPIClientsGet401(t *testing.T) {
	op := newFakeOP(t)
	s := newSite(t, op, nil)
	b := newBrowser(t)
	for _, tc := range []struct {
		method string
		hdr    []string
	}{
		{"GET", []string{"Accept", "application/json"}},
		{"GET", []string{"Accept", "text/html;q=0.5, application/json"}},
		{"GET", []string{"Authorization", "Bearer x"}},
		{"GET", []string{"X-Requested-With", "XMLHttpRequest"}},
		{"GET", []string{"Sec-Fetch-Mode", "cors"}},
		{"GET", []string{"Sec-Fetch-Mode", "no-cors"}},
		{"POST", nil},
		{"DELETE", nil},
	} {
		a := b.do(tc.method, s.srv.URL+"/api", tc.hdr...)
		if a.status != 401 || a.h.Get("Location") != "" || len(a.h.Values("Set-Cookie")) != 0 {
			t.Errorf("%s %v: %d Location %q", tc.method, tc.hdr, a.status, a.h.Get("Location"))
		}
	}
	if a := b.get(s.srv.URL+"/page", "Accept", "text/html", "Sec-Fetch-Mode", "navigate"); a.status != 302 {
		t.Errorf("a browser: %d, want 302", a.status)
	}
}

func TestSafeReturn(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b?c=d":                      "/a/b?c=d",
		"/":                             "/",
		"":                              "/",
		"//evil.example/x":              "/",
		"/\\evil.example":               "/",
		"/a\\b":                         "/",
		"https://evil.example/":         "/",
		"evil.example":                  "/",
		"/%2F%2Fevil.example":           "/%2F%2Fevil.example",
		"/a\r\nLocation: x":             "/",
		"/\tx":                          "/",
		"///evil.example":               "/",
		"/" + strings.Repeat("a", 5000): "/",
	} {
		if got := safeReturn(in); got != want {
			t.Errorf("safeReturn(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpenRedirectAttempts(t *testing.T) {
	op := newFakeOP(t)
	s := newSite(t, op, nil)
	for _, path := range []string{"//evil.example/x", "/\\evil.example/x", "/%5Cevil.example"} {
		b := newBrowser(t)
		req, _ := http.NewRequest("GET", s.srv.URL+"/", nil)
		req.URL.Path, req.URL.RawPath = "", ""
		req.URL.Opaque = "//" + strings.TrimPrefix(s.srv.URL, "http://") + path
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 302 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		a := b.get(op.approve(resp.Header.Get("Location"), "u", "a@b.c", nil, nil))
		loc := a.h.Get("Location")
		if a.status != 303 || strings.HasPrefix(loc, "//") || strings.Contains(loc, "\\") || strings.Contains(loc, "://") {
			t.Errorf("after a login that began at %q: %d Location %q", path, a.status, loc)
		}
	}
	// A login begun at another host comes back only to hosts of cookieDomain.
	m := s.m
	m.cookieDomain = "example.com"
	r := httptest.NewRequest("GET", "http://auth.example.com/oauth2/callback", nil)
	for host, want := range map[string]string{
		"app.example.com":          "http://app.example.com/x",
		"example.com":              "http://example.com/x",
		"evil.com":                 "/",
		"example.com.evil.com":     "/",
		"evilexample.com":          "/",
		"app.example.com@evil.com": "/",
	} {
		if got := m.returnTo(r, &loginState{Host: host, Return: "/x"}); got != want {
			t.Errorf("returnTo(host %q) = %q, want %q", host, got, want)
		}
	}
}

func TestRefresh(t *testing.T) {
	op := newFakeOP(t)
	op.expires = 60
	s := newSite(t, op, nil)
	b := newBrowser(t)
	if a := b.login(s, "/", "u1", "a@b.c", map[string]any{"groups": []string{"staff"}}, nil); a.status != 303 {
		t.Fatalf("login: %d", a.status)
	}
	if a := b.get(s.srv.URL + "/"); a.status != 200 || op.refreshes != 0 {
		t.Fatalf("before the access token expires: %d, %d refreshes", a.status, op.refreshes)
	}
	s.advance(61 * time.Second)
	// Many requests at once: one refresh (the token is rotated: a second
	// use would be refused and end the session).
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Go(func() { codes[i] = b.get(s.srv.URL + "/").status })
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Fatalf("request %d at refresh: %d", i, c)
		}
	}
	if op.refreshes != 1 {
		t.Fatalf("%d refreshes, want 1", op.refreshes)
	}
	// The provider down: the session goes on, tried again later.
	s.advance(61 * time.Second)
	op.mu.Lock()
	op.tokenErr = 502
	op.mu.Unlock()
	if a := b.get(s.srv.URL + "/"); a.status != 200 {
		t.Fatalf("provider down at refresh: %d", a.status)
	}
	// The provider revokes the refresh token: the session ends.
	s.advance(31 * time.Second)
	op.mu.Lock()
	op.tokenErr = 0
	clear(op.refresh)
	op.mu.Unlock()
	if a := b.get(s.srv.URL + "/"); a.status != 302 {
		t.Fatalf("refresh refused: %d, want a new login", a.status)
	}
}

func TestLogout(t *testing.T) {
	op := newFakeOP(t)
	s := newSite(t, op, func(c *config.OIDC) { c.PostLogoutRedirectURL = "/bye" })
	b := newBrowser(t)
	b.login(s, "/", "u1", "a@b.c", nil, nil)
	a := b.get(s.srv.URL + "/oauth2/logout")
	loc, _ := url.Parse(a.h.Get("Location"))
	q := loc.Query()
	if a.status != 302 || !strings.HasPrefix(loc.String(), op.srv.URL+"/logout?") || q.Get("id_token_hint") == "" ||
		q.Get("client_id") != testClient || q.Get("post_logout_redirect_uri") != s.srv.URL+"/bye" {
		t.Fatalf("logout: %d → %q", a.status, loc)
	}
	if !strings.Contains(a.h.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("the session cookie is not cleared: %q", a.h.Get("Set-Cookie"))
	}
	if a := b.get(s.srv.URL + "/"); a.status != 302 {
		t.Fatalf("after logout: %d", a.status)
	}
}

func TestClientSecretPost(t *testing.T) {
	op := newFakeOP(t)
	op.authPost = true
	s := newSite(t, op, func(c *config.OIDC) { c.ClientAuthMethod = "client_secret_post" })
	b := newBrowser(t)
	if a := b.login(s, "/", "u1", "a@b.c", nil, nil); a.status != 303 {
		t.Fatalf("login with client_secret_post: %d %q", a.status, a.body)
	}
	// And basic where the provider wants post: refused by the provider.
	s2 := newSite(t, op, nil)
	if a := newBrowser(t).login(s2, "/", "u1", "a@b.c", nil, nil); a.status != 403 {
		t.Fatalf("basic where post is required: %d", a.status)
	}
}

func TestProviderDown(t *testing.T) {
	op := newFakeOP(t)
	op.srv.Close()
	s := newSite(t, op, nil)
	a := newBrowser(t).get(s.srv.URL + "/")
	if a.status != 503 || strings.Contains(a.body, "secret") {
		t.Fatalf("provider down: %d %q", a.status, a.body)
	}
}

// TestRedisSessions: two ushers on one Redis (and one key) share the
// sessions: a login at one is good at the other, a logout at one ends it
// at both; Redis down is 503, not a login.
func TestRedisSessions(t *testing.T) {
	srv := redistest.Start(t)
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rc.Close() })
	op := newFakeOP(t)
	redisStore := func(c *config.OIDC) { c.Store = "redis" }
	a := newSiteEnv(t, op, redisStore, env.Config{Redis: rc})
	b := newSiteEnv(t, op, redisStore, env.Config{Redis: rc})
	br := newBrowser(t)
	if ans := br.login(a, "/", "u1", "a@b.c", nil, nil); ans.status != 303 {
		t.Fatalf("login: %d %q", ans.status, ans.body)
	}
	if ans := br.get(b.srv.URL + "/x"); ans.status != 200 || ans.h.Get("Got-User") != "a@b.c" {
		t.Fatalf("at the other usher: %d %q", ans.status, ans.h.Get("Got-User"))
	}
	keys, _ := rc.Keys(context.Background(), "usher:oidc:sso:*").Result()
	if len(keys) != 1 {
		t.Fatalf("redis keys %q", keys)
	}
	u, _ := url.Parse(b.srv.URL)
	kept := br.jar.Cookies(u)
	if ans := br.get(a.srv.URL + "/oauth2/logout"); ans.status != 302 {
		t.Fatalf("logout: %d", ans.status)
	}
	for _, c := range kept {
		c.Path = "/"
	}
	br.jar.SetCookies(u, kept) // the cookie replayed after the logout
	if ans := br.get(b.srv.URL + "/x"); ans.status != 302 {
		t.Fatalf("after a logout at the other usher: %d", ans.status)
	}
	br2 := newBrowser(t)
	br2.login(a, "/", "u2", "c@d.e", nil, nil)
	srv.Stop()
	if ans := br2.get(b.srv.URL + "/"); ans.status != 503 {
		t.Fatalf("redis down: %d %q", ans.status, ans.body)
	}
	if _, err := New(context.Background(), http.NotFoundHandler(), &config.OIDC{Issuer: op.srv.URL, ClientID: "x", Store: "redis"}, "n"); err == nil {
		t.Fatal("store redis without a redis section was accepted")
	}
}

// TestUserinfoDown: without restrictions a login goes on with the ID
// token's claims; with them, it cannot be checked: 503.
func TestUserinfoDown(t *testing.T) {
	op := newFakeOP(t)
	op.uiDown = true
	open := newSite(t, op, nil)
	if a := newBrowser(t).login(open, "/", "u1", "a@b.c", nil, nil); a.status != 303 {
		t.Fatalf("no restrictions: %d %q", a.status, a.body)
	}
	strict := newSite(t, op, func(c *config.OIDC) { c.Domains = []string{"b.c"} })
	if a := newBrowser(t).login(strict, "/", "u1", "a@b.c", nil, nil); a.status != 503 {
		t.Fatalf("domains, userinfo down: %d %q", a.status, a.body)
	}
}
