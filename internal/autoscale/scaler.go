package autoscale

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/pool"
)

// Spec is what the config says of an autoscaled service.
type Spec struct {
	Service      string
	Policy       Policy
	Floor        int // servers listed in the config, always there
	Interval     time.Duration
	DrainTimeout time.Duration
	// Queue bounds the requests held while no server is ready (min 0);
	// nil: none held, 503 at once.
	Queue *QueueSpec
	// Actuator starts and stops the servers; Kind names it (exec, docker)
	// and Key says what it is, so that a reload that changes it makes a new one.
	Actuator Actuator
	Kind     string
	Key      string
	// Endpoint is the docker actuator's engine ("" the default one), for
	// its containers to join through the Docker provider that follows it.
	Endpoint string
}

// QueueSpec bounds the wait of requests for a first server.
type QueueSpec struct {
	MaxSize int
	Timeout time.Duration
}

// Actuator makes the servers of a service number want: it starts or stops
// servers and returns the URLs of all those it keeps, which become the
// service's servers beside the floor. current are the URLs it returned
// last; drained are those of current that usher drained for it to stop.
type Actuator interface {
	Scale(ctx context.Context, want int, current, drained []string) ([]string, error)
}

// Pool is the load balancer of a snapshot as the scaler sees it.
type Pool interface {
	http.Handler
	Servers() []*pool.Server
}

// Scaler is the autoscaler of one service, kept across reloads by the
// Registry: its decider (samples, panic mode, cooldown) and the servers its
// actuator returned outlive snapshots. Its loop samples the load of the
// running snapshot's pool every interval, decides, and hands the count to
// its actuation goroutine, which calls the actuator (one call at a time,
// retried with backoff) and asks for a reload when the servers changed.
type Scaler struct {
	g *Registry

	mu        sync.Mutex
	spec      Spec
	dec       *Decider
	last      Decision
	history   []Decision // changes of the count, newest last
	adopted   []string   // the actuator's servers
	actErr    string     // the last actuation's error, "" after a success
	actAt     time.Time
	lastReqs  map[*pool.Server]uint64
	lastTick  time.Time
	arrivals  atomic.Int64 // requests held since the last tick (rps at zero)
	held      atomic.Int64 // requests held now
	pool      atomic.Pointer[poolBox]
	gauges    observe.ScaleGauges
	want      chan int // the latest count for the actuation goroutine
	poke      chan struct{}
	life      sync.Mutex // guards cancel and started
	cancel    context.CancelFunc
	started   bool
	done      sync.WaitGroup
	applied   int // the count the actuator last reached; -1: not yet
	actuating atomic.Bool
}

type poolBox struct{ p Pool }

const historySize = 20

func newScaler(g *Registry, spec Spec) *Scaler {
	start := max(spec.Policy.Min, spec.Floor)
	s := &Scaler{
		g: g, spec: spec, dec: NewDecider(spec.Policy, start, g.now()),
		want: make(chan int, 1), poke: make(chan struct{}, 1), applied: -1,
		gauges: g.Metrics.Autoscale(spec.Service),
	}
	return s
}

// Servers are the URLs of the servers the actuator returned, which the
// compile adds to the floor. The docker actuator's containers join through
// the Docker provider when one follows their engine: those it does not see
// fit for traffic (stopping, health starting or unhealthy, not seen yet)
// are left out until it does, and its change of them reloads.
func (s *Scaler) Servers() []string {
	s.mu.Lock()
	adopted := slices.Clone(s.adopted)
	kind, service, endpoint := s.spec.Kind, s.spec.Service, s.spec.Endpoint
	s.mu.Unlock()
	if kind != "docker" || s.g.Containers == nil {
		return adopted
	}
	fit, ok := s.g.Containers(service, endpoint)
	if !ok {
		return adopted
	}
	return slices.DeleteFunc(adopted, func(raw string) bool {
		u, err := url.Parse(raw)
		return err != nil || !fit[u.Hostname()]
	})
}

func (s *Scaler) setPool(p Pool) { s.pool.Store(&poolBox{p}) }

