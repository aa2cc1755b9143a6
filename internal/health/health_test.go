package health

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/balance"
	"github.com/usher-lb/usher/internal/pool"
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

// env is a Manager with a registry of servers, as a running usher has: each
// sync prepares the services, commits the registry then the plan, as a
// reload does.
type env struct {
	t   *testing.T
	reg *pool.Registry
	m   *Manager
	rec *recorder
}

func newEnv(t *testing.T) *env {
	rec := &recorder{more: make(chan struct{})}
	log := slog.New(slog.NewJSONHandler(rec, nil))
	e := &env{t: t, reg: pool.NewRegistry(), rec: rec}
	e.m = NewManager(log, rec.add)
	t.Cleanup(e.m.Stop)
	return e
}

// lbSpec is a load balancer of a test: its servers and checks.
type lbSpec struct {
	check   *Check
	passive *PassiveCheck
	urls    []string
}

func lb(check *Check, urls ...string) *lbSpec { return &lbSpec{check: check, urls: urls} }

// prepare builds the services of lbs (name → load balancer) on the registry
// and prepares them; the caller commits or aborts both.
func (e *env) prepare(lbs map[string]*lbSpec) (*pool.Build, *Plan, []Service) {
	e.t.Helper()
	b := e.reg.Begin()
	var svcs []Service
	names := make([]string, 0, len(lbs))
	for name := range lbs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		l := lbs[name]
		svc := Service{Name: name, Check: l.check}
		for _, raw := range l.urls {
			u, err := url.Parse(raw)
			if err != nil {
				e.t.Fatal(err)
			}
			svc.Servers = append(svc.Servers, e.reg.Get(b, name, u, 1))
		}
		if l.passive != nil {
			svc.Passive = e.m.Reporter(name, *l.passive, len(svc.Servers))
		}
		svcs = append(svcs, svc)
	}
	plan, err := e.m.Prepare(svcs)
	if err != nil {
		e.t.Fatal(err)
	}
	return b, plan, svcs
}

// sync applies lbs as a reload does, and returns their services.
func (e *env) sync(lbs map[string]*lbSpec) []Service {
	e.t.Helper()
	b, plan, svcs := e.prepare(lbs)
	b.Commit()
	plan.Commit()
	return svcs
}

