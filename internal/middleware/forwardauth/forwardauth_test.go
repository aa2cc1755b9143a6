package forwardauth

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/observe"
)

// authServer is a real auth server on loopback, as the people who run one
// write it. What it answers depends on the request's credential:
//   - Authorization: Bearer good (or a cookie session=good): 200, with
//     X-User: alice, X-Auth-Role: admin and X-Other: kept-out, and the
//     Cache-Control of its query's cc, if any, and the cookies of its query's
//     setcookie;
//   - Bearer slow: blocks until release is closed or the request ends;
//   - Bearer fail: 500 with a body;
//   - Bearer big: a 403 with a body over maxAnswerBody;
//   - Bearer cut: a response whose connection closes mid-body;
//   - anything else: 302 to its login page, a cookie and a small page, or a
//     401 with WWW-Authenticate for a client that says Accept: application/json.
type authServer struct {
	*httptest.Server
	hits    atomic.Int64
	release chan struct{}
	mu      sync.Mutex
	seen    []seen
}

type seen struct {
	method string
	header http.Header
	body   string
}

func newAuthServer(t *testing.T) *authServer {
	t.Helper()
	a := &authServer{release: make(chan struct{})}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(func() {
		select {
		case <-a.release:
		default:
			close(a.release)
		}
		a.Close()
	})
	return a
}

func (a *authServer) serve(w http.ResponseWriter, r *http.Request) {
	a.hits.Add(1)
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.seen = append(a.seen, seen{r.Method, r.Header.Clone(), string(body)})
	a.mu.Unlock()
	q := r.URL.Query()
	switch auth := r.Header.Get("Authorization"); {
	case auth == "Bearer good" || strings.Contains(r.Header.Get("Cookie"), "session=good"):
		h := w.Header()
		h.Set("X-User", "alice")
		h.Set("X-Auth-Role", "admin")
		h.Set("X-Other", "kept-out")
		if cc := q.Get("cc"); cc != "" {
			h.Set("Cache-Control", cc)
		}
		for _, c := range q["setcookie"] {
			h.Add("Set-Cookie", c)
		}
		io.WriteString(w, "ok")
	case auth == "Bearer slow":
		select {
		case <-a.release:
		case <-r.Context().Done():
		}
		if cc := q.Get("cc"); cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		w.WriteHeader(http.StatusOK)
	case auth == "Bearer fail":
		http.Error(w, "auth database down", http.StatusInternalServerError)
	case auth == "Bearer big":
		w.WriteHeader(http.StatusForbidden)
		w.Write(bytes.Repeat([]byte("x"), maxAnswerBody+10))
	case auth == "Bearer cut":
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "short")
		c, _, _ := http.NewResponseController(w).Hijack()
		c.Close()
	case r.Header.Get("Accept") == "application/json":
		w.Header().Set("WWW-Authenticate", `Bearer realm="shop"`)
		if cc := q.Get("cc"); cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
	default:
		w.Header().Set("Location", "https://login.example.com/?rd="+r.Header.Get("X-Forwarded-Host")+r.Header.Get("X-Forwarded-Uri"))
		w.Header().Set("Set-Cookie", "csrf=123; Path=/; HttpOnly")
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusFound)
		io.WriteString(w, "<a href=https://login.example.com/>login</a>")
	}
}

func (a *authServer) last(t *testing.T) seen {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) == 0 {
		t.Fatal("the auth server got no request")
	}
	return a.seen[len(a.seen)-1]
}

// upstream is what the middleware lets through to: it records what it got.
type upstream struct {
	mu    sync.Mutex
	calls int
	hdr   http.Header
	body  string
	rec   observe.Record
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.calls++
	u.hdr = r.Header.Clone()
	u.body = string(body)
	if rec := observe.From(w); rec != nil {
		u.rec = *rec
	}
	u.mu.Unlock()
	w.Header().Add("Set-Cookie", "session=from-server")
	w.Header().Add("Set-Cookie", "keep=1")
	io.WriteString(w, "app")
}

func (u *upstream) got() (int, http.Header, string, observe.Record) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls, u.hdr, u.body, u.rec
}

// setup is a forwardAuth with cfg in front of an upstream, served on
// loopback; the client sends what the entrypoint would have let through.
type setup struct {
	url     string
	up      *upstream
	metrics *observe.Metrics
	logs    *lockedBuffer
	fa      *forwardAuth
}

func newSetup(t *testing.T, cfg *config.ForwardAuth) *setup {
	t.Helper()
	return newSetupWith(t, cfg, nil)
}

