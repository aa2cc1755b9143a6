package health

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/balance"
	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/pool"
	usherrt "github.com/usher-lb/usher/internal/runtime"
)

// Probes of the tests go every tick. Their timeout is long (a config would
// have to keep it below the interval): a probe slowed down by a busy machine
// (-race, TLS handshakes) delays the next one rather than failing, so that
// tests see only the failures they make.
const (
	tick         = 20 * time.Millisecond
	probeTimeout = 2 * time.Second
)

// wait is how long a test waits for a condition before it fails.
const wait = 5 * time.Second

// backend is a server on 127.0.0.1 whose answer to probes the test sets.
type backend struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	body   string
	header http.Header
	hold   chan struct{} // when not nil, requests wait for it to close
	hits   atomic.Int64
	last   *http.Request // the last request, for what probes send
}

func newBackend(t *testing.T) *backend {
	b := &backend{status: http.StatusOK, body: "ok", header: http.Header{}}
	b.Server = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.Close)
	return b
}

func newTLSBackend(t *testing.T) *backend {
	b := &backend{status: http.StatusOK, body: "ok", header: http.Header{}}
	b.Server = httptest.NewUnstartedServer(http.HandlerFunc(b.serve))
	b.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes refused by the tests
	b.StartTLS()
	t.Cleanup(b.Close)
	return b
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	b.hits.Add(1)
	b.mu.Lock()
	hold := b.hold
	b.last = r.Clone(context.Background())
	b.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	b.mu.Lock()
	status, body := b.status, b.body
	for k, v := range b.header {
		w.Header()[k] = v
	}
	b.mu.Unlock()
	w.WriteHeader(status)
	w.Write([]byte(body))
}

func (b *backend) set(status int, body string, header ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.status, b.body = status, body
	b.header = http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		b.header.Set(header[i], header[i+1])
	}
}

// setHold makes requests wait until the channel returned is closed.
func (b *backend) setHold() chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hold = make(chan struct{})
	return b.hold
}

// release lets held requests go and stops holding new ones.
func (b *backend) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.hold != nil {
		close(b.hold)
		b.hold = nil
	}
}

func (b *backend) lastRequest() *http.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// recorder keeps the transitions a Manager reports, and the log lines it writes.
type recorder struct {
	mu   sync.Mutex
	all  []Transition
	more chan struct{} // closed and replaced on each transition
	log  bytes.Buffer
}

func (r *recorder) add(t Transition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, t)
	close(r.more)
	r.more = make(chan struct{})
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.Write(p)
}

// waitFor returns the first transition from the n-th on that matches, failing
// the test after wait. n is the number of transitions seen before (see count).
func (r *recorder) waitFor(t *testing.T, from int, match func(Transition) bool) (Transition, int) {
	t.Helper()
	deadline := time.After(wait)
	for {
		r.mu.Lock()
		for i := from; i < len(r.all); i++ {
			if match(r.all[i]) {
				tr := r.all[i]
				r.mu.Unlock()
				return tr, i + 1
			}
		}
		from = len(r.all)
		more := r.more
		r.mu.Unlock()
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("no matching transition within %s; saw %v", wait, r.transitions())
		}
	}
}

func (r *recorder) transitions() []Transition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Transition(nil), r.all...)
}

func to(server, state string) func(Transition) bool {
	return func(t Transition) bool { return t.Server == server && t.To == state }
}

// env is a Manager with the lasting state of a running usher: each sync
// compiles a config, commits it and syncs the manager, as a reload does.
type env struct {
	t   *testing.T
	st  *usherrt.State
	m   *Manager
	rec *recorder
	ctx context.Context
}

func newEnv(t *testing.T) *env {
	rec := &recorder{more: make(chan struct{})}
	log := slog.New(slog.NewJSONHandler(rec, nil))
	e := &env{t: t, st: usherrt.NewState(), rec: rec, ctx: context.Background()}
	e.m = NewManager(log, rec.add)
	e.st.Reporter = e.m.Reporter
	t.Cleanup(e.m.Stop)
	return e
}