func (s *Scaler) current() Pool {
	if b := s.pool.Load(); b != nil {
		return b.p
	}
	return nil
}

// update takes a reload's spec: the policy applies from the next decision,
// the samples and the count are kept.
func (s *Scaler) update(spec Spec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if spec.Policy != s.spec.Policy {
		s.dec.p = spec.Policy
	}
	spec.Actuator = s.spec.Actuator // the same (Registry.Get): the one that runs
	s.spec = spec
}

func (s *Scaler) start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.life.Lock()
	s.cancel, s.started = cancel, true
	s.life.Unlock()
	s.mu.Lock()
	first := s.dec.Desired()
	s.mu.Unlock()
	s.send(first) // reach the start count (min) at once
	s.done.Add(2)
	go s.loop(ctx)
	go s.actuate(ctx)
}

// stop ends the loops and waits for them; the servers are left as they are.
func (s *Scaler) stop() {
	s.life.Lock()
	started, cancel := s.started, s.cancel
	s.life.Unlock()
	if started {
		cancel()
		s.done.Wait()
	}
}

// loop samples and decides every interval, and at once when a request is
// held with no server ready (a cold start waits for nobody).
func (s *Scaler) loop(ctx context.Context) {
	defer s.done.Done()
	s.mu.Lock()
	iv := s.spec.Interval
	s.mu.Unlock()
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.poke:
		}
		s.tick()
		s.mu.Lock()
		next := s.spec.Interval
		s.mu.Unlock()
		if next != iv { // a reload changed it
			iv = next
			t.Reset(iv)
		}
	}
}

// tick is one sample and one decision.
func (s *Scaler) tick() {
	now := s.g.now()
	load, ready := s.sample(now)
	s.mu.Lock()
	s.dec.Record(now, load)
	d := s.dec.Decide(now, ready)
	s.last = d
	if d.Direction != "none" {
		s.history = append(s.history, d)
		if len(s.history) > historySize {
			s.history = slices.Delete(s.history, 0, len(s.history)-historySize)
		}
	}
	name := s.spec.Service
	s.mu.Unlock()
	s.gauges.Set(d.Desired, ready, d.Panic, d.Direction)
	if d.Direction != "none" {
		s.g.log().Info("autoscale decision", "service", name, "direction", d.Direction, "from", d.Previous, "to", d.Desired,
			"ready", d.Ready, "panic", d.Panic, "stableAvg", d.StableAvg, "panicAvg", d.PanicAvg, "reason", d.Reason)
		if s.g.Events != nil {
			s.g.Events.Publish(observe.Event{Time: now, Type: "autoscale", Service: name,
				From: fmt.Sprint(d.Previous), To: fmt.Sprint(d.Desired), Reason: d.Reason})
		}
	}
	s.send(d.Desired)
}

// sample is the service's load now (in flight, the requests held
// included; or requests per second since the last sample) and the servers
// ready.
func (s *Scaler) sample(now time.Time) (float64, int) {
	var servers []*pool.Server
	if p := s.current(); p != nil {
		servers = p.Servers()
	}
	ready := 0
	for _, sv := range servers {
		if sv.Available() {
			ready++
		}
	}
	held := s.held.Load()
	arrived := s.arrivals.Swap(0)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spec.Policy.Metric == MetricRPS {
		reqs := make(map[*pool.Server]uint64, len(servers))
		var n uint64
		for _, sv := range servers {
			c := sv.Requests()
			reqs[sv] = c
			// A server new since the last sample counts from 0: it is new.
			n += c - s.lastReqs[sv]
		}
		elapsed := now.Sub(s.lastTick)
		first := s.lastTick.IsZero()
		s.lastReqs, s.lastTick = reqs, now
		if first || elapsed <= 0 {
			return float64(arrived), ready
		}
		return (float64(n) + float64(arrived)) / elapsed.Seconds(), ready
	}
	var n int64
	for _, sv := range servers {
		n += sv.InFlight()
	}
	return float64(n + held), ready
}

