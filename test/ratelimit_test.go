package test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/redisconn/redistest"
)

// The redis section's key is quoted ("address") so that startUsher, which
// counts `address:` to know how many listeners to wait for, does not wait for
// Redis to listen as an entrypoint.
const rateLimitTpl = `
admin: { address: "127.0.0.1:0" }
redis: { "address": "{{redis}}", timeout: 300ms }
entrypoints:
  web: { address: "127.0.0.1:0", trustedProxies: ["127.0.0.0/8"] }
http:
  routers:
    shared: { rule: "PathPrefix(` + "`/shared`" + `)", middlewares: [shared-limit], service: app }
    open:   { rule: "PathPrefix(` + "`/open`" + `)", middlewares: [fail-open], service: app }
    closed: { rule: "PathPrefix(` + "`/closed`" + `)", middlewares: [fail-closed], service: app }
  middlewares:
    shared-limit: { rateLimit: { average: 6, period: 1h, burst: 6, key: clientIP, store: redis } }
    fail-open:    { rateLimit: { average: 1, period: 1h, burst: 1, store: redis, onStoreError: allow } }
    fail-closed:  { rateLimit: { average: 1, period: 1h, burst: 1, store: redis, onStoreError: deny } }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`

// rlGet does a GET with the headers given (name, value, ...) and returns the
// response, its body read.
func rlGet(t *testing.T, url string, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestRateLimitTwoUshersOneRedis: two ushers on one Redis enforce one
// combined limit per client (the client as the trusted proxy says, in
// X-Forwarded-For), with the IETF headers on every answer.
func TestRateLimitTwoUshersOneRedis(t *testing.T) {
	rd := redistest.Start(t)
	be := backend(t, "app")
	cfg := config(rateLimitTpl, "redis", rd.Addr, "be", be.URL)
	a, b := startUsher(t, cfg), startUsher(t, cfg)
	var codes []int
	for i := range 10 {
		u := a
		if i%2 == 1 {
			u = b
		}
		resp := rlGet(t, u.url("web")+"/shared", "X-Forwarded-For", "198.51.100.7")
		codes = append(codes, resp.StatusCode)
		policy, rl := resp.Header.Get("RateLimit-Policy"), resp.Header.Get("RateLimit")
		if policy != `"shared-limit";q=6;w=3600` {
			t.Errorf("request %d: RateLimit-Policy %q", i, policy)
		}
		switch {
		case i < 6 && rl != fmt.Sprintf(`"shared-limit";r=%d;t=%d`, 5-i, 600*(i+1)):
			t.Errorf("request %d let through: RateLimit %q", i, rl)
		case i >= 6 && (rl != `"shared-limit";r=0;t=600` || resp.Header.Get("Retry-After") != "600"):
			t.Errorf("request %d limited: RateLimit %q, Retry-After %q", i, rl, resp.Header.Get("Retry-After"))
		}
	}
	if want := "[200 200 200 200 200 200 429 429 429 429]"; fmt.Sprint(codes) != want {
		t.Fatalf("statuses through two ushers %v, want %s: one limit for both", codes, want)
	}
	// Another client (as the trusted proxy says) has a bucket of its own.
	if resp := rlGet(t, b.url("web")+"/shared", "X-Forwarded-For", "198.51.100.8"); resp.StatusCode != 200 {
		t.Fatalf("another client: %d", resp.StatusCode)
	}
	_, metrics := get(t, "http://"+a.addrs["admin"]+"/metrics")
	for _, want := range []string{
		`usher_middleware_decisions_total{kind="rateLimit",middleware="shared-limit",result="allow"} 3`,
		`usher_middleware_decisions_total{kind="rateLimit",middleware="shared-limit",result="deny"} 2`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("usher a's metrics lack %s", want)
		}
	}
}

