package runtime

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/health"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/pool"
	"github.com/usher-lb/usher/internal/proxy"
)

// reloadEnv is a Manager as usher run wires it, on a config file the test
// rewrites: health checks, metrics, events, a publish that records.
type reloadEnv struct {
	t         *testing.T
	dir, path string
	st        *State
	m         *Manager
	metrics   *observe.Metrics
	bus       *observe.Bus
	published atomic.Pointer[Snapshot]
	health    chan health.Transition
}

func newReloadEnv(t *testing.T, yaml string, holders ...Holder) *reloadEnv {
	t.Helper()
	e := &reloadEnv{t: t, dir: t.TempDir(), st: NewState(), metrics: observe.NewMetrics(), bus: observe.NewBus(100),
		health: make(chan health.Transition, 100)}
	e.path = filepath.Join(e.dir, "usher.yaml")
	hm := health.NewManager(slog.New(slog.DiscardHandler), func(tr health.Transition) {
		select {
		case e.health <- tr:
		default:
		}
	})
	t.Cleanup(hm.Stop)
	e.st.Health = hm
	e.m = &Manager{
		Load:    func() (*config.Config, error) { return config.Load(e.path) },
		Publish: func(s *Snapshot) { e.published.Store(s) },
		Log:     slog.New(slog.DiscardHandler),
		State:   e.st,
		Metrics: e.metrics,
		Events:  e.bus,
		Holders: holders,
	}
	e.write(yaml)
	if err := e.m.Reload(context.Background(), "start"); err != nil {
		t.Fatal(err)
	}
	return e
}

// write replaces the config file; {{dir}} stands for the test's directory.
func (e *reloadEnv) write(yaml string) {
	e.t.Helper()
	if err := os.WriteFile(e.path, []byte(strings.ReplaceAll(yaml, "{{dir}}", e.dir)), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *reloadEnv) reload() error { return e.m.Reload(context.Background(), "test") }

// get serves a GET of path through router r of the published snapshot.
func (e *reloadEnv) get(r, path string) (int, string) {
	e.t.Helper()
	rt := e.published.Load().Routers[r]
	if rt == nil {
		e.t.Fatalf("no router %s", r)
	}
	w := httptest.NewRecorder()
	rt.Handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w.Code, w.Body.String()
}

// metric returns the lines of /metrics that start with name.
func (e *reloadEnv) metric(name string) []string {
	w := httptest.NewRecorder()
	e.metrics.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	var out []string
	for _, l := range strings.Split(w.Body.String(), "\n") {
		if strings.HasPrefix(l, name) {
			out = append(out, l)
		}
	}
	return out
}

// probeBackend is a server that records the paths it is asked.
type probeBackend struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string
}

func newProbeBackend(t *testing.T) *probeBackend {
	b := &probeBackend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.paths = append(b.paths, r.URL.Path)
		b.mu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(b.Close)
	return b
}

