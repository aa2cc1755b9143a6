package deploy

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/service"
)

// handler is an always available service.
type handler func(http.ResponseWriter, *http.Request)

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h(w, r) }
func (h handler) Available() bool                                  { return true }

// clock is a fake clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func canarySpec() Spec {
	return Spec{
		Service: "shop", Arms: []string{"stable", "next"}, Weights: []int{100, 0},
		Canary: &Canary{Arm: 1, Steps: []int{5, 25, 50, 100}, Interval: time.Minute, MaxErrorRate: 0.01, MaxP99: 200 * time.Millisecond, MinRequests: 50},
	}
}

func newTestRollout(t *testing.T, spec Spec) (*Rollout, *clock, *observe.Bus) {
	t.Helper()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	bus := observe.NewBus(100)
	return newRollout(spec, c.now, bus, discard()), c, bus
}

// serve records n canary responses of status taking d.
func serve(r *Rollout, arm, n, status int, d time.Duration) {
	for range n {
		r.live.Meters[arm].Observe(status, d)
	}
}

func share(r *Rollout, arm int) float64 {
	w := r.live.Plan().Weights
	total := 0
	for _, n := range w {
		total += n
	}
	return float64(w[arm]) / float64(total)
}

func TestCanaryPromotedThroughEverySteps(t *testing.T) {
	r, clk, bus := newTestRollout(t, canarySpec())
	want := []float64{0.05, 0.25, 0.5, 1}
	for i, w := range want {
		if got := share(r, 1); got != w {
			t.Fatalf("step %d: canary share %v, want %v", i+1, got, w)
		}
		serve(r, 1, 100, 200, 10*time.Millisecond)
		clk.add(59 * time.Second)
		r.tick()
		if got := share(r, 1); got != w {
			t.Fatalf("step %d judged before its interval: share %v", i+1, got)
		}
		clk.add(time.Second)
		r.tick()
	}
	st := r.Status()
	if st.Canary.State != Promoted || share(r, 1) != 1 {
		t.Fatalf("state %s share %v, want promoted at 100%%", st.Canary.State, share(r, 1))
	}
	var actions []string
	for _, e := range st.History {
		actions = append(actions, e.Action)
	}
	if !slices.Equal(actions, []string{"start", "step", "step", "step", "promoted"}) {
		t.Fatalf("history %v", actions)
	}
	if n := len(bus.Recent()); n != 4 {
		t.Fatalf("%d events, want 4: %+v", n, bus.Recent())
	}
	if e := bus.Recent()[0]; e.Type != "canary" || e.From != "step 1 of 4 (5%)" || e.To != "step 2 of 4 (25%)" || !strings.Contains(e.Reason, "met the thresholds") {
		t.Fatalf("first event %+v", e)
	}
	// Promoted stays: no more verdicts.
	clk.add(time.Hour)
	r.tick()
	if r.Status().Canary.State != Promoted {
		t.Fatal("a promoted canary moved")
	}
}

func TestCanaryRolledBackAtOnceOnErrors(t *testing.T) {
	r, clk, bus := newTestRollout(t, canarySpec())
	serve(r, 1, 100, 200, time.Millisecond)
	clk.add(time.Minute)
	r.tick() // to 25%
	serve(r, 1, 95, 200, time.Millisecond)
	serve(r, 1, 5, 503, time.Millisecond)
	clk.add(time.Minute)
	r.tick()
	st := r.Status()
	if st.Canary.State != RolledBack || share(r, 1) != 0 || share(r, 0) != 1 {
		t.Fatalf("state %s canary share %v", st.Canary.State, share(r, 1))
	}
	if !strings.Contains(st.Canary.Reason, "error rate 5% (5 of 100 requests over 1m0s) is above maxErrorRate 1%") {
		t.Fatalf("reason %q", st.Canary.Reason)
	}
	last := bus.Recent()[len(bus.Recent())-1]
	if last.From != "step 2 of 4 (25%)" || last.To != "rolledBack (0%)" {
		t.Fatalf("event %+v", last)
	}
	// A rolled-back canary stays at 0 whatever comes.
	serve(r, 1, 1000, 200, time.Millisecond)
	clk.add(time.Hour)
	r.tick()
	if share(r, 1) != 0 {
		t.Fatal("a rolled-back canary got traffic again")
	}
}