// newSetupWith is newSetup with next in front of the upstream, when not nil.
func newSetupWith(t *testing.T, cfg *config.ForwardAuth, next func(up http.Handler) http.Handler) *setup {
	t.Helper()
	s := &setup{up: &upstream{}, metrics: observe.NewMetrics(), logs: &lockedBuffer{}}
	var inner http.Handler = s.up
	if next != nil {
		inner = next(s.up)
	}
	log := slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := env.With(context.Background(), env.New(env.Config{Log: log, Metrics: s.metrics}, nil))
	h, err := New(ctx, inner, cfg, "fwd")
	if err != nil {
		t.Fatal(err)
	}
	s.fa = h.(*forwardAuth)
	t.Cleanup(s.fa.client.rt.CloseIdleConnections)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := observe.NewRecorder(w)
		h.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// lockedBuffer is a log's output, written by the requests' goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (s *setup) logText() string {
	s.logs.mu.Lock()
	defer s.logs.mu.Unlock()
	return s.logs.buf.String()
}

func (s *setup) decisions(result string) float64 {
	return testutil.ToFloat64(s.metrics.Decision("forwardAuth", "fwd", result).Counter())
}

// do sends a request with the given header fields ("K: V" each) and returns
// the response and its body.
func do(t *testing.T, method, url string, body io.Reader, fields ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, ": ")
		req.Header.Add(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestAllowCopiesTheAnswersHeadersAndNoForgedOnes(t *testing.T) {
	auth := newAuthServer(t)
	s := newSetup(t, &config.ForwardAuth{
		Address:                  auth.URL + "/check",
		AuthResponseHeaders:      []string{"x-user"},
		AuthResponseHeadersRegex: "^X-Auth-",
		HeaderField:              "X-User",
	})
	resp, body := do(t, "GET", s.url+"/app?x=1", nil,
		"Authorization: Bearer good", "X-User: mallory", "X-Auth-Role: root", "X-Auth-Forged: yes")
	if resp.StatusCode != 200 || body != "app" {
		t.Fatalf("status %d body %q, want the server's 200", resp.StatusCode, body)
	}
	calls, hdr, _, rec := s.up.got()
	if calls != 1 {
		t.Fatalf("server called %d times", calls)
	}
	if got := hdr["X-User"]; !slices.Equal(got, []string{"alice"}) {
		t.Errorf("server got X-User %q, want the auth server's [alice]", got)
	}
	if got := hdr["X-Auth-Role"]; !slices.Equal(got, []string{"admin"}) {
		t.Errorf("server got X-Auth-Role %q, want [admin]", got)
	}
	if got, ok := hdr["X-Auth-Forged"]; ok {
		t.Errorf("a client's field matching the regexp reached the server: %q", got)
	}
	if got, ok := hdr["X-Other"]; ok {
		t.Errorf("a field of the answer not asked for reached the server: %q", got)
	}
	if got := hdr.Get("Authorization"); got != "Bearer good" {
		t.Errorf("the server lost the client's Authorization: %q", got)
	}
	if rec.Identity == nil || rec.Identity.User != "alice" || rec.Identity.Middleware != "fwd" {
		t.Errorf("identity %+v, want alice by fwd", rec.Identity)
	}
	if s.decisions("allow") != 1 {
		t.Errorf("allow counted %v", s.decisions("allow"))
	}

	// A client whose answer does not carry the field still cannot forge it.
	auth2 := newAuthServer(t)
	s2 := newSetup(t, &config.ForwardAuth{Address: auth2.URL, AuthResponseHeaders: []string{"X-Forwarded-User"}})
	do(t, "GET", s2.url, nil, "Authorization: Bearer good", "X-Forwarded-User: admin")
	if _, hdr, _, _ := s2.up.got(); hdr["X-Forwarded-User"] != nil {
		t.Errorf("a forged field absent from the answer reached the server: %q", hdr["X-Forwarded-User"])
	}
}

func TestRefusalsGoToTheClientAsTheAuthServerSentThem(t *testing.T) {
	auth := newAuthServer(t)
	s := newSetup(t, &config.ForwardAuth{Address: auth.URL + "/check"})

	resp, body := do(t, "GET", s.url+"/orders?id=7", nil, "Host: shop.example.com")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want the auth server's 302", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "https://login.example.com/?rd=") || !strings.HasSuffix(loc, "/orders?id=7") {
		t.Errorf("Location %q, want the login page as the auth server wrote it", loc)
	}
	if c := resp.Header.Get("Set-Cookie"); c != "csrf=123; Path=/; HttpOnly" {
		t.Errorf("Set-Cookie %q", c)
	}
	if body != "<a href=https://login.example.com/>login</a>" || resp.Header.Get("Content-Type") != "text/html" {
		t.Errorf("body %q type %q", body, resp.Header.Get("Content-Type"))
	}

	resp, body = do(t, "GET", s.url+"/api", nil, "Accept: application/json")
	if resp.StatusCode != 401 || resp.Header.Get("Www-Authenticate") != `Bearer realm="shop"` || !strings.Contains(body, "unauthorized") {
		t.Errorf("401: status %d, WWW-Authenticate %q, body %q", resp.StatusCode, resp.Header.Get("Www-Authenticate"), body)
	}
	// The auth server's own failure is its answer too, but counted as one.
	resp, body = do(t, "GET", s.url, nil, "Authorization: Bearer fail")
	if resp.StatusCode != 500 || !strings.Contains(body, "auth database down") {
		t.Errorf("500: status %d body %q", resp.StatusCode, body)
	}
	if calls, _, _, _ := s.up.got(); calls != 0 {
		t.Errorf("the server was called %d times for refused requests", calls)
	}
	if s.decisions("deny") != 2 || s.decisions("error") != 1 {
		t.Errorf("deny %v error %v, want 2 and 1", s.decisions("deny"), s.decisions("error"))
	}
}