// sync compiles services (name → load balancer) and syncs the manager.
func (e *env) sync(lbs map[string]*config.LoadBalancer) *usherrt.Snapshot {
	e.t.Helper()
	cfg := &config.Config{HTTP: &config.HTTP{Services: map[string]*config.Service{}}}
	for name, lb := range lbs {
		cfg.HTTP.Services[name] = &config.Service{LoadBalancer: lb}
	}
	cfg.ApplyDefaults()
	snap, pending, err := usherrt.Compile(e.ctx, cfg, e.st)
	if err != nil {
		e.t.Fatal(err)
	}
	pending.Commit()
	e.m.Sync(e.ctx, snap)
	return snap
}

func (e *env) server(svc, url string) *pool.Server {
	e.t.Helper()
	s, ok := e.st.Servers.Lookup(pool.Key(svc, url))
	if !ok {
		e.t.Fatalf("no server %s of %s", url, svc)
	}
	return s
}

func (e *env) prober(svc, url string) *prober {
	e.m.mu.Lock()
	defer e.m.mu.Unlock()
	return e.m.probers[pool.Key(svc, url)]
}

func lb(check *config.HealthCheck, urls ...string) *config.LoadBalancer {
	l := &config.LoadBalancer{HealthCheck: check}
	for _, u := range urls {
		l.Servers = append(l.Servers, config.Server{URL: u})
	}
	return l
}

func httpCheck() *config.HealthCheck {
	return &config.HealthCheck{
		Path: "/healthz", Interval: config.Duration(tick), Timeout: config.Duration(probeTimeout),
		HealthyAfter: 2, UnhealthyAfter: 3,
	}
}

// eventually waits for cond, polling: for conditions no transition signals.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, wait)
		}
		time.Sleep(time.Millisecond)
	}
}

// A server failing its checks goes down after unhealthyAfter failures in a row
// and comes back after healthyAfter passes, each change once, with its reason,
// in the log and to onTransition; the probe is kept on the server.
func TestActiveDownAndUp(t *testing.T) {
	for _, tc := range []struct {
		name       string
		check      func() *config.HealthCheck
		tls        bool
		fail, pass func(b *backend)
		reason     string // in the reason of going down
	}{
		{
			name:   "status",
			check:  httpCheck,
			fail:   func(b *backend) { b.set(500, "") },
			pass:   func(b *backend) { b.set(204, "") },
			reason: "status 500, want 200-399",
		},
		{
			name: "single status",
			check: func() *config.HealthCheck {
				c := httpCheck()
				c.ExpectStatus = "204"
				return c
			},
			fail:   func(b *backend) { b.set(200, "") },
			pass:   func(b *backend) { b.set(204, "") },
			reason: "status 200, want 204",
		},
		{
			name: "body regexp",
			check: func() *config.HealthCheck {
				c := httpCheck()
				c.ExpectBody = `^status: (ok|fine)$`
				return c
			},
			fail:   func(b *backend) { b.set(200, "status: degraded") },
			pass:   func(b *backend) { b.set(200, "status: fine") },
			reason: "body does not match",
		},
		{
			name: "timeout",
			check: func() *config.HealthCheck {
				c := httpCheck()
				c.Timeout = config.Duration(200 * time.Millisecond)
				return c
			},
			fail:   func(b *backend) { b.setHold() },
			pass:   func(b *backend) { b.release() },
			reason: "read: timeout after 200ms",
		},
		{
			name:   "https",
			check:  httpCheck,
			tls:    true,
			fail:   func(b *backend) { b.set(503, "") },
			pass:   func(b *backend) { b.set(200, "") },
			reason: "status 503",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			b := newBackend(t)
			l := lb(tc.check(), "")
			if tc.tls {
				b = newTLSBackend(t)
				l.Transport = &config.Transport{TLS: &config.ClientTLS{InsecureSkipVerify: true}}
			}
			tc.pass(b)
			l.Servers[0].URL = b.URL
			e.sync(map[string]*config.LoadBalancer{"app": l})
			s := e.server("app", b.URL)
			p := e.prober("app", b.URL)
			eventually(t, "first probe", func() bool { return p.probes.Load() >= 2 })
			if !s.Available() || len(e.rec.transitions()) != 0 {
				t.Fatalf("passing server: available %v, transitions %v", s.Available(), e.rec.transitions())
			}
			if ok, lat, at := s.Probe(); !ok || lat <= 0 || time.Since(at) > wait {
				t.Errorf("Probe() = %v, %v, %v", ok, lat, at)
			}

			tc.fail(b)
			before := p.probes.Load()
			tr, n := e.rec.waitFor(t, 0, to(b.URL, StateDown))
			if got := p.probes.Load() - before; got < 3 {
				t.Errorf("down after %d probes, want unhealthyAfter = 3", got)
			}
			if tr.From != StateUp || tr.Service != "app" || !strings.Contains(tr.Reason, "3 probes failed in a row") ||
				!strings.Contains(tr.Reason, tc.reason) {
				t.Errorf("transition %+v", tr)
			}
			if s.Available() || s.Healthy() {
				t.Error("server down but available")
			}
			if ok, _, _ := s.Probe(); ok {
				t.Error("last probe ok while failing")
			}

			tc.pass(b)
			before = p.probes.Load()
			tr, _ = e.rec.waitFor(t, n, to(b.URL, StateUp))
			if got := p.probes.Load() - before; got < 2 {
				t.Errorf("up after %d probes, want healthyAfter = 2", got)
			}
			if tr.From != StateDown || !strings.Contains(tr.Reason, "2 probes passed in a row") {
				t.Errorf("transition %+v", tr)
			}
			if !s.Available() {
				t.Error("server up but not available")
			}
			e.m.Stop()
			checkLogged(t, e.rec)
		})
	}
}

