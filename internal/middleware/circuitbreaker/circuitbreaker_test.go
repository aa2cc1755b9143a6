package circuitbreaker

import (
	"math"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/observe"
)

// clock is a clock the test moves.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() int64          { return c.ns.Load() }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }

func TestWindowArithmetic(t *testing.T) {
	w := newWindow()
	var s stats
	sec := time.Second
	// Second 0: 10 requests, 2 network errors (502), 3 500s, 5 200s.
	for i := 0; i < 10; i++ {
		code, net := 200, false
		switch {
		case i < 2:
			code, net = 502, true
		case i < 5:
			code = 500
		}
		w.record(int64(100*time.Millisecond), code, net, time.Duration(i+1)*time.Millisecond)
	}
	w.sum(int64(500*time.Millisecond), &s)
	if s.total != 10 || s.NetworkErrorRatio() != 0.2 {
		t.Fatalf("total %d, net ratio %v", s.total, s.NetworkErrorRatio())
	}
	if got := s.ResponseCodeRatio(500, 600, 0, 600); got != 0.5 {
		t.Errorf("5xx ratio %v, want 0.5", got)
	}
	if got := s.ResponseCodeRatio(500, 501, 500, 600); got != 0.6 {
		t.Errorf("500 among 5xx %v, want 0.6", got)
	}
	if got := s.ResponseCodeRatio(400, 500, 400, 500); got != 0 {
		t.Errorf("ratio over nothing %v, want 0", got)
	}
	// Latencies 1..10ms: the median is 5ms, p100 10ms, within the
	// histogram's precision.
	for _, c := range []struct{ q, want float64 }{{50, 5}, {100, 10}, {10, 1}} {
		if got := s.LatencyAtQuantileMS(c.q); math.Abs(got-c.want)/c.want > 0.07 {
			t.Errorf("p%v = %vms, want %vms", c.q, got, c.want)
		}
	}

	// Second 5: 10 more, all 200.
	for i := 0; i < 10; i++ {
		w.record(int64(5*sec+time.Millisecond), 200, false, time.Millisecond)
	}
	w.sum(int64(5*sec+2*time.Millisecond), &s)
	if s.total != 20 || s.NetworkErrorRatio() != 0.1 || s.ResponseCodeRatio(500, 600, 0, 600) != 0.25 {
		t.Errorf("after 5s: total %d, net %v, 5xx %v", s.total, s.NetworkErrorRatio(), s.ResponseCodeRatio(500, 600, 0, 600))
	}
	// At 10s the first second has left the window; at 15s everything.
	w.sum(int64(10*sec), &s)
	if s.total != 10 || s.NetworkErrorRatio() != 0 {
		t.Errorf("at 10s: total %d, net %v", s.total, s.NetworkErrorRatio())
	}
	w.sum(int64(15*sec), &s)
	if s.total != 0 || s.NetworkErrorRatio() != 0 || s.LatencyAtQuantileMS(50) != 0 {
		t.Errorf("at 15s: total %d", s.total)
	}
	// The ring reuses second 0's bucket for second 10: it starts clean.
	w.record(int64(10*sec), 200, false, time.Millisecond)
	w.sum(int64(10*sec), &s)
	if s.total != 11 || s.NetworkErrorRatio() != 0 {
		t.Errorf("bucket reused: total %d, net %v", s.total, s.NetworkErrorRatio())
	}
	w.reset()
	w.sum(int64(10*sec), &s)
	if s.total != 0 {
		t.Errorf("after reset: total %d", s.total)
	}
	w.record(int64(10*sec), 500, false, time.Millisecond)
	w.sum(int64(10*sec), &s)
	if s.total != 1 || s.ResponseCodeRatio(500, 600, 0, 600) != 1 {
		t.Errorf("after reset and one 500: total %d", s.total)
	}
}

func TestLatencyBuckets(t *testing.T) {
	prev := -1
	for us := int64(0); us < 1<<30; us = us*9/8 + 1 {
		i := latIndex(us)
		if i < prev || i >= nLat {
			t.Fatalf("latIndex(%d) = %d after %d", us, i, prev)
		}
		prev = i
		if v := latValue(i); us >= latExact && math.Abs(v-float64(us))/float64(us) > 0.07 {
			t.Fatalf("latValue(latIndex(%d)) = %v: off by more than 7%%", us, v)
		}
	}
	if latIndex(-5) != 0 || latIndex(math.MaxInt64) != nLat-1 {
		t.Error("out-of-range latencies not clamped")
	}
}