func TestCanaryRolledBackOnP99(t *testing.T) {
	r, clk, _ := newTestRollout(t, canarySpec())
	serve(r, 1, 90, 200, time.Millisecond)
	serve(r, 1, 10, 200, time.Second) // the slowest tenth: p99 is a second
	clk.add(time.Minute)
	r.tick()
	if st := r.Status(); st.Canary.State != RolledBack || !strings.Contains(st.Canary.Reason, "above maxP99 200ms") {
		t.Fatalf("state %s reason %q", st.Canary.State, st.Canary.Reason)
	}
}

func TestCanaryNotEnoughTraffic(t *testing.T) {
	r, clk, bus := newTestRollout(t, canarySpec())
	serve(r, 1, 10, 200, time.Millisecond)
	clk.add(time.Minute)
	r.tick()
	st := r.Status()
	if st.Canary.State != Progressing || st.Canary.Step != 1 || share(r, 1) != 0.05 {
		t.Fatalf("promoted blind: %+v", st.Canary)
	}
	if !strings.HasPrefix(st.Canary.Reason, "not enough traffic: 10 of minRequests 50 requests in 1m0s") {
		t.Fatalf("reason %q", st.Canary.Reason)
	}
	// Said once per step, not at every look.
	clk.add(time.Second)
	r.tick()
	if n := len(bus.Recent()); n != 1 {
		t.Fatalf("%d events, want 1", n)
	}
	// The step keeps counting: once it has minRequests it is judged.
	serve(r, 1, 40, 200, time.Millisecond)
	clk.add(time.Second)
	r.tick()
	if st := r.Status(); st.Canary.Step != 2 {
		t.Fatalf("not judged once the traffic came: %+v", st.Canary)
	}
}

func TestCanaryFewRequestsManyErrorsFails(t *testing.T) {
	r, clk, _ := newTestRollout(t, canarySpec())
	// 1% of minRequests 50 is 0.5: one error already fails whatever follows.
	serve(r, 1, 3, 200, time.Millisecond)
	serve(r, 1, 1, 502, time.Millisecond)
	clk.add(time.Minute)
	r.tick()
	if st := r.Status(); st.Canary.State != RolledBack {
		t.Fatalf("state %s: %s", st.Canary.State, st.Canary.Reason)
	}
}

func TestCanaryPromoteAndAbortByHand(t *testing.T) {
	r, _, _ := newTestRollout(t, canarySpec())
	if err := r.Promote(false); err != nil || r.Status().Canary.Step != 2 {
		t.Fatalf("promote: %v %+v", err, r.Status().Canary)
	}
	if err := r.Switch("next"); err != ErrCanaryRunning {
		t.Fatalf("switch during a canary: %v", err)
	}
	if err := r.Abort(); err != nil || share(r, 1) != 0 || r.Status().Canary.State != Aborted {
		t.Fatalf("abort: %v", err)
	}
	if err := r.Abort(); err != ErrNotRunning {
		t.Fatalf("second abort: %v", err)
	}
	if err := r.Promote(false); err != nil || r.Status().Canary.Step != 1 || share(r, 1) != 0.05 {
		t.Fatalf("restart: %v %+v", err, r.Status().Canary)
	}
	if err := r.Promote(true); err != nil || r.Status().Canary.State != Promoted || share(r, 1) != 1 {
		t.Fatalf("full promote: %v %+v", err, r.Status().Canary)
	}
	if err := r.Promote(false); err != ErrDone {
		t.Fatalf("promote when promoted: %v", err)
	}
}

func TestCanaryWeightsKeepOthersProportions(t *testing.T) {
	got := canaryWeights([]int{3, 1, 0}, 2, 20)
	// 80% shared 3:1 by the others, 20% to the canary.
	if got[0]*4 != got[1]*12 || float64(got[2])/float64(got[0]+got[1]+got[2]) != 0.2 {
		t.Fatalf("weights %v", got)
	}
}