func TestWhatTheAuthServerGets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    config.ForwardAuth
		fields []string
		want   map[string]string // "" = absent
	}{
		{
			name: "this hop, all fields",
			fields: []string{
				"X-Forwarded-For: 198.51.100.1, 10.0.0.2", "X-Forwarded-Proto: https", "X-Forwarded-Host: shop.example.com",
				"X-Forwarded-Method: GET", "X-Forwarded-Uri: /elsewhere", "X-Real-Ip: 198.51.100.1",
				"Authorization: Basic YTpi", "Cookie: a=b", "Accept-Encoding: gzip", "If-None-Match: \"x\"",
				"Range: bytes=0-1", "X-Custom: yes", "X-Forwarded-Body-Truncated: false",
			},
			want: map[string]string{
				"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Method": "POST",
				"X-Forwarded-Uri": "/p/a?q=1", "X-Real-Ip": "127.0.0.1", "Authorization": "Basic YTpi",
				"Cookie": "a=b", "X-Custom": "yes", "If-None-Match": "", "Range": "", "X-Forwarded-Body-Truncated": "",
				"Accept-Encoding": "gzip", // Go's own, for the transparent decompression; not the client's
			},
		},
		{
			name: "trusted proxy's values",
			cfg:  config.ForwardAuth{TrustForwardHeader: true},
			fields: []string{
				"X-Forwarded-For: 198.51.100.1, 10.0.0.2", "X-Forwarded-Proto: https", "X-Forwarded-Host: shop.example.com",
				"X-Forwarded-Port: 443", "X-Forwarded-Method: DELETE", "X-Forwarded-Uri: /orig", "X-Real-Ip: 198.51.100.1",
			},
			want: map[string]string{
				"X-Forwarded-For": "198.51.100.1, 10.0.0.2", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example.com",
				"X-Forwarded-Port": "443", "X-Forwarded-Method": "DELETE", "X-Forwarded-Uri": "/orig", "X-Real-Ip": "198.51.100.1",
			},
		},
		{
			name:   "listed fields only",
			cfg:    config.ForwardAuth{AuthRequestHeaders: []string{"authorization", "Connection"}},
			fields: []string{"Authorization: Bearer good", "Cookie: a=b", "X-Custom: yes"},
			want: map[string]string{
				"Authorization": "Bearer good", "Cookie": "", "X-Custom": "", "X-Forwarded-Method": "POST", "X-Forwarded-Uri": "/p/a?q=1",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth := newAuthServer(t)
			cfg := tc.cfg
			cfg.Address = auth.URL + "/check?group=admins"
			s := newSetup(t, &cfg)
			resp, _ := do(t, "POST", s.url+"/p/a?q=1", strings.NewReader("the body"), tc.fields...)
			got := auth.last(t)
			if got.method != "GET" || got.body != "" {
				t.Errorf("asked with %s and body %q, want GET without one", got.method, got.body)
			}
			for k, want := range tc.want {
				if v := strings.Join(got.header.Values(k), ", "); v != want {
					t.Errorf("%s = %q, want %q", k, v, want)
				}
			}
			if host := got.header.Get("X-Forwarded-Host"); tc.want["X-Forwarded-Host"] == "" && host != strings.TrimPrefix(s.url, "http://") {
				t.Errorf("X-Forwarded-Host %q, want the request's Host", host)
			}
			if _, _, body, _ := s.up.got(); resp.StatusCode == 200 && body != "the body" {
				t.Errorf("the server got body %q", body)
			}
		})
	}
}