// harness is a breaker on a fake clock in front of a server whose answer the
// test sets.
type harness struct {
	t      *testing.T
	clk    *clock
	b      *Breaker
	status atomic.Int64
	netErr atomic.Bool
	hits   atomic.Int64
	sent   atomic.Int64
}

func newHarness(t *testing.T, cfg *config.CircuitBreaker, e *env.Env, clk *clock) *harness {
	h := &harness{t: t, clk: clk}
	h.status.Store(200)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.hits.Add(1)
		if h.netErr.Load() {
			if rec := observe.From(w); rec != nil {
				rec.Error = observe.ErrUpstream
			}
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(int(h.status.Load()))
	})
	ctx := t.Context()
	if e != nil {
		ctx = env.With(ctx, e)
	}
	b, err := build(ctx, next, cfg, "cb", clk.now)
	if err != nil {
		t.Fatal(err)
	}
	h.b = b
	return h
}

// do sends one request through a Recorder, as the entrypoint does, and
// returns the status.
func (h *harness) do() (int, http.Header) {
	h.sent.Add(1)
	w := httptest.NewRecorder()
	rec := observe.NewRecorder(w)
	defer rec.Release()
	h.b.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	return w.Code, w.Header()
}

func (h *harness) send(n int) (passed int) {
	before := h.hits.Load()
	for i := 0; i < n; i++ {
		h.do()
	}
	return int(h.hits.Load() - before)
}

func (h *harness) wantState(s string) {
	h.t.Helper()
	if got := h.b.State(); got != s {
		h.t.Fatalf("state %s, want %s", got, s)
	}
}

func TestStateMachine(t *testing.T) {
	m := observe.NewMetrics()
	e := env.New(env.Config{Metrics: m}, nil)
	clk := &clock{}
	h := newHarness(t, &config.CircuitBreaker{Expression: "ResponseCodeRatio(500, 600, 0, 600) > 0.5"}, e, clk)

	// Closed: healthy traffic passes.
	for i := 0; i < 20; i++ {
		h.do()
		clk.add(10 * time.Millisecond)
	}
	h.wantState("closed")

	// The server fails: 20 500s on top of 20 200s is a ratio of 0.5, not
	// above it; one more opens the circuit at the next check.
	h.status.Store(500)
	for i := 0; i < 20; i++ {
		h.do()
		clk.add(10 * time.Millisecond)
	}
	h.wantState("closed")
	clk.add(100 * time.Millisecond)
	h.do()
	h.wantState("open")
	if got := testutil.ToFloat64(h.b.changes[open].Counter()); got != 1 {
		t.Errorf("open changes counted %v, want 1", got)
	}

	// Open: answered at once, the server sees nothing.
	if n := h.send(50); n != 0 {
		t.Fatalf("%d requests reached the server while open", n)
	}
	code, hdr := h.do()
	if code != 503 || hdr.Get("Retry-After") != "10" || hdr.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("open answer: %d %v", code, hdr)
	}
	clk.add(4500 * time.Millisecond)
	if _, hdr := h.do(); hdr.Get("Retry-After") != "6" {
		t.Errorf("Retry-After %q 4.5s into 10s, want 6", hdr.Get("Retry-After"))
	}
	h.status.Store(200) // healed, but the breaker does not know yet
	clk.add(5 * time.Second)
	if n := h.send(10); n != 0 {
		t.Fatalf("%d requests passed before fallbackDuration was over", n)
	}

	// Recovering: the share let through ramps with time.
	clk.add(600 * time.Millisecond) // 10.1s after opening
	if n := h.send(1); n != 0 {
		t.Errorf("the ramp's first request passed")
	}
	h.wantState("recovering")
	start := h.b.st.since.Load()
	for _, frac := range []float64{0.25, 0.5, 0.75} {
		clk.ns.Store(start + int64(frac*float64(10*time.Second)))
		if n := h.send(400); math.Abs(float64(n)-frac*400) > 2 {
			t.Errorf("at %v of recovery: %d of 400 let through", frac, n)
		}
		h.wantState("recovering")
	}

	// The end of the ramp closes the circuit.
	clk.ns.Store(start + int64(10*time.Second))
	if n := h.send(20); n != 20 {
		t.Errorf("closed again: %d of 20 passed", n)
	}
	h.wantState("closed")
	for s, want := range map[int32]float64{open: 1, recovering: 1, closed: 1} {
		if got := testutil.ToFloat64(h.b.changes[s].Counter()); got != want {
			t.Errorf("changes to %s: %v, want %v", stateNames[s], got, want)
		}
	}
	allow := testutil.ToFloat64(m.Decision(kind, "cb", "allow").Counter())
	deny := testutil.ToFloat64(m.Decision(kind, "cb", "deny").Counter())
	if allow != float64(h.hits.Load()) || allow+deny != float64(h.sent.Load()) {
		t.Errorf("decisions: allow %v, deny %v; the server saw %d of %d", allow, deny, h.hits.Load(), h.sent.Load())
	}
}