// waitPaths waits for n more requests than seen, and returns them all.
func (b *probeBackend) waitPaths(t *testing.T, seen, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		got := append([]string(nil), b.paths...)
		b.mu.Unlock()
		if len(got) >= seen+n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests, want %d", len(got), seen+n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// writeCert writes a self-signed certificate for name, and its key, into dir.
func writeCert(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

// A health check that cannot run refuses the whole config with its file:line
// (before, such a check was logged and skipped, the rest applied): the old
// snapshot keeps serving, its probes go on as they were.
func TestBadHealthCheckRefusedAtReload(t *testing.T) {
	b := newProbeBackend(t)
	good := `entrypoints: { web: { address: "127.0.0.1:0" } }
http:
  routers: { r: { rule: "PathPrefix(` + "`/`" + `)", service: app } }
  services:
    app:
      loadBalancer:
        servers: [ { url: "` + b.URL + `" } ]
        healthCheck: { path: /healthz, interval: 10ms }
`
	e := newReloadEnv(t, good)
	running := e.published.Load()
	seen := len(b.waitPaths(t, 0, 2))
	if err := os.WriteFile(filepath.Join(e.dir, "ca.pem"), []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ check, want string }{
		{`{ path: "/%zz", interval: 10ms }`, `usher.yaml:8: http.services.app.loadBalancer.healthCheck.path: "/%zz" is not a path`},
		{`{ path: /healthz, hostname: "a b", interval: 10ms }`, `usher.yaml:8: http.services.app.loadBalancer.healthCheck.hostname: "a b" is not a host name`},
		{`{ path: /healthz, interval: 10ms }
        transport: { tls: { ca: "{{dir}}/ca.pem" } }`, `usher.yaml:9: http.services.app.loadBalancer.transport.tls.ca: no PEM certificate in `},
	} {
		e.write(strings.Replace(good, "{ path: /healthz, interval: 10ms }", tc.check, 1))
		err := e.reload()
		var ps config.Problems
		if !errors.As(err, &ps) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("reload error %v, want a problem %q", err, tc.want)
		}
		if e.published.Load() != running || e.m.Current() != running || e.m.Status().LastError == nil {
			t.Fatal("a refused config was published")
		}
	}
	for _, p := range b.waitPaths(t, seen, 3)[seen:] {
		if p != "/healthz" {
			t.Fatalf("probes of the running check changed: %s", p)
		}
	}
	if code, body := e.get("r", "/"); code != 200 || body != "ok" {
		t.Errorf("the running config answers %d %q", code, body)
	}
	if got := e.metric(`usher_reloads_total{result="failure"}`); len(got) != 1 || !strings.HasSuffix(got[0], " 3") {
		t.Errorf("failed reloads counted: %v", got)
	}
}

// refuser is a holder that refuses every config after the first.
type refuser struct {
	calls    atomic.Int32
	aborted  atomic.Int32
	commited atomic.Int32
}

func (r *refuser) Prepare(*Snapshot) (Change, error) {
	if r.calls.Add(1) > 1 {
		return nil, errors.New("refused by the test")
	}
	return r, nil
}
func (r *refuser) Commit() { r.commited.Add(1) }
func (r *refuser) Abort()  { r.aborted.Add(1) }

// A reload refused by the last holder, after the others prepared, changes
// nothing in any of them: the registry keeps its servers (none drained, none
// added), the upstream pools are the same, probes go on with the running
// check, the certificate metrics are those of the running certificates.
func TestAbortedReloadChangesNothing(t *testing.T) {
	b1, b2, b3 := newProbeBackend(t), newProbeBackend(t), newProbeBackend(t)
	ref := &refuser{}
	certA, keyA := writeCert(t, t.TempDir(), "a.example")
	certB, keyB := writeCert(t, t.TempDir(), "b.example")
	cfg := func(cert, key, path, servers string) string {
		return `entrypoints: { web: { address: "127.0.0.1:0" } }
tls: { certificates: [ { certFile: "` + cert + `", keyFile: "` + key + `" } ] }
http:
  routers: { r: { rule: "PathPrefix(` + "`/`" + `)", service: app } }
  services:
    app:
      loadBalancer:
        servers: [ ` + servers + ` ]
        healthCheck: { path: ` + path + `, interval: 10ms }
        passiveHealthCheck: {}
`
	}
	e := newReloadEnv(t, cfg(certA, keyA, "/a", `{ url: "`+b1.URL+`" }, { url: "`+b2.URL+`" }`), ref)
	before := e.st.Servers.All()
	e.st.mu.Lock()
	ups := len(e.st.upstreams)
	e.st.mu.Unlock()
	seen := len(b1.waitPaths(t, 0, 1))

	e.write(cfg(certB, keyB, "/b", `{ url: "`+b1.URL+`" }, { url: "`+b3.URL+`" }`))
	if err := e.reload(); err == nil || !strings.Contains(err.Error(), "refused by the test") {
		t.Fatalf("reload: %v", err)
	}
	if ref.aborted.Load() != 0 || ref.commited.Load() != 1 {
		t.Errorf("the refusing holder: %d aborts, %d commits", ref.aborted.Load(), ref.commited.Load())
	}
	after := e.st.Servers.All()
	if len(after) != len(before) {
		t.Fatalf("%d servers, want %d", len(after), len(before))
	}
	for _, s := range before {
		if got, ok := e.st.Servers.Lookup(s.Key); !ok || got != s || s.Draining() || !s.Available() {
			t.Errorf("server %s: kept %v, draining %v, available %v", s.Key, got == s, s.Draining(), s.Available())
		}
	}
	if _, ok := e.st.Servers.Lookup(pool.Key("app", b3.URL)); ok {
		t.Error("the refused config's new server is in the registry")
	}
	e.st.mu.Lock()
	for k, up := range e.st.upstreams {
		if k.server == pool.Key("app", b3.URL) || up == nil {
			t.Error("the refused config's upstream is in the state")
		}
	}
	if len(e.st.upstreams) != ups {
		t.Errorf("%d upstreams, want %d", len(e.st.upstreams), ups)
	}
	e.st.mu.Unlock()
	for _, p := range b1.waitPaths(t, seen, 3)[seen:] {
		if p != "/a" {
			t.Fatalf("a probe of the refused check: %s", p)
		}
	}
	if got := b3.waitPaths(t, 0, 0); len(got) != 0 {
		t.Errorf("the refused config's server was probed: %v", got)
	}
	if got := e.metric("usher_cert_expiry_timestamp_seconds{"); len(got) != 1 || !strings.Contains(got[0], "a.example") {
		t.Errorf("certificate metrics %v, want a.example's only", got)
	}

	// Once accepted, everything follows.
	ref.calls.Store(0)
	if err := e.reload(); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.st.Servers.Lookup(pool.Key("app", b2.URL)); s != nil {
		t.Error("a removed server is still in the registry")
	}
	if got := e.metric("usher_cert_expiry_timestamp_seconds{"); len(got) != 1 || !strings.Contains(got[0], "b.example") {
		t.Errorf("certificate metrics %v, want b.example's only", got)
	}
	if got := b3.waitPaths(t, 0, 1); got[0] != "/b" {
		t.Errorf("the new server probed on %s", got[0])
	}
}

// A reload that changes nothing of a load balancer keeps its upstream pools,
// TLS included, and their idle connections: the next request goes on the
// connection the last one left (before, the key of a transport with TLS held a
// pointer, and every reload made new pools). A CA file rotated under the same
// name makes new ones.
func TestUpstreamKeptAcrossNoOpReload(t *testing.T) {
	var conns atomic.Int32
	b := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tls ok") }))
	b.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	b.StartTLS()
	t.Cleanup(b.Close)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	writeCA := func() {
		if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.Certificate().Raw}), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeCA()
	yaml := `entrypoints: { web: { address: "127.0.0.1:0" } }
http:
  routers: { r: { rule: "PathPrefix(` + "`/`" + `)", service: app } }
  services:
    app:
      loadBalancer:
        servers: [ { url: "` + b.URL + `" } ]
        transport: { tls: { ca: "` + ca + `", serverName: example.com } }
`
	e := newReloadEnv(t, yaml)
	upstream := func() *proxy.Upstream {
		e.st.mu.Lock()
		defer e.st.mu.Unlock()
		if len(e.st.upstreams) != 1 {
			t.Fatalf("%d upstreams", len(e.st.upstreams))
		}
		for _, up := range e.st.upstreams {
			return up
		}
		return nil
	}
	if code, body := e.get("r", "/"); code != 200 || body != "tls ok" {
		t.Fatalf("%d %q", code, body)
	}
	first := upstream()
	tc := e.published.Load().Transports["app"].TLS
	for range 3 {
		if err := e.reload(); err != nil {
			t.Fatal(err)
		}
		if code, _ := e.get("r", "/"); code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	if upstream() != first || e.published.Load().Transports["app"].TLS != tc {
		t.Error("a no-op reload made a new upstream or TLS config")
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections to the server over no-op reloads, want 1 kept", n)
	}

	writeCA() // the same bytes: still the same
	os.Chtimes(ca, time.Now(), time.Now())
	if err := e.reload(); err != nil || upstream() != first {
		t.Fatalf("the same CA rewritten: err %v, same upstream %v", err, upstream() == first)
	}
	other, _ := writeCert(t, dir, "other.example")
	pemOther, _ := os.ReadFile(other)
	pemSelf, _ := os.ReadFile(ca)
	os.WriteFile(ca, append(pemSelf, pemOther...), 0o644) // a CA added to the bundle
	if err := e.reload(); err != nil {
		t.Fatal(err)
	}
	if upstream() == first || e.published.Load().Transports["app"].TLS == tc {
		t.Error("a changed CA file kept the old upstream and TLS config")
	}
	if code, _ := e.get("r", "/"); code != 200 {
		t.Errorf("status %d on the new upstream", code)
	}
}

// Reloads from two triggers at once (the file watch and SIGHUP in usher run)
// run one at a time, certificate metrics included: -race sees no race, and
// every reload is counted.
func TestConcurrentReloads(t *testing.T) {
	cert, key := writeCert(t, t.TempDir(), "a.example")
	e := newReloadEnv(t, `entrypoints: { web: { address: "127.0.0.1:0" } }
tls: { certificates: [ { certFile: "`+cert+`", keyFile: "`+key+`" } ] }
http:
  routers: { r: { rule: "PathPrefix(`+"`/`"+`)", service: app } }
  services: { app: { loadBalancer: { servers: [ { url: "http://127.0.0.1:1" } ] } } }
`)
	const n = 20
	var wg sync.WaitGroup
	for _, trigger := range []string{"file changed", "SIGHUP"} {
		wg.Go(func() {
			for range n {
				if err := e.m.Reload(context.Background(), trigger); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if got := e.m.Status().Reloads["ok"]; got != 2*n+1 {
		t.Errorf("%d reloads applied, want %d", got, 2*n+1)
	}
	if got := e.metric("usher_cert_expiry_timestamp_seconds{"); len(got) != 1 {
		t.Errorf("certificate metrics %v", got)
	}
	var reloads int
	for _, ev := range e.bus.Recent() {
		if ev.Type == "reload" && ev.To == "applied" {
			reloads++
		}
	}
	if reloads != 2*n+1 {
		t.Errorf("%d reload events, want %d", reloads, 2*n+1)
	}
}

// StaticChange tells when the running config's static half is not the one
// usher started with, and goes back when the file does.
func TestStaticChange(t *testing.T) {
	yaml := `entrypoints: { web: { address: "127.0.0.1:0" } }
log: { level: info }
http:
  routers: { r: { rule: "PathPrefix(` + "`/`" + `)", service: app } }
  services: { app: { loadBalancer: { servers: [ { url: "http://127.0.0.1:1" } ] } } }
`
	e := newReloadEnv(t, yaml)
	for _, tc := range []struct {
		yaml string
		want bool
	}{
		{yaml, false},
		{strings.Replace(yaml, "level: info", "level: debug", 1), true},
		{strings.Replace(yaml, "url: \"http://127.0.0.1:1\"", "url: \"http://127.0.0.1:2\"", 1), false},
		{strings.Replace(yaml, "127.0.0.1:0", "127.0.0.1:9999", 1), true},
		{yaml, false},
	} {
		e.write(tc.yaml)
		if err := e.reload(); err != nil {
			t.Fatal(err)
		}
		if got := e.m.Status().StaticChange; got != tc.want {
			t.Errorf("StaticChange %v, want %v after\n%s", got, tc.want, tc.yaml)
		}
	}
}

// The compile reads the defaults the config decided, and only those: a
// short interval's timeout is the config's 4/5 of it, passive checks get the
// config's numbers.
func TestCompiledChecksTakeTheConfigDefaults(t *testing.T) {
	cfg := rawLBConfig("http://10.0.0.1:80")
	lb := cfg.HTTP.Services["app"].LoadBalancer
	lb.HealthCheck = &config.HealthCheck{Interval: config.Duration(500 * time.Millisecond)}
	lb.PassiveHealthCheck = &config.PassiveHealthCheck{}
	c, err := Check(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := NewState()
	st.Health = health.NewManager(slog.New(slog.DiscardHandler), nil)
	defer st.Health.Stop()
	snap, pending, err := Compile(context.Background(), c, st)
	if err != nil {
		t.Fatal(err)
	}
	pending.Abort()
	ck := snap.Health[0].Check
	if ck.Timeout != 400*time.Millisecond || ck.Interval != 500*time.Millisecond || ck.Method != "GET" || ck.Path != "/" ||
		ck.StatusMin != 200 || ck.StatusMax != 399 || ck.HealthyAfter != 2 || ck.UnhealthyAfter != 3 {
		t.Errorf("compiled check %+v", ck)
	}
	if snap.Health[0].Passive == nil {
		t.Error("no passive reporter")
	}
}

// waitHealth returns the next health transition of server to state.
func (e *reloadEnv) waitHealth(server, to string) health.Transition {
	e.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case tr := <-e.health:
			if tr.Server == server && tr.To == to {
				return tr
			}
		case <-deadline:
			e.t.Fatalf("%s never went %s", server, to)
		}
	}
}

// Through the compiled load balancer: a server that refuses connections is
// ejected by the passive check after maxFailures requests while clients get
// their answers from the other (retries), and is tried again after ejectFor.
func TestPassiveCheckThroughTheCompiledLoadBalancer(t *testing.T) {
	alive := newProbeBackend(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + ln.Addr().String()
	ln.Close()
	e := newReloadEnv(t, `entrypoints: { web: { address: "127.0.0.1:0" } }
http:
  routers: { r: { rule: "PathPrefix(`+"`/`"+`)", service: app } }
  services:
    app:
      loadBalancer:
        servers: [ { url: "`+deadURL+`" }, { url: "`+alive.URL+`" } ]
        passiveHealthCheck: { maxFailures: 3, ejectFor: 1s }
`)
	dead, _ := e.st.Servers.Lookup(pool.Key("app", deadURL))
	serve := func() {
		if code, _ := e.get("r", "/"); code != http.StatusOK {
			t.Errorf("status %d", code)
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				serve()
			}
		})
	}
	wg.Wait()
	if tr := e.waitHealth(deadURL, health.StateEjected); !strings.Contains(tr.Reason, "last: no response") {
		t.Errorf("reason %q", tr.Reason)
	}
	before := dead.Requests()
	for range 20 {
		serve()
	}
	if dead.Requests() != before {
		t.Errorf("%d requests sent to an ejected server", dead.Requests()-before)
	}
	e.waitHealth(deadURL, health.StateBack)
	before = dead.Requests()
	for range 20 {
		serve()
	}
	if dead.Requests() == before {
		t.Error("the readmitted server was not tried again")
	}
}