func (e *env) server(svc, url string) *pool.Server {
	e.t.Helper()
	s, ok := e.reg.Lookup(pool.Key(svc, url))
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

func httpCheck() *Check {
	return &Check{
		Method: "GET", Path: "/healthz", Interval: tick, Timeout: probeTimeout,
		StatusMin: 200, StatusMax: 399, HealthyAfter: 2, UnhealthyAfter: 3,
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
		check      func() *Check
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
			check: func() *Check {
				c := httpCheck()
				c.StatusMin, c.StatusMax = 204, 204
				return c
			},
			fail:   func(b *backend) { b.set(200, "") },
			pass:   func(b *backend) { b.set(204, "") },
			reason: "status 200, want 204",
		},
		{
			name: "body regexp",
			check: func() *Check {
				c := httpCheck()
				c.Body = regexp.MustCompile(`^status: (ok|fine)$`)
				return c
			},
			fail:   func(b *backend) { b.set(200, "status: degraded") },
			pass:   func(b *backend) { b.set(200, "status: fine") },
			reason: "body does not match",
		},
		{
			name: "timeout",
			check: func() *Check {
				c := httpCheck()
				c.Timeout = 200 * time.Millisecond
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
			check := tc.check()
			if tc.tls {
				b = newTLSBackend(t)
				check.TLS = &tls.Config{InsecureSkipVerify: true}
			}
			tc.pass(b)
			e.sync(map[string]*lbSpec{"app": lb(check, b.URL)})
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
	check := &Check{TCP: true, Interval: tick, Timeout: probeTimeout, HealthyAfter: 2, UnhealthyAfter: 2}
	e.sync(map[string]*lbSpec{"db": lb(check, url)})
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
	check.Path, check.Query = "/healthz", "deep=1"
	check.Host = "health.example"
	check.Header = http.Header{"X-Probe": {"usher"}}
	check.Port, _ = strconv.Atoi(port)
	e.sync(map[string]*lbSpec{"app": lb(check, url)})
	p := e.prober("app", url)
	eventually(t, "a probe", func() bool { return p.probes.Load() >= 1 })
	r := b.lastRequest()
	if r == nil {
		t.Fatal("the check's port got no probe")
	}
	if r.Method != "HEAD" || r.URL.Path != "/prefix/healthz" || r.URL.RawQuery != "deep=1" || r.Host != "health.example" ||
		r.Header.Get("X-Probe") != "usher" || r.Header.Get("Connection") != "close" || r.UserAgent() != "usher-health-check" {
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
			check := httpCheck()
			check.TLS = &tls.Config{InsecureSkipVerify: insecure}
			e.sync(map[string]*lbSpec{"app": lb(check, b.URL)})
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
	e.sync(map[string]*lbSpec{"app": lb(httpCheck(), a.URL)})
	sa := e.server("app", a.URL)
	if !sa.Available() {
		t.Fatal("at boot a server is up before its first probe")
	}
	close(hold)

	holdB := b.setHold()
	e.sync(map[string]*lbSpec{"app": lb(httpCheck(), a.URL, b.URL)})
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
	e.sync(map[string]*lbSpec{"app": lb(httpCheck(), a.URL, b.URL, c.URL)})
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
	e.sync(map[string]*lbSpec{"app": lb(httpCheck(), a.URL, b.URL)})
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
func TestCommitKeepsProbers(t *testing.T) {
	e := newEnv(t)
	a := newBackend(t)
	a.set(500, "")
	svc := func(check *Check) map[string]*lbSpec {
		return map[string]*lbSpec{"app": lb(check, a.URL)}
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
	changed.Interval = 2 * tick
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
	e.sync(map[string]*lbSpec{"other": lb(nil, "http://127.0.0.1:1")})
	select {
	case <-p3.done:
	case <-time.After(wait):
		t.Fatal("the prober of a removed server still runs")
	}
}

// An aborted plan changes nothing: probers keep running with their check, a
// server of the plan stays as it was, a passive check met for the first time
// leaves no state behind; the plan prepared next applies as if the aborted
// one never was.
func TestAbortChangesNothing(t *testing.T) {
	e := newEnv(t)
	a, b := newBackend(t), newBackend(t)
	e.sync(map[string]*lbSpec{"app": lb(httpCheck(), a.URL)})
	p := e.prober("app", a.URL)
	sa := e.server("app", a.URL)

	changed := httpCheck()
	changed.Path = "/other"
	withPassive := lb(changed, a.URL, b.URL)
	withPassive.passive = &PassiveCheck{MaxFailures: 1, Window: time.Second, EjectFor: time.Hour, MaxEjectedPercent: 50}
	build, plan, _ := e.prepare(map[string]*lbSpec{"app": withPassive, "more": lb(httpCheck(), b.URL)})
	build.Abort()
	plan.Abort()
	plan.Commit() // after Abort: nothing
	if e.prober("app", a.URL) != p || e.prober("app", b.URL) != nil || e.prober("more", b.URL) != nil {
		t.Fatal("an aborted plan changed the probers")
	}
	if !p.check.Equal(httpCheck()) || !sa.Healthy() {
		t.Error("an aborted plan changed the running check or the server")
	}
	if _, ok := e.reg.Lookup(pool.Key("app", b.URL)); ok {
		t.Error("an aborted build added a server")
	}
	e.m.mu.Lock()
	groups := len(e.m.groups)
	e.m.mu.Unlock()
	if groups != 0 {
		t.Errorf("an aborted plan left %d passive groups", groups)
	}

	e.sync(map[string]*lbSpec{"app": lb(httpCheck(), a.URL)})
	if e.prober("app", a.URL) != p {
		t.Error("the same check after an aborted plan got a new prober")
	}
}

// Stop stops every goroutine: probers (some in the middle of a probe) and
// readmission timers; after it Prepare fails and nothing starts.
func TestStopLeavesNoGoroutine(t *testing.T) {
	slow := newBackend(t)
	defer close(slow.setHold()) // probes hang until their timeout
	fast := newBackend(t)
	time.Sleep(10 * time.Millisecond)
	before := runtime.NumGoroutine()

	e := newEnv(t)
	check := httpCheck()
	check.Timeout = time.Minute // only a stop ends these probes
	l := lb(check, slow.URL, fast.URL)
	l.passive = &PassiveCheck{MaxFailures: 1, Window: time.Second, EjectFor: time.Hour, MaxEjectedPercent: 50}
	svcs := e.sync(map[string]*lbSpec{"app": l})
	eventually(t, "probes under way", func() bool { return slow.hits.Load() >= 1 && fast.hits.Load() >= 1 })
	// An ejection arms a timer that only Stop disarms.
	svcs[0].Passive.Report(e.server("app", fast.URL), true, 0)
	if !e.server("app", fast.URL).Ejected() {
		t.Fatal("not ejected")
	}
	probers := []*prober{e.prober("app", slow.URL), e.prober("app", fast.URL)}

	e.m.Stop()
	for _, p := range probers {
		select {
		case <-p.done:
		default:
			t.Fatal("a prober runs after Stop")
		}
	}
	eventually(t, "goroutines back to "+strconv.Itoa(before), func() bool { return runtime.NumGoroutine() <= before })
	if _, err := e.m.Prepare(nil); err != ErrStopped {
		t.Errorf("Prepare after Stop: %v", err)
	}
}
