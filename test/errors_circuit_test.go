package test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// pageServer is a second service that serves error pages, and records what
// it was asked.
type pageServer struct {
	mu    sync.Mutex
	asked []string // "METHOD path"
}

func (p *pageServer) handler(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.asked = append(p.asked, r.Method+" "+r.URL.RequestURI())
	p.mu.Unlock()
	code := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), ".html")
	switch code {
	case "500", "502", "503", "404":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<h1>page "+code+"</h1>")
	default:
		http.NotFound(w, r)
	}
}

func (p *pageServer) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.asked...)
}

// do sends one request and returns the response with its body read.
func do(t *testing.T, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// deadAddr is an address where nothing listens.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestErrorPagesFromService: 5xx and 404 answers of the server, and usher's
// own 502 for a server that is down, reach the client with the body of the
// page service and their own status; other answers pass as they are; a
// status the page service has no page for keeps the server's body.
func TestErrorPagesFromService(t *testing.T) {
	app := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/boom":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(500)
			io.WriteString(w, "panic: secret stack trace")
		case "/busy":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(503)
			io.WriteString(w, "busy")
		case "/teapot":
			w.WriteHeader(504)
			io.WriteString(w, "the server's own 504")
		case "/missing":
			http.NotFound(w, r)
		default:
			io.WriteString(w, "hello")
		}
	})
	ps := &pageServer{}
	pages := backendFunc(t, ps.handler)
	u := startUsher(t, config(`
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    app:  { rule: "PathPrefix(`+"`/`"+`)", middlewares: [pages], service: app }
    dead: { rule: "Host(`+"`dead.test`"+`)", middlewares: [pages], service: dead }
  middlewares:
    pages: { errors: { status: ["500-599", "404"], service: error-pages, query: "/{status}.html" } }
  services:
    app:         { loadBalancer: { servers: [ { url: "{{app}}" } ] } }
    dead:        { loadBalancer: { servers: [ { url: "http://{{dead}}" } ], retry: { attempts: 0 } } }
    error-pages: { loadBalancer: { servers: [ { url: "{{pages}}" } ] } }
`, "app", app.URL, "pages", pages.URL, "dead", deadAddr(t)))

	for _, tc := range []struct {
		method, path string
		status       int
		body         string
		header       map[string]string
	}{
		{"GET", "/boom", 500, "<h1>page 500</h1>", map[string]string{"Content-Type": "text/html; charset=utf-8"}},
		{"POST", "/boom", 500, "<h1>page 500</h1>", nil},
		{"GET", "/missing", 404, "<h1>page 404</h1>", nil},
		{"GET", "/busy", 503, "<h1>page 503</h1>", map[string]string{"Retry-After": "7"}},
		{"GET", "/teapot", 504, "the server's own 504", nil}, // no /504.html: the original
		{"GET", "/hello", 200, "hello", nil},
	} {
		resp, body := do(t, tc.method, u.url("web")+tc.path)
		if resp.StatusCode != tc.status || body != tc.body {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
		for k, v := range tc.header {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s %s: %s %q, want %q", tc.method, tc.path, k, got, v)
			}
		}
	}
	// usher's own 502: the server is down.
	req, _ := http.NewRequest("GET", u.url("web")+"/x", nil)
	req.Host = "dead.test"
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || string(b) != "<h1>page 502</h1>" {
		t.Errorf("usher's 502: %d %q", resp.StatusCode, b)
	}
	want := []string{"GET /500.html", "GET /500.html", "GET /404.html", "GET /503.html", "GET /504.html", "GET /502.html"}
	if got := ps.requests(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("the page service was asked %q, want %q", got, want)
	}
}

// flaky is a server that can be made to fail, and counts what reaches it.
type flaky struct {
	failing atomic.Bool
	hits    atomic.Int64
}

func (f *flaky) handler(w http.ResponseWriter, r *http.Request) {
	f.hits.Add(1)
	if f.failing.Load() {
		w.WriteHeader(500)
		io.WriteString(w, "failing")
		return
	}
	io.WriteString(w, "ok")
}

const breakerTpl = `
entrypoints:
  web: { address: "127.0.0.1:0" }
admin: { address: "127.0.0.1:0" }
http:
  routers:
    app: { rule: "PathPrefix(` + "`/`" + `)", middlewares: [pages, cb], service: app }
  middlewares:
    pages: { errors: { status: ["503"], service: error-pages, query: "/{status}.html" } }
    cb:
      circuitBreaker:
        expression: "{{expr}}"
        checkPeriod: 50ms
        fallbackDuration: 2s
        recoveryDuration: 1s
  services:
    app:         { loadBalancer: { servers: [ { url: "{{app}}" } ] } }
    error-pages: { loadBalancer: { servers: [ { url: "{{pages}}" } ] } }
`