func TestSwitchDrainsAndGoesBack(t *testing.T) {
	spec := Spec{Service: "shop", Arms: []string{"blue", "green"}, Weights: []int{1, 0}}
	r, _, bus := newTestRollout(t, spec)
	// A request in flight on blue, through the weighted service.
	release, entered := make(chan struct{}), make(chan struct{})
	blue := handler(func(w http.ResponseWriter, _ *http.Request) { close(entered); <-release })
	ws, err := service.NewWeightedWith("shop", []service.Arm{{Name: "blue", Handler: blue, Weight: 1}, {Name: "green", Handler: handler(func(http.ResponseWriter, *http.Request) {}), Weight: 0}}, service.WeightedOptions{Live: r.Live()})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		ws.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	<-entered
	if err := r.Switch("green"); err != nil {
		t.Fatal(err)
	}
	if share(r, 1) != 1 {
		t.Fatalf("green share %v", share(r, 1))
	}
	st := r.Status()
	if st.Mode != "switch" || st.Arms[0].State != "draining" || st.Arms[1].State != "serving" {
		t.Fatalf("status %+v", st.Arms)
	}
	r.tick()
	if r.Status().Arms[0].State != "draining" {
		t.Fatal("drained with a request in flight")
	}
	close(release)
	<-served
	r.tick()
	if r.Status().Arms[0].State != "idle" {
		t.Fatal("not drained once the request ended")
	}
	ev := bus.Recent()
	if len(ev) != 2 || ev[0].From != "blue 100%" || ev[0].To != "green 100%" || ev[1].To != "drained" {
		t.Fatalf("events %+v", ev)
	}
	if err := r.Back(); err != nil || share(r, 0) != 1 {
		t.Fatalf("back: %v", err)
	}
	if err := r.Back(); err != nil || share(r, 1) != 1 {
		t.Fatalf("back again: %v", err)
	}
	if err := r.Switch("nope"); err != ErrNoArm {
		t.Fatalf("switch to nothing: %v", err)
	}
}

func TestBackWithoutSwitch(t *testing.T) {
	r, _, _ := newTestRollout(t, Spec{Service: "s", Arms: []string{"a", "b"}, Weights: []int{1, 1}})
	if err := r.Back(); err != ErrNothingBack {
		t.Fatalf("got %v", err)
	}
}

func TestRegistryKeepsRolloutWhileSpecIsTheSame(t *testing.T) {
	g := NewRegistry()
	defer g.Close()
	b := g.Begin()
	r1 := b.Get(canarySpec())
	b.Commit()
	if err := r1.Promote(false); err != nil {
		t.Fatal(err)
	}
	b = g.Begin()
	if r := b.Get(canarySpec()); r != r1 {
		t.Fatal("the same canary was not kept across a reload")
	}
	b.Commit()
	changed := canarySpec()
	changed.Canary.Steps = []int{10, 100}
	b = g.Begin()
	r2 := b.Get(changed)
	if r2 == r1 || r2.Status().Canary.Step != 1 {
		t.Fatal("a changed canary kept its state")
	}
	b.Abort()
	if r, _ := g.Lookup("shop"); r != r1 {
		t.Fatal("an aborted build changed the registry")
	}
	b = g.Begin()
	b.Commit() // the service is gone: its loop stops
	r1.mu.Lock()
	done := r1.done
	r1.mu.Unlock()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the loop of a dropped rollout did not stop")
	}
	if _, ok := g.Lookup("shop"); ok {
		t.Fatal("a dropped service is still kept")
	}
}

func TestRegistryCloseStopsLoops(t *testing.T) {
	g := NewRegistry()
	b := g.Begin()
	r := b.Get(canarySpec())
	b.Commit()
	g.Close()
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	select {
	case <-done:
	default:
		t.Fatal("Close returned with a loop running")
	}
}