func TestRecoveryThatFailsOpensAgain(t *testing.T) {
	clk := &clock{}
	h := newHarness(t, &config.CircuitBreaker{Expression: "NetworkErrorRatio() > 0.5", FallbackDuration: config.Duration(time.Second), RecoveryDuration: config.Duration(2 * time.Second)}, nil, clk)
	h.netErr.Store(true)
	h.do()
	clk.add(150 * time.Millisecond)
	h.do()
	h.wantState("open")
	clk.add(time.Second)
	h.do()
	h.wantState("recovering")
	// Half-way through the ramp probes go, and fail: the next check opens
	// the circuit again.
	clk.add(time.Second)
	if n := h.send(10); n == 0 {
		t.Fatal("no probe half-way through recovery")
	}
	clk.add(150 * time.Millisecond)
	h.send(1)
	h.wantState("open")
	if h.b.changes[open].Counter() != nil {
		t.Error("a standalone env counts") // no metrics: nothing counted
	}
}

func TestNetworkErrorsWithoutRecord(t *testing.T) {
	clk := &clock{}
	h := newHarness(t, &config.CircuitBreaker{Expression: "NetworkErrorRatio() > 0.5"}, nil, clk)
	h.status.Store(504)
	// No Record: a 502 or 504 is a network error.
	w := httptest.NewRecorder()
	h.b.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	clk.add(200 * time.Millisecond)
	h.b.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	h.wantState("open")

	// With a Record, a 502 the server sent itself is not one.
	clk2 := &clock{}
	h2 := newHarness(t, &config.CircuitBreaker{Expression: "NetworkErrorRatio() > 0.5"}, nil, clk2)
	h2.status.Store(502)
	h2.do()
	clk2.add(200 * time.Millisecond)
	h2.do()
	h2.wantState("closed")
}

func TestResponseCodeAndLatencyOptions(t *testing.T) {
	clk := &clock{}
	h := newHarness(t, &config.CircuitBreaker{Expression: "NetworkErrorRatio() > 0.1", ResponseCode: 529, CheckPeriod: config.Duration(time.Second)}, nil, clk)
	h.netErr.Store(true)
	h.do()
	clk.add(500 * time.Millisecond)
	h.do()
	h.wantState("closed") // checkPeriod is 1s: not evaluated yet
	clk.add(600 * time.Millisecond)
	h.do()
	h.wantState("open")
	if code, _ := h.do(); code != 529 {
		t.Errorf("open answer %d, want responseCode 529", code)
	}
}

func TestStateKeptAcrossReloads(t *testing.T) {
	store := env.NewStore()
	defer store.Close()
	clk := &clock{}
	compile := func(exprText string) *harness {
		b := store.Begin()
		h := newHarness(t, &config.CircuitBreaker{Expression: exprText}, env.New(env.Config{}, b), clk)
		b.Commit()
		return h
	}
	h := compile("NetworkErrorRatio() > 0.5")
	h.netErr.Store(true)
	h.do()
	clk.add(200 * time.Millisecond)
	h.do()
	h.wantState("open")

	// Same expression, spelled otherwise: the same breaker, still open.
	h2 := compile(" NetworkErrorRatio()>0.50 ")
	h2.wantState("open")
	if n := h2.send(5); n != 0 {
		t.Errorf("%d requests passed the reloaded open breaker", n)
	}
	// Another expression: a new breaker, closed.
	h3 := compile("NetworkErrorRatio() > 0.9")
	h3.wantState("closed")
	if n := h3.send(5); n != 5 {
		t.Errorf("new breaker let %d of 5 through", n)
	}
}

func TestConcurrentRequests(t *testing.T) {
	clk := &clock{}
	h := newHarness(t, &config.CircuitBreaker{Expression: "ResponseCodeRatio(500, 600, 0, 600) > 0.5 || LatencyAtQuantileMS(99) > 1000"}, nil, clk)
	h.status.Store(500)
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 500; i++ {
				h.do()
				clk.add(time.Millisecond)
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
	if s := h.b.State(); s == "closed" {
		t.Errorf("state %s after 4000 500s", s)
	}
}