func TestPreserveRequestMethod(t *testing.T) {
	auth := newAuthServer(t)
	s := newSetup(t, &config.ForwardAuth{Address: auth.URL, PreserveRequestMethod: true})
	do(t, "DELETE", s.url, nil, "Authorization: Bearer good")
	if m := auth.last(t).method; m != "DELETE" {
		t.Errorf("asked with %s, want DELETE", m)
	}
}

func TestBodyUpToMaxBodySize(t *testing.T) {
	auth := newAuthServer(t)
	s := newSetup(t, &config.ForwardAuth{Address: auth.URL, MaxBodySize: 16})
	for _, tc := range []struct {
		name      string
		body      string
		chunked   bool
		authGets  string
		truncated bool
	}{
		{"short", "0123456789", false, "0123456789", false},
		{"exactly", "0123456789abcdef", false, "0123456789abcdef", false},
		{"exactly, chunked", "0123456789abcdef", true, "0123456789abcdef", false},
		{"longer", strings.Repeat("0123456789", 10), false, "0123456789012345", true},
		{"longer, chunked", strings.Repeat("0123456789", 10), true, "0123456789012345", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body) // no length known: sent chunked
			}
			resp, _ := do(t, "POST", s.url, body, "Authorization: Bearer good")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			got := auth.last(t)
			if got.body != tc.authGets {
				t.Errorf("the auth server got %q, want %q", got.body, tc.authGets)
			}
			if tr := got.header.Get("X-Forwarded-Body-Truncated"); (tr == "true") != tc.truncated {
				t.Errorf("X-Forwarded-Body-Truncated %q, want it set: %v", tr, tc.truncated)
			}
			if _, _, whole, _ := s.up.got(); whole != tc.body {
				t.Errorf("the server got %q, want the whole body %q", whole, tc.body)
			}
		})
	}
}

func TestFailsClosed(t *testing.T) {
	auth := newAuthServer(t)
	s := newSetup(t, &config.ForwardAuth{Address: auth.URL, Timeout: config.Duration(300 * time.Millisecond)})
	for _, tc := range []struct {
		name, auth string
	}{
		{"slow", "Authorization: Bearer slow"},
		{"answer too large", "Authorization: Bearer big"},
		{"cut mid-answer", "Authorization: Bearer cut"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			resp, body := do(t, "GET", s.url, nil, tc.auth)
			took := time.Since(start)
			if resp.StatusCode != 503 || !strings.Contains(body, "authentication service") {
				t.Fatalf("status %d body %q, want usher's 503", resp.StatusCode, body)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("503 without Cache-Control: no-store")
			}
			if tc.name == "slow" && (took < 300*time.Millisecond || took > 2*time.Second) {
				t.Errorf("503 after %v, want it at the 300ms timeout", took)
			}
		})
	}
	if calls, _, _, _ := s.up.got(); calls != 0 {
		t.Fatalf("a request the auth server did not allow reached the server (%d)", calls)
	}
	if s.decisions("error") != 3 {
		t.Errorf("error counted %v, want 3", s.decisions("error"))
	}
	if log := s.logText(); !strings.Contains(log, "no answer within the timeout") || !strings.Contains(log, "authentication server failed") {
		t.Errorf("the failure is not logged with its reason:\n%s", log)
	}
	if strings.Contains(s.logText(), "Bearer") {
		t.Errorf("a credential reached the log:\n%s", s.logText())
	}
}

func TestUnreachableFailsFastAndRecovers(t *testing.T) {
	defer func(p time.Duration) { probeEvery = p }(probeEvery)
	probeEvery = 200 * time.Millisecond
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connections are refused

	s := newSetup(t, &config.ForwardAuth{Address: "http://" + addr + "/check"})
	resp, _ := do(t, "GET", s.url, nil, "Authorization: Bearer good")
	if resp.StatusCode != 503 {
		t.Fatalf("status %d with the auth server down, want 503", resp.StatusCode)
	}
	if !strings.Contains(s.logText(), "unreachable") || !strings.Contains(s.logText(), "connection refused") {
		t.Errorf("log does not say why:\n%s", s.logText())
	}

	// The auth server comes back on its address.
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken in between: %v", err)
	}
	auth := &authServer{release: make(chan struct{})}
	auth.Server = httptest.NewUnstartedServer(http.HandlerFunc(auth.serve))
	auth.Listener.Close()
	auth.Listener = l
	auth.Start()
	defer auth.Close()

	// Within probeEvery of the failure, requests are answered at once without
	// trying (an unreachable address is not dialed by every request).
	resp, _ = do(t, "GET", s.url, nil, "Authorization: Bearer good")
	if resp.StatusCode != 503 || auth.hits.Load() != 0 {
		t.Fatalf("status %d, auth server hit %d times, right after the failure; want 503 without a try", resp.StatusCode, auth.hits.Load())
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ = do(t, "GET", s.url, nil, "Authorization: Bearer good")
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never recovered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if auth.hits.Load() != 1 {
		t.Errorf("auth server hit %d times to recover, want 1 (one probe)", auth.hits.Load())
	}
}