// checkLogged checks that each transition was logged once, with its reason.
func checkLogged(t *testing.T, rec *recorder) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(rec.log.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "server state changed" {
			lines = append(lines, m)
		}
	}
	if len(lines) != len(rec.all) {
		t.Fatalf("%d log lines for %d transitions:\n%s", len(lines), len(rec.all), rec.log.String())
	}
	for i, tr := range rec.all {
		l := lines[i]
		if l["level"] != "INFO" || l["service"] != tr.Service || l["server"] != tr.Server || l["from"] != tr.From ||
			l["to"] != tr.To || l["reason"] != tr.Reason || tr.Reason == "" {
			t.Errorf("log line %v for %+v", l, tr)
		}
	}
}

// TCP mode only connects: a closed port fails, a listener passes.
func TestTCPMode(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	accept := func(ln net.Listener) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}
	go accept(ln)
	url := "http://" + addr
	check := &config.HealthCheck{Mode: "tcp", Interval: config.Duration(tick), Timeout: config.Duration(probeTimeout), HealthyAfter: 2, UnhealthyAfter: 2}
	e.sync(map[string]*config.LoadBalancer{"db": lb(check, url)})
	s := e.server("db", url)
	p := e.prober("db", url)
	eventually(t, "first probe", func() bool { return p.probes.Load() >= 1 })
	if ok, _, _ := s.Probe(); !ok || !s.Available() {
		t.Fatalf("listening server: probe ok %v, available %v", ok, s.Available())
	}
	ln.Close()
	tr, n := e.rec.waitFor(t, 0, to(url, StateDown))
	if !strings.HasSuffix(tr.Reason, "last: connect: connection refused") {
		t.Errorf("reason %q", tr.Reason)
	}
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen again on %s: %v", addr, err)
	}
	defer ln2.Close()
	go accept(ln2)
	e.rec.waitFor(t, n, to(url, StateUp))
	if !s.Available() {
		t.Error("not available after passing again")
	}
}