// TestCircuitBreakerTripsAndRecovers: a server that starts failing trips the
// breaker; while it is open the server sees no request and clients get the
// errors page's 503; the state survives a reload that keeps the expression;
// once the server heals the breaker recovers and traffic flows again.
func TestCircuitBreakerTripsAndRecovers(t *testing.T) {
	f := &flaky{}
	app := backendFunc(t, f.handler)
	ps := &pageServer{}
	pages := backendFunc(t, ps.handler)
	kv := []string{"app", app.URL, "pages", pages.URL, "expr", "ResponseCodeRatio(500, 600, 0, 600) > 0.5"}
	u := startUsher(t, config(breakerTpl, kv...))
	base := u.url("web") + "/"

	for i := 0; i < 10; i++ {
		if resp, body := do(t, "GET", base); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("healthy: %d %q", resp.StatusCode, body)
		}
	}
	f.failing.Store(true)
	// Failing requests go through until a check finds the ratio over 0.5.
	deadline := time.Now().Add(5 * time.Second)
	var resp *http.Response
	var body string
	for {
		resp, body = do(t, "GET", base)
		if resp.StatusCode == 503 {
			break
		}
		if resp.StatusCode != 500 || time.Now().After(deadline) {
			t.Fatalf("while failing: %d %q", resp.StatusCode, body)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if body != "<h1>page 503</h1>" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("open: %q, Retry-After %q: want the errors page and Retry-After", body, resp.Header.Get("Retry-After"))
	}
	hits := f.hits.Load()
	for i := 0; i < 20; i++ {
		if resp, _ := do(t, "GET", base); resp.StatusCode != 503 {
			t.Fatalf("open: %d", resp.StatusCode)
		}
	}
	// A reload that keeps the expression (spelled otherwise) keeps the
	// breaker open.
	if l := u.rewrite(config(breakerTpl, append(kv[:4:4], "expr", "ResponseCodeRatio(500,600,0,600)>0.5")...)); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	if resp, _ := do(t, "GET", base); resp.StatusCode != 503 {
		t.Errorf("after a reload with the same expression: %d, want the breaker still open", resp.StatusCode)
	}
	if n := f.hits.Load() - hits; n != 0 {
		t.Errorf("the server saw %d requests while the breaker was open", n)
	}

	// Healed: within fallbackDuration + recoveryDuration traffic is back.
	f.failing.Store(false)
	deadline = time.Now().Add(8 * time.Second)
	for {
		resp, _ := do(t, "GET", base)
		if resp.StatusCode == 200 && strings.Contains(u.logText(), `"circuit breaker closed"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery; last %d; log:\n%s", resp.StatusCode, u.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := 0; i < 20; i++ {
		if resp, body := do(t, "GET", base); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("closed again: %d %q", resp.StatusCode, body)
		}
	}
	log := u.logText()
	for _, m := range []string{`"circuit breaker open"`, `"circuit breaker recovering"`, `"circuit breaker closed"`} {
		if strings.Count(log, m) != 1 {
			t.Errorf("log has %d of %s, want 1", strings.Count(log, m), m)
		}
	}
	_, metrics := get(t, "http://"+u.addrs["admin"]+"/metrics")
	for _, want := range []string{
		`usher_middleware_state_changes_total{kind="circuitBreaker",middleware="cb",state="open"} 1`,
		`usher_middleware_state_changes_total{kind="circuitBreaker",middleware="cb",state="recovering"} 1`,
		`usher_middleware_state_changes_total{kind="circuitBreaker",middleware="cb",state="closed"} 1`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	if !strings.Contains(metrics, `usher_middleware_decisions_total{kind="circuitBreaker",middleware="cb",result="deny"}`) {
		t.Error("metrics lack the breaker's denials")
	}
}

// TestCircuitBreakerBadExpressionRefused: an expression that does not parse
// is refused at load, with its column.
func TestCircuitBreakerBadExpressionRefused(t *testing.T) {
	f := &flaky{}
	app := backendFunc(t, f.handler)
	pages := backendFunc(t, (&pageServer{}).handler)
	kv := []string{"app", app.URL, "pages", pages.URL}
	u := startUsher(t, config(breakerTpl, append(kv, "expr", "NetworkErrorRatio() > 0.5")...))
	l := u.rewrite(config(breakerTpl, append(kv, "expr", "NetworkErrorRatio() > 0.5 && LatencyAtQuantileMS(50 > 100")...))
	if !strings.HasPrefix(l.msg(), "configuration refused") || !strings.Contains(u.logText(), "http.middlewares.cb.circuitBreaker.expression: column 53: expected , or )") {
		t.Errorf("bad expression: %v\n%s", l, u.logText())
	}
	if resp, body := do(t, "GET", u.url("web")+"/"); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("the old config stopped serving: %d %q", resp.StatusCode, body)
	}
}

// TestUnmatchedRequestsGetThePage: a catch-all router of the lowest priority
// to the page service, with the errors middleware, gives requests that no
// other router takes the 404 page instead of usher's plain 404.
func TestUnmatchedRequestsGetThePage(t *testing.T) {
	app := backend(t, "app")
	ps := &pageServer{}
	pages := backendFunc(t, ps.handler)
	u := startUsher(t, config(`
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    app:      { rule: "Host(`+"`app.test`"+`)", service: app }
    notFound: { rule: "PathPrefix(`+"`/`"+`)", priority: 1, middlewares: [pages], service: error-pages }
  middlewares:
    pages: { errors: { status: ["404"], service: error-pages, query: "/{status}.html" } }
  services:
    app:         { loadBalancer: { servers: [ { url: "{{app}}" } ] } }
    error-pages: { loadBalancer: { servers: [ { url: "{{pages}}" } ] } }
`, "app", app.URL, "pages", pages.URL))
	req, _ := http.NewRequest("GET", u.url("web")+"/", nil)
	req.Host = "app.test"
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "app" {
		t.Errorf("app.test: %d %q", resp.StatusCode, b)
	}
	resp, body := do(t, "GET", u.url("web")+"/nowhere?x=1")
	if resp.StatusCode != 404 || body != "<h1>page 404</h1>" {
		t.Errorf("unmatched: %d %q, want the 404 page", resp.StatusCode, body)
	}
	if got := ps.requests(); strings.Join(got, ",") != "GET /nowhere?x=1,GET /404.html" {
		t.Errorf("the page service was asked %q", got)
	}
}

// TestWebSocketThroughErrorsAndBreaker: an upgrade passes both middlewares
// untouched, and a failing handshake still gets its page.
func TestWebSocketThroughErrorsAndBreaker(t *testing.T) {
	upgrader := websocket.Upgrader{}
	echo := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/refused" {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, append([]byte("echo: "), msg...)); err != nil {
				return
			}
		}
	})
	pages := backendFunc(t, (&pageServer{}).handler)
	u := startUsher(t, config(breakerTpl, "app", echo.URL, "pages", pages.URL, "expr", "NetworkErrorRatio() > 0.5"))
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+u.addrs["web"]+"/chat", nil)
	if err != nil {
		t.Fatalf("dial through usher: %v (%v)", err, resp)
	}
	defer ws.Close()
	for _, msg := range []string{"one", "two"} {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, got, err := ws.ReadMessage(); err != nil || string(got) != "echo: "+msg {
			t.Fatalf("sent %q, got %q %v", msg, got, err)
		}
	}
	_, resp, err = websocket.DefaultDialer.Dial("ws://"+u.addrs["web"]+"/refused", nil)
	if err == nil {
		t.Fatal("refused handshake succeeded")
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || string(b) != "<h1>page 503</h1>" {
		t.Errorf("refused handshake: %d %q, want the 503 page", resp.StatusCode, b)
	}
}

// TestCircuitBreakerOnLatency: a server that becomes slow trips a breaker on
// LatencyAtQuantileMS; the breaker's own 503 is plain text without an errors
// middleware.
func TestCircuitBreakerOnLatency(t *testing.T) {
	var slow atomic.Bool
	var hits atomic.Int64
	app := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if slow.Load() {
			time.Sleep(150 * time.Millisecond) // the server is slow: what is under test
		}
		io.WriteString(w, "ok")
	})
	u := startUsher(t, config(`
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    app: { rule: "PathPrefix(`+"`/`"+`)", middlewares: [cb], service: app }
  middlewares:
    cb: { circuitBreaker: { expression: "LatencyAtQuantileMS(50.0) > 100", checkPeriod: 50ms, fallbackDuration: 10s, responseCode: 503 } }
  services:
    app: { loadBalancer: { servers: [ { url: "{{app}}" } ] } }
`, "app", app.URL))
	for i := 0; i < 5; i++ {
		if resp, _ := do(t, "GET", u.url("web")+"/"); resp.StatusCode != 200 {
			t.Fatalf("fast: %d", resp.StatusCode)
		}
	}
	slow.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, body := do(t, "GET", u.url("web")+"/")
		if resp.StatusCode == 503 {
			if body != "Service Unavailable\n" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("open: %q %v", body, resp.Header)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a slow server did not trip the breaker; log:\n%s", u.logText())
		}
	}
	n := hits.Load()
	for i := 0; i < 10; i++ {
		do(t, "GET", u.url("web")+"/")
	}
	if hits.Load() != n {
		t.Errorf("the server saw %d requests while open", hits.Load()-n)
	}
}