// send hands the count to the actuation goroutine; a newer one replaces
// one not taken yet.
func (s *Scaler) send(n int) {
	for {
		select {
		case s.want <- n:
			return
		default:
		}
		select {
		case <-s.want:
		default:
		}
	}
}

// actuate brings the actuator's servers to the count wanted, one call at a
// time; a failed call is retried with backoff (1s doubling to 30s), sooner
// only for another count.
func (s *Scaler) actuate(ctx context.Context) {
	defer s.done.Done()
	backoff := time.Second
	want, failed := -1, -1
	var retry *time.Timer
	var retryC <-chan time.Time
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case want = <-s.want:
			if want == failed {
				continue // the retry's timer decides
			}
		case <-retryC:
			want, retryC = failed, nil
		}
		if want == s.applied {
			failed, retryC, backoff = -1, nil, time.Second
			continue
		}
		s.actuating.Store(true)
		err := s.reach(ctx, want)
		s.actuating.Store(false)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			s.applied = want
			failed, retryC, backoff = -1, nil, time.Second
			continue
		}
		s.mu.Lock()
		s.actErr, s.actAt = err.Error(), s.g.now()
		name := s.spec.Service
		s.mu.Unlock()
		s.g.log().Error("autoscale actuator failed, retrying", "service", name, "desired", want, "retryIn", backoff.String(), "error", err.Error())
		failed = want
		if retry != nil {
			retry.Stop()
		}
		retry = time.NewTimer(backoff)
		retryC = retry.C
		backoff = min(backoff*2, 30*time.Second)
	}
}

// reach makes the count desired: servers beyond it are drained (no new
// requests, those in flight finish, for at most the drain timeout) before
// the actuator is asked to stop them.
func (s *Scaler) reach(ctx context.Context, desired int) error {
	s.mu.Lock()
	spec := s.spec
	current := slices.Clone(s.adopted)
	s.mu.Unlock()
	want := max(desired-spec.Floor, 0)
	var drained []string
	if want < len(current) {
		drained = current[want:]
		s.drain(ctx, drained, spec.DrainTimeout)
	}
	urls, err := spec.Actuator.Scale(ctx, want, current, drained)
	if err != nil {
		s.undrain(drained)
		return fmt.Errorf("%s actuator to %d: %w", spec.Kind, want, err)
	}
	s.mu.Lock()
	changed := !slices.Equal(urls, s.adopted)
	s.adopted = urls
	s.actErr, s.actAt = "", s.g.now()
	s.mu.Unlock()
	var kept []string // drained, but the actuator kept them: back in service
	for _, u := range drained {
		if slices.Contains(urls, u) {
			kept = append(kept, u)
		}
	}
	s.undrain(kept)
	if changed {
		s.g.log().Info("autoscale servers", "service", spec.Service, "desired", desired, "servers", urls)
		if s.g.Reload != nil {
			s.g.Reload(fmt.Sprintf("autoscale %s to %d", spec.Service, desired))
		}
	}
	return nil
}

// drain takes urls' servers out of the rotation and waits, at most
// timeout, for their requests in flight to end.
func (s *Scaler) drain(ctx context.Context, urls []string, timeout time.Duration) {
	servers := s.serversOf(urls)
	for _, sv := range servers {
		sv.SetDraining(true)
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		busy := false
		for _, sv := range servers {
			busy = busy || sv.InFlight() > 0
		}
		if !busy {
			return
		}
		time.Sleep(20 * time.Millisecond) // polled: a server's end signals nobody
	}
}

func (s *Scaler) undrain(urls []string) {
	for _, sv := range s.serversOf(urls) {
		sv.SetDraining(false)
	}
}

func (s *Scaler) serversOf(urls []string) []*pool.Server {
	p := s.current()
	if p == nil {
		return nil
	}
	var out []*pool.Server
	for _, sv := range p.Servers() {
		if slices.Contains(urls, sv.URL.String()) {
			out = append(out, sv)
		}
	}
	return out
}