// What a probe sends: method, path under the server's prefix, Host, headers,
// and the port of the check rather than the server's.
func TestProbeRequest(t *testing.T) {
	e := newEnv(t)
	b := newBackend(t)
	_, port, _ := net.SplitHostPort(b.Listener.Addr().String())
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // the server's own port refuses: only the check's port answers
	url := "http://" + deadAddr + "/prefix"
	check := httpCheck()
	check.Method = "HEAD"
	check.Path = "/healthz?deep=1"
	check.Hostname = "health.example"
	check.Headers = map[string]string{"X-Probe": "usher"}
	check.Port, _ = strconv.Atoi(port)
	e.sync(map[string]*config.LoadBalancer{"app": lb(check, url)})
	p := e.prober("app", url)
	eventually(t, "a probe", func() bool { return p.probes.Load() >= 1 })
	r := b.lastRequest()
	if r == nil {
		t.Fatal("the check's port got no probe")
	}
	if r.Method != "HEAD" || r.URL.Path != "/prefix/healthz" || r.URL.RawQuery != "deep=1" || r.Host != "health.example" ||
		r.Header.Get("X-Probe") != "usher" || r.Header.Get("Connection") != "close" {
		t.Errorf("probe %s %s Host %s headers %v", r.Method, r.URL, r.Host, r.Header)
	}
	if ok, _, _ := e.server("app", url).Probe(); !ok {
		t.Error("probe on the check's port failed")
	}
}

// https is verified unless the service's transport says to skip it.
func TestHTTPSVerify(t *testing.T) {
	for _, insecure := range []bool{false, true} {
		t.Run(map[bool]string{false: "verify", true: "insecureSkipVerify"}[insecure], func(t *testing.T) {
			e := newEnv(t)
			b := newTLSBackend(t)
			l := lb(httpCheck(), b.URL)
			l.Transport = &config.Transport{TLS: &config.ClientTLS{InsecureSkipVerify: insecure}}
			e.sync(map[string]*config.LoadBalancer{"app": l})
			s, p := e.server("app", b.URL), e.prober("app", b.URL)
			eventually(t, "a probe", func() bool { return p.probes.Load() >= 1 })
			if ok, _, _ := s.Probe(); ok != insecure {
				t.Errorf("probe ok = %v", ok)
			}
			if !insecure {
				tr, _ := e.rec.waitFor(t, 0, to(b.URL, StateDown))
				if !strings.Contains(tr.Reason, "tls") || !strings.Contains(tr.Reason, "first probe failed") {
					t.Errorf("reason %q", tr.Reason)
				}
			}
		})
	}
}

// At boot servers are up until their first probe; a server added by a later
// reload is down (unknown) until its first passing probe.
func TestNewServerWaitsForFirstProbe(t *testing.T) {
	e := newEnv(t)
	a, b := newBackend(t), newBackend(t)
	hold := a.setHold()
	e.sync(map[string]*config.LoadBalancer{"app": lb(httpCheck(), a.URL)})
	sa := e.server("app", a.URL)
	if !sa.Available() {
		t.Fatal("at boot a server is up before its first probe")
	}
	close(hold)

	holdB := b.setHold()
	e.sync(map[string]*config.LoadBalancer{"app": lb(httpCheck(), a.URL, b.URL)})
	sb := e.server("app", b.URL)
	eventually(t, "the first probe of the new server under way", func() bool { return b.hits.Load() >= 1 })
	if sb.Available() {
		t.Fatal("a new server is available before its first probe passed")
	}
	close(holdB)
	tr, _ := e.rec.waitFor(t, 0, to(b.URL, StateUp))
	if tr.From != StateUnknown || !strings.Contains(tr.Reason, "first probe passed") {
		t.Errorf("transition %+v", tr)
	}
	if !sb.Available() || !sa.Available() {
		t.Error("servers not available after passing")
	}

	// One that fails its first probe stays out and needs healthyAfter passes.
	c := newBackend(t)
	c.set(500, "")
	e.sync(map[string]*config.LoadBalancer{"app": lb(httpCheck(), a.URL, b.URL, c.URL)})
	sc := e.server("app", c.URL)
	tr, n := e.rec.waitFor(t, 0, to(c.URL, StateDown))
	if tr.From != StateUnknown || sc.Available() {
		t.Errorf("transition %+v, available %v", tr, sc.Available())
	}
	c.set(200, "")
	e.rec.waitFor(t, n, to(c.URL, StateUp))
}