// TestRateLimitRedisStopped: Redis dies under usher; onStoreError: allow
// lets requests through, deny answers 503; each outage is logged once, and
// when Redis is back the limits hold again.
func TestRateLimitRedisStopped(t *testing.T) {
	rd := redistest.Start(t)
	be := backend(t, "app")
	u := startUsher(t, config(rateLimitTpl, "redis", rd.Addr, "be", be.URL))
	for _, p := range []string{"/open", "/closed"} {
		if c := rlGet(t, u.url("web")+p).StatusCode; c != 200 {
			t.Fatalf("%s before the outage: %d", p, c)
		}
		if c := rlGet(t, u.url("web")+p).StatusCode; c != 429 {
			t.Fatalf("%s before the outage, second request: %d, want 429", p, c)
		}
	}
	rd.Stop()
	for range 3 {
		if c := rlGet(t, u.url("web")+"/open").StatusCode; c != 200 {
			t.Errorf("onStoreError allow, Redis down: %d, want 200", c)
		}
		resp := rlGet(t, u.url("web")+"/closed")
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Errorf("onStoreError deny, Redis down: %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	log := u.logText()
	for _, name := range []string{"fail-open", "fail-closed"} {
		if n := strings.Count(log, `"middleware":"`+name+`","error"`); n != 1 {
			t.Errorf("the outage is logged %d times for %s, want once; log:\n%s", n, name, log)
		}
	}
	_, metrics := get(t, "http://"+u.addrs["admin"]+"/metrics")
	if want := `usher_middleware_decisions_total{kind="rateLimit",middleware="fail-closed",result="error"} 3`; !strings.Contains(metrics, want+"\n") {
		t.Errorf("metrics lack %s", want)
	}
	rd.Restart(t) // empty: every bucket full again
	for _, p := range []string{"/open", "/closed"} {
		if c := rlGet(t, u.url("web")+p).StatusCode; c != 200 {
			t.Errorf("%s after the outage: %d", p, c)
		}
		if c := rlGet(t, u.url("web")+p).StatusCode; c != 429 {
			t.Errorf("%s after the outage, second request: %d, want 429", p, c)
		}
	}
}

const memLimitTpl = `
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    a: { rule: "PathPrefix(` + "`/`" + `)", middlewares: [{{name}}], service: app }
{{more}}
  middlewares:
    {{name}}: { rateLimit: { average: 2, period: 1h, burst: 2 } }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`

// TestRateLimitReloadKeepsBuckets: a reload that keeps the middleware's
// name keeps its buckets; a renamed one starts afresh.
func TestRateLimitReloadKeepsBuckets(t *testing.T) {
	be := backend(t, "app")
	u := startUsher(t, config(memLimitTpl, "name", "lim", "more", "", "be", be.URL))
	for i, want := range []int{200, 200, 429} {
		if c := rlGet(t, u.url("web")+"/").StatusCode; c != want {
			t.Fatalf("request %d: %d, want %d", i, c, want)
		}
	}
	more := `    b: { rule: "PathPrefix(` + "`/b`" + `)", service: app }`
	if l := u.rewrite(config(memLimitTpl, "name", "lim", "more", more, "be", be.URL)); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	if c := rlGet(t, u.url("web")+"/b").StatusCode; c != 200 {
		t.Fatalf("the new router: %d", c) // the reload did apply
	}
	if c := rlGet(t, u.url("web")+"/").StatusCode; c != 429 {
		t.Fatalf("after a reload keeping the name: %d, want 429 (the bucket kept)", c)
	}
	if l := u.rewrite(config(memLimitTpl, "name", "other", "more", more, "be", be.URL)); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	if c := rlGet(t, u.url("web")+"/").StatusCode; c != 200 {
		t.Fatalf("after renaming the middleware: %d, want 200 (a bucket of its own)", c)
	}
}

// TestInFlightReq: two requests of a client in progress, the third gets
// 429 until one ends; other clients are not counted with it.
func TestInFlightReq(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	arrived := make(chan struct{}, 8)
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			arrived <- struct{}{}
			<-release
		case "/hang":
			arrived <- struct{}{}
			<-r.Context().Done() // usher gave up: its client went away
		}
		io.WriteString(w, "ok")
	})
	u := startUsher(t, config(`
entrypoints:
  web: { address: "127.0.0.1:0", trustedProxies: ["127.0.0.0/8"] }
http:
  routers:
    a: { rule: "PathPrefix(`+"`/`"+`)", middlewares: [conc], service: app }
  middlewares:
    conc: { inFlightReq: { amount: 2, key: "header:X-User" } }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "be", be.URL))
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c := rlGet(t, u.url("web")+"/slow", "X-User", "alice").StatusCode; c != 200 {
				t.Errorf("a slow request: %d", c)
			}
		}()
		<-arrived
	}
	resp := rlGet(t, u.url("web")+"/fast", "X-User", "alice")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("alice's third request in progress: %d, want 429", resp.StatusCode)
	}
	if c := rlGet(t, u.url("web")+"/fast", "X-User", "bob").StatusCode; c != 200 {
		t.Fatalf("bob: %d", c)
	}
	once.Do(func() { close(release) })
	wg.Wait()
	// Released when the responses ended: room again.
	waitRoom := func(what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for rlGet(t, u.url("web")+"/fast", "X-User", "alice").StatusCode != 200 {
			if time.Now().After(deadline) {
				t.Fatalf("alice still limited after %s", what)
			}
		}
	}
	waitRoom("her requests ended")

	// Two requests whose client gives up before the answer: their places
	// are released too.
	ctx, cancel := context.WithCancel(context.Background())
	var gone sync.WaitGroup
	for range 2 {
		gone.Add(1)
		go func() {
			defer gone.Done()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.url("web")+"/hang", nil)
			req.Header.Set("X-User", "alice")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				t.Errorf("a request whose client went away got %d", resp.StatusCode)
			}
		}()
		<-arrived
	}
	if c := rlGet(t, u.url("web")+"/fast", "X-User", "alice").StatusCode; c != http.StatusTooManyRequests {
		t.Fatalf("alice's third request in progress, again: %d", c)
	}
	cancel()
	gone.Wait()
	waitRoom("her clients went away")
}

// TestRateLimitIgnoresUntrustedForwardedFor: a client that is no trusted
// proxy cannot get fresh buckets by sending X-Forwarded-For.
func TestRateLimitIgnoresUntrustedForwardedFor(t *testing.T) {
	be := backend(t, "app")
	u := startUsher(t, config(memLimitTpl, "name", "lim", "more", "", "be", be.URL))
	for i, want := range []int{200, 200, 429, 429} {
		resp := rlGet(t, u.url("web")+"/", "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1))
		if resp.StatusCode != want {
			t.Fatalf("request %d with a made-up X-Forwarded-For: %d, want %d", i, resp.StatusCode, want)
		}
	}
}
