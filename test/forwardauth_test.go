package test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testAuthServer is an auth server as people run one behind forwardAuth: it
// checks a bearer token, sends browsers without one to its login page,
// answers slowly or fails on demand, and says how long its answers hold
// (Cache-Control from the path it is asked on).
type testAuthServer struct {
	url     string
	hits    atomic.Int64
	release chan struct{}
	mu      sync.Mutex
	last    http.Header
	body    string
}

func startAuthServer(t *testing.T) *testAuthServer {
	t.Helper()
	a := &testAuthServer{release: make(chan struct{})}
	s := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		a.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.last, a.body = r.Header.Clone(), string(body)
		a.mu.Unlock()
		if cc := strings.TrimPrefix(r.URL.Path, "/cc/"); cc != r.URL.Path {
			w.Header().Set("Cache-Control", strings.ReplaceAll(cc, "_", ", "))
		}
		switch r.Header.Get("Authorization") {
		case "Bearer alice-token":
			w.Header().Set("X-User", "alice")
			if r.URL.Path == "/check" { // a cookie makes an answer one not to keep
				w.Header().Set("Set-Cookie", "session=renewed; Path=/; HttpOnly")
			}
			w.WriteHeader(http.StatusNoContent)
		case "Bearer slow":
			select {
			case <-a.release:
			case <-r.Context().Done():
			}
		default:
			rd := "https://" + r.Header.Get("X-Forwarded-Host") + r.Header.Get("X-Forwarded-Uri")
			w.Header().Set("Location", "https://login.example.com/?rd="+rd)
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusFound)
			io.WriteString(w, "<a href=https://login.example.com/>log in</a>")
		}
	})
	t.Cleanup(func() { close(a.release) })
	a.url = s.URL
	return a
}

func (a *testAuthServer) lastRequest() (http.Header, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last, a.body
}