// The agent headers apply at once: Usher-Weight 50 halves the server's share in
// a round-robin picker, Usher-State drain stops new picks (and an operator's
// undrain does not undo it), down takes it down, and a response without them
// brings the server back to normal.
func TestAgent(t *testing.T) {
	e := newEnv(t)
	a, b := newBackend(t), newBackend(t)
	a.set(200, "", "Usher-Weight", "50%")
	e.sync(map[string]*config.LoadBalancer{"app": lb(httpCheck(), a.URL, b.URL)})
	sa, sb := e.server("app", a.URL), e.server("app", b.URL)
	tr, n := e.rec.waitFor(t, 0, to(a.URL, "weight 50%"))
	if tr.From != "weight 100%" || tr.Reason != "agent: Usher-Weight: 50%" || sa.AgentWeight() != 50 {
		t.Errorf("transition %+v, agent weight %d", tr, sa.AgentWeight())
	}

	p := roundRobin(t, sa, sb)
	// a has weight 1 at 50%, b weight 1: a's share is 1/3. The picks are a
	// Markov chain (a slot of a is taken with probability 1/2, else the pick
	// moves to b's slot); over 30000 picks the share's standard deviation is
	// below 0.005, so ±0.02 is beyond 4 of them.
	const picks = 30000
	got := 0
	for range picks {
		if p.Pick(0) == sa {
			got++
		}
	}
	if share := float64(got) / picks; share < 1.0/3-0.02 || share > 1.0/3+0.02 {
		t.Errorf("share of the server at 50%%: %.3f, want 1/3 ± 0.02 (half of the other's 2/3)", share)
	}

	for _, step := range []struct {
		state, header string
		available     bool
	}{
		{StateDrain, "drain", false},
		{StateDown, "down", false},
		{StateUp, "ready", true},
	} {
		a.set(200, "", "Usher-State", step.header)
		tr, n = e.rec.waitFor(t, n, to(a.URL, step.state))
		if tr.Reason != "agent: Usher-State: "+step.header {
			t.Errorf("reason %q", tr.Reason)
		}
		sa.SetDraining(false) // an operator's undrain does not undo the agent
		if sa.Available() != step.available {
			t.Errorf("after %s: available %v", step.header, sa.Available())
		}
		if !step.available {
			for range 100 {
				if p.Pick(0) == sa {
					t.Fatalf("server picked after the agent said %s", step.header)
				}
			}
		}
	}
	if sa.AgentWeight() != 100 {
		t.Errorf("the last response had no Usher-Weight: weight %d%%, want 100%%", sa.AgentWeight())
	}
	a.set(200, "", "Usher-Weight", "0")
	e.rec.waitFor(t, n, to(a.URL, "weight 0%"))
	if sa.Available() {
		t.Error("available at 0%")
	}
}

