package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/runtime"
	"github.com/usher-lb/usher/internal/server"
)

// Secrets of the test config, which no answer of the admin may hold.
const (
	cookieSecret = "c00kie-s3cret"
	serverPass   = "upstream-pa55"
	adminToken   = "t0ken-hunter2"
)

// testConfig is a config with two entrypoints, routers with a chain of
// middlewares, load balancers on the given backends and a weighted service.
func testConfig(app1, app2, other string) string {
	return fmt.Sprintf(`
admin: { address: "127.0.0.1:0", dashboard: true, token: %q }
entrypoints:
  web:   { address: "127.0.0.1:0" }
  other: { address: "127.0.0.1:0" }
http:
  routers:
    api:
      entrypoints: [web]
      rule: "Host(`+"`example.com`"+`) && PathPrefix(`+"`/api`"+`)"
      middlewares: [strip-api, secured]
      service: app
    site:
      rule: "Host(`+"`example.com`"+`)"
      service: canary
    ops:
      entrypoints: [other]
      rule: "Host(`+"`ops.example.com`"+`) && Header(`+"`X-Team`"+`, `+"`ops`"+`)"
      service: other
  middlewares:
    strip-api: { stripPrefix: { prefixes: ["/api"] } }
    frame:     { headers: { frameDeny: true } }
    secured:   { chain: { middlewares: [frame] } }
  services:
    app:
      loadBalancer:
        servers:
          - { url: "http://%s" }
          - { url: "http://usher:%s@%s", weight: 2 }
        sticky: { cookie: { name: pin, secret: %q } }
    other:
      loadBalancer:
        servers: [ { url: "http://%s" } ]
    canary:
      weighted:
        services: [ { name: app, weight: 90 }, { name: other, weight: 10 } ]
`, adminToken, app1, serverPass, app2, cookieSecret, other)
}

// fixture is a compiled snapshot of testConfig on real backends, served by a
// real usher entrypoint, with the admin in front of it on a real socket.
type fixture struct {
	t        *testing.T
	snap     *runtime.Snapshot
	state    *runtime.State
	stats    *observe.Stats
	bus      *observe.Bus
	backends []*httptest.Server
	web      string            // base URL of usher's web entrypoint
	ports    map[string]string // entrypoint → the port it listens on
	admin    *httptest.Server
	metrics  *observe.Metrics // its decision counters are the API's

	mu     sync.Mutex
	status runtime.Status
}

type fixtureOpts struct {
	token     string
	dashboard bool
	lifelike  bool // backends take a few milliseconds and fail now and then
}

func backend(t *testing.T, name string, lifelike bool) *httptest.Server {
	t.Helper()
	var n atomic.Int64
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lifelike {
			i := n.Add(1)
			time.Sleep(time.Duration(500+rand.IntN(3000)) * time.Microsecond)
			if i%10 == 0 {
				time.Sleep(8 * time.Millisecond)
			}
			if name == "app-2" && i%40 == 0 {
				http.Error(w, "boom", http.StatusInternalServerError)
				return
			}
		}
		io.WriteString(w, name)
	}))
	t.Cleanup(b.Close)
	return b
}

func compile(t *testing.T, yaml string, st *runtime.State) (*runtime.Snapshot, *runtime.Pending) {
	t.Helper()
	cfg, err := config.Parse("usher.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	checked, err := runtime.Check(cfg)
	if err != nil {
		t.Fatal(err)
	}
	snap, pending, err := runtime.Compile(context.Background(), checked, st)
	if err != nil {
		t.Fatal(err)
	}
	return snap, pending
}

func newFixture(t *testing.T, o fixtureOpts) *fixture {
	t.Helper()
	f := &fixture{t: t, state: runtime.NewState(), stats: observe.NewStats(), bus: observe.NewBus(100), metrics: observe.NewMetrics()}
	for _, name := range []string{"app-1", "app-2", "other-1"} {
		f.backends = append(f.backends, backend(t, name, o.lifelike))
	}
	host := func(i int) string { return strings.TrimPrefix(f.backends[i].URL, "http://") }
	snap, pending := compile(t, testConfig(host(0), host(1), host(2)), f.state)
	pending.Commit()
	f.snap = snap
	f.status = runtime.Status{LastGood: time.Now(), Reloads: map[string]int{"ok": 1}}

	log := slog.New(slog.DiscardHandler)
	srv, err := server.New(snap.Config, log, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv.Swap(snap)
	srv.SetObserver(f.stats)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	f.web = "http://" + srv.Addr("web")
	f.ports = map[string]string{}
	for _, ep := range srv.Entrypoints() {
		f.ports[ep.Name] = ep.Port
	}

	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "# usher metrics\nusher_up 1\n")
	})
	f.admin = httptest.NewServer(New(Deps{
		Snapshot:    func() *runtime.Snapshot { return f.snap },
		Status:      f.getStatus,
		Servers:     f.state.Servers,
		Stats:       f.stats,
		Events:      f.bus,
		Metrics:     metrics,
		Decisions:   f.metrics.DecisionCounts,
		Entrypoints: srv.Entrypoints,
		Token:       o.token,
		Dashboard:   o.dashboard,
		Version:     "v9.9.9-test",
		Log:         log,
	}))
	t.Cleanup(f.admin.Close)
	return f
}

// decide counts decisions of the middleware called name, as a middleware of
// kind counts them.
func (f *fixture) decide(kind, name string, allow, deny, fail int) {
	for range allow {
		f.metrics.Decision(kind, name, "allow").Inc()
	}
	for range deny {
		f.metrics.Decision(kind, name, "deny").Inc()
	}
	for range fail {
		f.metrics.Decision(kind, name, "error").Inc()
	}
}

func (f *fixture) getStatus() runtime.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

func (f *fixture) setStatus(s runtime.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status = s
}

// traffic sends n requests through usher's web entrypoint to host.
func (f *fixture) traffic(n int, host, path string) {
	f.t.Helper()
	for range n {
		req, _ := http.NewRequest(http.MethodGet, f.web+path, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			f.t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// server returns the URL of backend i as the config names it.
// shownURL is the URL of backend i as the API shows it: credentials hidden.
func (f *fixture) shownURL(i int) string {
	return config.RedactURL(f.serverURL(i))
}

func (f *fixture) serverURL(i int) string {
	u := f.backends[i].URL
	if i == 1 {
		return strings.Replace(u, "http://", "http://usher:"+serverPass+"@", 1)
	}
	return u
}

// do sends a request to the admin and returns the status and body.
func (f *fixture) do(method, path string, hdr ...string) (int, http.Header, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.admin.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// getJSON GETs path, wants 200 and decodes the body into v.
func (f *fixture) getJSON(path string, v any, hdr ...string) {
	f.t.Helper()
	code, h, b := f.do(http.MethodGet, path, hdr...)
	if code != http.StatusOK {
		f.t.Fatalf("GET %s: %d %s", path, code, b)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		f.t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	if err := json.Unmarshal(b, v); err != nil {
		f.t.Fatalf("GET %s: %v\n%s", path, err, b)
	}
}

func drainPath(service, serverURL, action string) string {
	return "/api/http/services/" + url.PathEscape(service) + "/servers/" + url.PathEscape(serverURL) + "/" + action
}