func TestAuthCookiesReplaceTheServersOfTheSameName(t *testing.T) {
	auth := newAuthServer(t)
	s := newSetup(t, &config.ForwardAuth{
		Address:                  auth.URL + "/?setcookie=session%3Dfrom-auth%3B%20HttpOnly&setcookie=other%3Dx",
		AddAuthCookiesToResponse: []string{"session"},
	})
	resp, _ := do(t, "GET", s.url, nil, "Authorization: Bearer good")
	got := resp.Header.Values("Set-Cookie")
	want := []string{"keep=1", "session=from-auth; HttpOnly"}
	if !slices.Equal(got, want) {
		t.Errorf("Set-Cookie %q, want %q", got, want)
	}
}

func TestNewRefusesBadSettings(t *testing.T) {
	for _, tc := range []struct {
		cfg  config.ForwardAuth
		want string
	}{
		{config.ForwardAuth{}, "forwardAuth: address is required"},
		{config.ForwardAuth{Address: "ftp://a/"}, "not an http:// or https:// URL"},
		{config.ForwardAuth{Address: "http://u:secret@a/"}, "user:password@"},
		{config.ForwardAuth{Address: "http://a/", AuthResponseHeaders: []string{"Content-Length"}}, "cannot be copied"},
		{config.ForwardAuth{Address: "http://a/", AuthResponseHeadersRegex: "("}, "authResponseHeadersRegex"},
		{config.ForwardAuth{Address: "http://a/", HeaderField: "a b"}, "headerField"},
		{config.ForwardAuth{Address: "http://a/", AddAuthCookiesToResponse: []string{"a;b"}}, "cookie name"},
		{config.ForwardAuth{Address: "http://a/", TLS: &config.ClientTLS{CA: "/nonexistent"}}, "tls.ca"},
		{config.ForwardAuth{Address: "http://a/", MaxBodySize: -1}, "negative"},
	} {
		_, err := New(context.Background(), http.NotFoundHandler(), &tc.cfg, "x")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

func TestTLSToTheAuthServer(t *testing.T) {
	auth := &authServer{release: make(chan struct{})}
	auth.Server = httptest.NewUnstartedServer(http.HandlerFunc(auth.serve))
	auth.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	auth.StartTLS()
	defer auth.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: auth.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	trusted := newSetup(t, &config.ForwardAuth{Address: auth.URL, TLS: &config.ClientTLS{CA: ca}})
	if resp, _ := do(t, "GET", trusted.url, nil, "Authorization: Bearer good"); resp.StatusCode != 200 {
		t.Errorf("with the auth server's CA: status %d, want 200", resp.StatusCode)
	}
	unknown := newSetup(t, &config.ForwardAuth{Address: auth.URL})
	if resp, _ := do(t, "GET", unknown.url, nil, "Authorization: Bearer good"); resp.StatusCode != 503 {
		t.Errorf("with a certificate of no known CA: status %d, want 503", resp.StatusCode)
	}
	if !strings.Contains(unknown.logText(), "certificate") {
		t.Errorf("the log does not say why:\n%s", unknown.logText())
	}
	skip := newSetup(t, &config.ForwardAuth{Address: auth.URL, TLS: &config.ClientTLS{InsecureSkipVerify: true}})
	if resp, _ := do(t, "GET", skip.url, nil, "Authorization: Bearer good"); resp.StatusCode != 200 {
		t.Errorf("insecureSkipVerify: status %d, want 200", resp.StatusCode)
	}
	if h := auth.last(t).header; h.Get("X-Forwarded-Proto") != "http" {
		t.Errorf("X-Forwarded-Proto %q: the client's scheme, not the auth server's", h.Get("X-Forwarded-Proto"))
	}
}