// roundRobin is a round-robin picker over servers of weight 1.
func roundRobin(t *testing.T, ss ...*pool.Server) balance.Picker {
	t.Helper()
	p, err := balance.New(balance.Options{Algorithm: balance.RoundRobin}, ss)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A check unchanged across reloads keeps its prober (its count goes on); a
// changed one gets a new prober that keeps the server's state; a removed one
// leaves the server up; a removed server's prober stops.
func TestSyncKeepsProbers(t *testing.T) {
	e := newEnv(t)
	a := newBackend(t)
	a.set(500, "")
	svc := func(check *config.HealthCheck) map[string]*config.LoadBalancer {
		return map[string]*config.LoadBalancer{"app": lb(check, a.URL)}
	}
	e.sync(svc(httpCheck()))
	s := e.server("app", a.URL)
	p1 := e.prober("app", a.URL)
	e.rec.waitFor(t, 0, to(a.URL, StateDown))
	count := p1.probes.Load()

	e.sync(svc(httpCheck()))
	if p := e.prober("app", a.URL); p != p1 {
		t.Fatal("an unchanged check got a new prober")
	}
	eventually(t, "the same prober probing on", func() bool { return p1.probes.Load() > count+2 })
	if s.Available() {
		t.Error("the server came up across the reload")
	}

	changed := httpCheck()
	changed.Interval = config.Duration(2 * tick)
	e.sync(svc(changed))
	p2 := e.prober("app", a.URL)
	if p2 == p1 || p2 == nil {
		t.Fatal("a changed check kept its prober")
	}
	select {
	case <-p1.done:
	default:
		t.Fatal("the old prober still runs")
	}
	eventually(t, "the new prober probing", func() bool { return p2.probes.Load() >= 2 })
	if s.Available() {
		t.Error("a changed check brought the failing server up")
	}

	n := len(e.rec.transitions())
	e.sync(svc(nil))
	if e.prober("app", a.URL) != nil {
		t.Fatal("a removed check kept its prober")
	}
	tr, _ := e.rec.waitFor(t, n, to(a.URL, StateUp))
	if tr.Reason != "health check removed" || !s.Available() {
		t.Errorf("transition %+v, available %v", tr, s.Available())
	}
	if _, _, at := s.Probe(); !at.IsZero() {
		t.Error("the probe of a removed check is still shown")
	}

	e.sync(svc(httpCheck()))
	p3 := e.prober("app", a.URL)
	e.sync(map[string]*config.LoadBalancer{"other": lb(nil, "http://127.0.0.1:1")})
	select {
	case <-p3.done:
	case <-time.After(wait):
		t.Fatal("the prober of a removed server still runs")
	}
}

// A snapshot compiled before the last one synced does not undo it.
func TestSyncIgnoresOlderSnapshot(t *testing.T) {
	e := newEnv(t)
	a := newBackend(t)
	old := e.sync(map[string]*config.LoadBalancer{"app": lb(nil, a.URL)})
	e.sync(map[string]*config.LoadBalancer{"app": lb(httpCheck(), a.URL)})
	p := e.prober("app", a.URL)
	e.m.Sync(e.ctx, old)
	if e.prober("app", a.URL) != p || p == nil {
		t.Fatal("an older snapshot changed the probers")
	}
}

// Stop, and the end of Sync's context, stop every goroutine: probers (some in
// the middle of a probe) and readmission timers.
func TestStopLeavesNoGoroutine(t *testing.T) {
	for _, how := range []string{"Stop", "context"} {
		t.Run(how, func(t *testing.T) {
			slow := newBackend(t)
			defer close(slow.setHold()) // probes hang until their timeout
			fast := newBackend(t)
			time.Sleep(10 * time.Millisecond)
			before := runtime.NumGoroutine()

			e := newEnv(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			e.ctx = ctx
			check := httpCheck()
			check.Timeout = config.Duration(time.Minute) // only a stop ends these probes
			l := lb(check, slow.URL, fast.URL)
			l.PassiveHealthCheck = &config.PassiveHealthCheck{MaxFailures: 1, EjectFor: config.Duration(time.Hour), MaxEjectedPercent: 50}
			snap := e.sync(map[string]*config.LoadBalancer{"app": l})
			eventually(t, "probes under way", func() bool { return slow.hits.Load() >= 1 && fast.hits.Load() >= 1 })
			// An ejection arms a timer that only Stop disarms.
			rep := e.m.Reporter("app", snap.Config.HTTP.Services["app"].LoadBalancer)
			rep.Report(e.server("app", fast.URL), true, 0)
			if !e.server("app", fast.URL).Ejected() {
				t.Fatal("not ejected")
			}
			probers := []*prober{e.prober("app", slow.URL), e.prober("app", fast.URL)}

			if how == "Stop" {
				e.m.Stop()
			} else {
				cancel()
				eventually(t, "stopped by the context", func() bool {
					e.m.mu.Lock()
					defer e.m.mu.Unlock()
					return e.m.stopped
				})
				e.m.Stop() // waits for what the context's stop started
			}
			for _, p := range probers {
				select {
				case <-p.done:
				default:
					t.Fatal("a prober runs after Stop")
				}
			}
			eventually(t, "goroutines back to "+strconv.Itoa(before), func() bool { return runtime.NumGoroutine() <= before })
			e.sync(map[string]*config.LoadBalancer{"app": lb(httpCheck(), fast.URL)})
			if p := e.prober("app", fast.URL); p != probers[1] {
				t.Error("Sync after Stop started a prober")
			}
		})
	}
}
