package autoscale

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/pool"
)

// fakeActuator returns n URLs, failing the first fails calls.
type fakeActuator struct {
	mu    sync.Mutex
	fails int
	calls []int
}

func (f *fakeActuator) Scale(_ context.Context, want int, _, _ []string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, want)
	if f.fails > 0 {
		f.fails--
		return nil, errors.New("no capacity")
	}
	out := []string{}
	for i := range want {
		out = append(out, "http://127.0.0.1:"+string(rune('1'+i)))
	}
	return out, nil
}

type fakePool struct{ servers []*pool.Server }

func (p *fakePool) ServeHTTP(http.ResponseWriter, *http.Request) {}
func (p *fakePool) Servers() []*pool.Server                      { return p.servers }

func testSpec(a Actuator, minN int) Spec {
	s := Spec{Service: "app", Policy: Policy{Min: minN, Max: 3, Target: 1, Metric: MetricInFlight, StableWindow: time.Second,
		PanicWindow: 200 * time.Millisecond, PanicThreshold: 2, Cooldown: time.Second},
		Interval: 50 * time.Millisecond, DrainTimeout: time.Second, Actuator: a, Kind: "fake"}
	if minN == 0 {
		s.Queue = &QueueSpec{MaxSize: 1, Timeout: 100 * time.Millisecond}
	}
	return s
}

// A failed actuation is retried with backoff, and the servers it returns
// ask for a reload.
func TestScalerRetriesAndReloads(t *testing.T) {
	act := &fakeActuator{fails: 1}
	reloads := make(chan string, 4)
	g := NewRegistry()
	g.Reload = func(reason string) { reloads <- reason }
	b := g.Begin()
	s := b.Get(testSpec(act, 2))
	b.SetPool(s, &fakePool{})
	b.Commit()
	defer g.Close()
	select {
	case r := <-reloads:
		if r != "autoscale app to 2" {
			t.Fatalf("reload reason %q", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reload after the retry")
	}
	if got := s.Servers(); len(got) != 2 {
		t.Fatalf("servers %q", got)
	}
	act.mu.Lock()
	defer act.mu.Unlock()
	if len(act.calls) != 2 || act.calls[0] != 2 || act.calls[1] != 2 {
		t.Fatalf("calls %v, want a failure and a retry of 2", act.calls)
	}
	// The same spec again keeps the scaler and its servers.
	b2 := g.Begin()
	if s2 := b2.Get(testSpec(act, 2)); s2 != s {
		t.Fatal("a reload with the same actuator made a new scaler")
	}
	b2.Commit()
}

// Hold waits for a ready server, within its bounds.
func TestScalerHold(t *testing.T) {
	g := NewRegistry()
	b := g.Begin()
	s := b.Get(testSpec(&fakeActuator{}, 0))
	p := &fakePool{}
	b.SetPool(s, p)
	b.Commit() // not started: the registry is not running its loops here
	s.stop()

	done := make(chan error, 1)
	go func() { _, err := s.Hold(context.Background()); done <- err }()
	for s.held.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if _, err := s.Hold(context.Background()); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("a second request with maxSize 1: %v, want ErrQueueFull", err)
	}
	if err := <-done; !errors.Is(err, ErrQueueTimeout) {
		t.Fatalf("no server within the timeout: %v, want ErrQueueTimeout", err)
	}

	u, _ := url.Parse("http://127.0.0.1:1")
	ready := &fakePool{servers: []*pool.Server{pool.NewServer("app|x", u, 1)}}
	go func() {
		time.Sleep(20 * time.Millisecond)
		s.setPool(ready)
	}()
	h, err := s.Hold(context.Background())
	if err != nil || h != ready {
		t.Fatalf("got %v, %v; want the pool with a ready server", h, err)
	}
}