// send does one request through usher, never following redirects.
func send(t *testing.T, method, url string, body io.Reader, fields ...string) (*http.Response, string) {
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
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// The key is written "address" in quotes so that the harness counts only the
// listeners' addresses.
const forwardAuthTpl = `
accessLog: { path: "{{log}}", format: json }
admin: { address: "127.0.0.1:0" }
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    app:    { rule: "PathPrefix(` + "`/`" + `)", middlewares: [fwd], service: app }
    upload: { rule: "PathPrefix(` + "`/upload`" + `)", middlewares: [fwd-body], service: app }
    down:   { rule: "PathPrefix(` + "`/down`" + `)", middlewares: [fwd-down], service: app }
    slow:   { rule: "PathPrefix(` + "`/slow`" + `)", middlewares: [fwd-slow], service: app }
    cached: { rule: "PathPrefix(` + "`/cached`" + `)", middlewares: [fwd-cached], service: app }
    nostore: { rule: "PathPrefix(` + "`/nostore`" + `)", middlewares: [fwd-nostore], service: app }
  middlewares:
    fwd:
      forwardAuth:
        "address": "{{auth}}/check"
        trustForwardHeader: true
        authResponseHeaders: [X-User, X-Groups]
        headerField: X-User
        addAuthCookiesToResponse: [session]
    fwd-body:    { forwardAuth: { "address": "{{auth}}/check", maxBodySize: 8 } }
    fwd-down:    { forwardAuth: { "address": "http://{{downAddr}}/check" } }
    fwd-slow:    { forwardAuth: { "address": "{{auth}}/check", timeout: 300ms } }
    fwd-cached:  { forwardAuth: { "address": "{{auth}}/cc/max-age=60", cache: {} } }
    fwd-nostore: { forwardAuth: { "address": "{{auth}}/cc/no-store_max-age=60", cache: {} } }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`

func TestForwardAuthThroughUsher(t *testing.T) {
	auth := startAuthServer(t)
	be, seen := recordingBackend(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downAddr := ln.Addr().String()
	ln.Close() // nothing listens there: the auth server is down
	logPath := filepath.Join(t.TempDir(), "access.log")
	u := startUsher(t, config(forwardAuthTpl, "auth", auth.url, "be", be, "downAddr", downAddr, "log", logPath))
	web := u.url("web")

	t.Run("allowed, with the auth server's user and cookie, never the client's forgeries", func(t *testing.T) {
		resp, body := send(t, "GET", web+"/orders?id=7", nil,
			"Authorization: Bearer alice-token", "X-User: admin", "X-Groups: wheel", "X-Forwarded-Method: DELETE")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("status %d body %q, want the server's 200", resp.StatusCode, body)
		}
		got := next(t, seen)
		if v := got.h.Values("X-User"); len(v) != 1 || v[0] != "alice" {
			t.Errorf("server got X-User %q, want only the auth server's alice", v)
		}
		if v := got.h.Values("X-Groups"); len(v) != 0 {
			t.Errorf("server got the client's X-Groups %q, which the auth server did not send", v)
		}
		if c := resp.Header.Values("Set-Cookie"); len(c) != 1 || c[0] != "session=renewed; Path=/; HttpOnly" {
			t.Errorf("client got Set-Cookie %q, want the auth server's session", c)
		}
		h, _ := auth.lastRequest()
		// The client is not a trusted proxy: its X-Forwarded-Method went at
		// the entrypoint, even with trustForwardHeader.
		for k, want := range map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/orders?id=7",
			"X-Forwarded-Proto": "http", "X-Forwarded-For": "127.0.0.1", "Authorization": "Bearer alice-token"} {
			if v := h.Get(k); v != want {
				t.Errorf("auth server got %s %q, want %q", k, v, want)
			}
		}
		if h.Get("X-Forwarded-Host") != strings.TrimPrefix(web, "http://") {
			t.Errorf("auth server got X-Forwarded-Host %q", h.Get("X-Forwarded-Host"))
		}
	})

	t.Run("denied: the auth server's 302 and Location reach the client", func(t *testing.T) {
		resp, body := send(t, "GET", web+"/orders?id=7", nil)
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("status %d, want 302", resp.StatusCode)
		}
		if want := "https://login.example.com/?rd=https://" + strings.TrimPrefix(web, "http://") + "/orders?id=7"; resp.Header.Get("Location") != want {
			t.Errorf("Location %q, want %q", resp.Header.Get("Location"), want)
		}
		if !strings.Contains(body, "log in") {
			t.Errorf("body %q, want the auth server's page", body)
		}
		select {
		case r := <-seen:
			t.Fatalf("a denied request reached the server: %s", r.target)
		default:
		}
	})

	t.Run("a body up to maxBodySize for the auth server, all of it for the server", func(t *testing.T) {
		whole := "0123456789abcdefghij"
		resp, _ := send(t, "POST", web+"/upload", strings.NewReader(whole), "Authorization: Bearer alice-token")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		h, body := auth.lastRequest()
		if body != "01234567" || h.Get("X-Forwarded-Body-Truncated") != "true" {
			t.Errorf("auth server got %q (truncated: %q), want the first 8 bytes, said to be cut", body, h.Get("X-Forwarded-Body-Truncated"))
		}
		if got := next(t, seen); got.body != int64(len(whole)) {
			t.Errorf("server got %d body bytes, want all %d", got.body, len(whole))
		}
		send(t, "POST", web+"/upload", strings.NewReader("short"), "Authorization: Bearer alice-token")
		if _, body := auth.lastRequest(); body != "short" {
			t.Errorf("auth server got %q, want the whole short body", body)
		}
		if got := next(t, seen); got.body != 5 {
			t.Errorf("server got %d body bytes, want 5", got.body)
		}
	})

	t.Run("auth server down: 503, never through", func(t *testing.T) {
		resp, _ := send(t, "GET", web+"/down", nil, "Authorization: Bearer alice-token")
		if resp.StatusCode != 503 {
			t.Fatalf("status %d, want 503", resp.StatusCode)
		}
		u.awaitLogMsg("authentication server failed; the request got 503")
	})

	t.Run("auth server slow: 503 at the timeout", func(t *testing.T) {
		start := time.Now()
		resp, _ := send(t, "GET", web+"/slow", nil, "Authorization: Bearer slow")
		took := time.Since(start)
		if resp.StatusCode != 503 {
			t.Fatalf("status %d, want 503", resp.StatusCode)
		}
		if took < 300*time.Millisecond || took > 3*time.Second {
			t.Errorf("503 after %v, want it at the 300ms timeout", took)
		}
	})

	t.Run("cache: one question for many requests; no-store honoured", func(t *testing.T) {
		before := auth.hits.Load()
		for range 5 {
			if resp, _ := send(t, "GET", web+"/cached", nil, "Authorization: Bearer alice-token"); resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			next(t, seen)
		}
		if n := auth.hits.Load() - before; n != 1 {
			t.Errorf("the auth server was asked %d times for 5 requests, want 1", n)
		}
		before = auth.hits.Load()
		for range 3 {
			send(t, "GET", web+"/nostore", nil, "Authorization: Bearer alice-token")
			next(t, seen)
		}
		if n := auth.hits.Load() - before; n != 3 {
			t.Errorf("the auth server was asked %d times for 3 requests with no-store, want 3", n)
		}
	})

	t.Run("decisions are counted, the user logged, no credential anywhere", func(t *testing.T) {
		_, metrics := get(t, "http://"+u.addrs["admin"]+"/metrics")
		for _, want := range []string{
			`usher_middleware_decisions_total{kind="forwardAuth",middleware="fwd",result="deny"} 1`,
			`usher_middleware_decisions_total{kind="forwardAuth",middleware="fwd-down",result="error"} 1`,
			`usher_middleware_decisions_total{kind="forwardAuth",middleware="fwd-cached",result="allow"} 5`,
		} {
			if !strings.Contains(metrics, want+"\n") {
				t.Errorf("metrics lack %s", want)
			}
		}
		var lines []map[string]any
		waitFor(t, 5*time.Second, func() bool {
			lines = readJSONLines(t, logPath)
			return len(lines) > 0
		})
		if lines[0]["user"] != "alice" || lines[0]["status"] != 200.0 {
			t.Errorf("first access log line: user %v status %v, want alice and 200", lines[0]["user"], lines[0]["status"])
		}
		if strings.Contains(u.logText(), "alice-token") || strings.Contains(fmt.Sprint(lines), "alice-token") {
			t.Error("a token reached a log")
		}
	})
}