// Errors of Hold.
var (
	ErrQueueFull    = errors.New("autoscale: queue full")
	ErrQueueTimeout = errors.New("autoscale: no server ready in time")
	ErrNoQueue      = errors.New("autoscale: no server ready and no queue")
)

// Hold waits for a ready server of the service, for a request that found
// none (the pool at zero, or starting): it returns the pool of the running
// snapshot once one of its servers is ready, or ErrQueueFull at once when
// the queue is full, ErrQueueTimeout when the wait is over, or the
// context's error. The scaler decides at once: a held request counts in
// its load.
//
// Not pool.Queue: that one hands over the slots of servers that exist, and
// here there is none yet; the servers that come are a new snapshot's.
func (s *Scaler) Hold(ctx context.Context) (http.Handler, error) {
	s.mu.Lock()
	q := s.spec.Queue
	s.mu.Unlock()
	if q == nil {
		return nil, ErrNoQueue
	}
	if s.held.Add(1) > int64(q.MaxSize) {
		s.held.Add(-1)
		return nil, ErrQueueFull
	}
	defer s.held.Add(-1)
	s.arrivals.Add(1)
	select {
	case s.poke <- struct{}{}:
	default:
	}
	t := time.NewTimer(q.Timeout)
	defer t.Stop()
	// Polled: readiness comes from a reload or a health check, which
	// signal nobody; 10ms is a small part of a cold start.
	tk := time.NewTicker(10 * time.Millisecond)
	defer tk.Stop()
	for {
		if p := s.current(); p != nil {
			for _, sv := range p.Servers() {
				if sv.Available() {
					return p, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
			return nil, ErrQueueTimeout
		case <-tk.C:
		}
	}
}

// QueueTimeout is how long Hold waits at most (0: it does not).
func (s *Scaler) QueueTimeout() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spec.Queue == nil {
		return 0
	}
	return s.spec.Queue.Timeout
}

// Status is what the admin API shows of a scaler.
type Status struct {
	Service    string     `json:"service"`
	Mode       string     `json:"mode"` // stable or panic
	Desired    int        `json:"desired"`
	Ready      int        `json:"ready"`
	Servers    int        `json:"servers"` // in the pool, ready or not
	Held       int64      `json:"held"`
	Min        int        `json:"min"`
	Max        int        `json:"max"`
	Metric     string     `json:"metric"`
	Target     float64    `json:"target"`
	Actuator   string     `json:"actuator"`
	Actuating  bool       `json:"actuating"`
	Adopted    []string   `json:"adopted"`
	LastError  string     `json:"lastError,omitempty"`
	Last       *Decision  `json:"last,omitempty"`
	History    []Decision `json:"history"`
	StableWin  string     `json:"stableWindow"`
	PanicWin   string     `json:"panicWindow"`
	CooldownIs string     `json:"cooldown"`
}

// Status returns the scaler's state.
func (s *Scaler) Status() Status {
	var servers []*pool.Server
	if p := s.current(); p != nil {
		servers = p.Servers()
	}
	ready := 0
	for _, sv := range servers {
		if sv.Available() {
			ready++
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.spec.Policy
	st := Status{
		Service: s.spec.Service, Mode: "stable", Desired: s.dec.Desired(), Ready: ready, Servers: len(servers),
		Held: s.held.Load(), Min: p.Min, Max: p.Max, Metric: p.Metric, Target: p.Target, Actuator: s.spec.Kind,
		Actuating: s.actuating.Load(), Adopted: slices.Clone(s.adopted), LastError: s.actErr,
		History: slices.Clone(s.history), StableWin: p.StableWindow.String(), PanicWin: p.PanicWindow.String(), CooldownIs: p.Cooldown.String(),
	}
	if st.Adopted == nil {
		st.Adopted = []string{}
	}
	if st.History == nil {
		st.History = []Decision{}
	}
	if !s.last.Time.IsZero() {
		l := s.last
		st.Last = &l
		if l.Panic {
			st.Mode = "panic"
		}
	}
	return st
}

func (g *Registry) log() *slog.Logger {
	if g.Log != nil {
		return g.Log
	}
	return slog.New(slog.DiscardHandler)
}
