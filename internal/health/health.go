// Package health decides which servers of load balancers take traffic, from
// three sources:
//
//   - active checks (the heartbeat, a load balancer's healthCheck): a probe per
//     server every interval, HTTP or a bare TCP connect, on a connection of its
//     own; healthyAfter passes in a row bring a server up, unhealthyAfter failures
//     take it down (active.go);
//   - the agent: a probe response may carry Usher-Weight (percent of the
//     configured weight) or Usher-State (ready, drain, down), applied at once, as
//     HAProxy's agent-check (active.go);
//   - passive checks (passiveHealthCheck): outlier ejection from the outcomes of
//     real requests, reported by the load balancer (passive.go).
//
// Verdicts are written into the state bits of the shared pool.Server (down,
// ejected, agent drain and down, agent weight), which pickers read on every
// pick; this package never touches a picker. The state lives in the server, so
// it survives reloads as the server does.
//
// One Manager owns every goroutine of the package: a prober per server with an
// active check, and the timers that readmit ejected servers. Sync, called after
// each committed reload, starts, keeps or stops probers to match the snapshot;
// Stop, or the end of the context given to Sync, stops them all and waits.
package health

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/pool"
	"github.com/usher-lb/usher/internal/runtime"
	"github.com/usher-lb/usher/internal/service"
)

// States named in a Transition's From and To.
const (
	StateUnknown = "unknown" // a new server before its first probe: down until it passes one
	StateUp      = "up"      // active checks pass (or the agent says ready again)
	StateDown    = "down"    // active checks fail, or the agent says down
	StateEjected = "ejected" // ejected by passive checks
	StateBack    = "back"    // readmitted after an ejection
	StateDrain   = "drain"   // the agent says drain
)

// Transition is one change of what health checks think of a server. A change of
// the agent's weight has From and To like "weight 100%" and "weight 50%".
type Transition struct {
	Time     time.Time
	Service  string
	Server   string // the server's URL, password redacted
	From, To string // see the State constants
	Reason   string
}

// Manager runs the health checks of every load balancer. Build it with
// NewManager; its methods are safe for concurrent use.
type Manager struct {
	log          *slog.Logger
	onTransition func(Transition)

	root     context.Context // parent of every prober's context
	cancel   context.CancelFunc
	wg       sync.WaitGroup // probers, and readmission timers armed
	stopping atomic.Bool    // set once by Stop, before timers are stopped

	mu      sync.Mutex
	stopped bool
	synced  bool                    // a Sync happened: later new servers start unknown
	last    time.Time               // Compiled of the last snapshot synced
	unwatch func() bool             // stops watching the last Sync's context
	probers map[string]*prober      // by server key
	known   map[string]*pool.Server // servers of load balancers at the last Sync, by key
	groups  map[string]*group       // passive state, by service; kept once made
}

// NewManager returns a manager that logs each transition (Info, "server state
// changed") on log (slog.Default when nil) and passes it to onTransition when
// not nil. onTransition is called from the manager's goroutines, possibly
// several at once; it must not block nor call the manager.
func NewManager(log *slog.Logger, onTransition func(Transition)) *Manager {
	if log == nil {
		log = slog.Default()
	}
	root, cancel := context.WithCancel(context.Background())
	return &Manager{
		log:          log,
		onTransition: onTransition,
		root:         root,
		cancel:       cancel,
		probers:      map[string]*prober{},
		known:        map[string]*pool.Server{},
		groups:       map[string]*group{},
	}
}

// Reporter returns the passive health check of service lb, for
// runtime.State.Reporter: nil when lb has no passiveHealthCheck. It is called by
// each compile, before the snapshot is committed (or refused); what it learns of
// a server is kept by service and server across reloads.
func (m *Manager) Reporter(name string, lb *config.LoadBalancer) service.Reporter {
	if lb == nil || lb.PassiveHealthCheck == nil {
		return nil
	}
	m.mu.Lock()
	g := m.groups[name]
	if g == nil {
		g = newGroup(name)
		m.groups[name] = g
	}
	m.mu.Unlock()
	return &reporter{m: m, g: g, spec: newPassiveSpec(lb.PassiveHealthCheck), servers: len(lb.Servers)}
}

// wanted is a server of the snapshot being synced.
type wanted struct {
	service string
	s       *pool.Server
	spec    *checkSpec // nil: no active check
	broken  bool       // the check could not be built: leave the server alone
}

// Sync makes the health checks those of snap, a snapshot just committed: for
// every loadBalancer service, a prober per server when it has a healthCheck.
// A prober whose server and check are unchanged keeps running (its counts and
// the server's state go on); one whose check changed is replaced by one that
// starts from the server's current state; one whose server is gone or whose
// check was removed is stopped (a server left without a check is up and ready).
//
// On the first Sync (boot), and for a server that gets a check it had not,
// servers stay up until their first probe, which decides. A server that appears
// in a later Sync with a check starts down (StateUnknown) and takes no traffic
// before its first passing probe; for it to take none between the snapshot's
// publication and this call, the compile must mark it down too
// (pool.Server.SetHealthy(false) on the servers it creates, but not at boot).
// Passive state of servers gone is dropped, and servers of a service
// whose passive check was removed are readmitted.
//
// The probers live until Stop or until ctx ends (the ctx of the last Sync is
// the one watched). A snapshot compiled before the last one synced is ignored,
// so that two reloads racing to Sync cannot go back in time.
func (m *Manager) Sync(ctx context.Context, snap *runtime.Snapshot) {
	if ctx.Err() != nil {
		m.Stop()
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped || snap == nil || snap.Config == nil {
		return
	}
	if m.synced && snap.Compiled.Before(m.last) {
		m.log.Debug("health: older snapshot not synced", "compiled", snap.Compiled)
		return
	}
	if m.unwatch != nil {
		m.unwatch()
	}
	m.unwatch = context.AfterFunc(ctx, m.Stop)

	want := map[string]wanted{}
	passive := map[string]bool{} // services with a passive check
	if h := snap.Config.HTTP; h != nil {
		for name, svc := range h.Services {
			if svc == nil || svc.LoadBalancer == nil {
				continue
			}
			lb, ok := snap.Services[name].(*service.LoadBalancer)
			if !ok {
				continue
			}
			cfg := svc.LoadBalancer
			passive[name] = cfg.PassiveHealthCheck != nil
			var spec *checkSpec
			broken := false
			if cfg.HealthCheck != nil {
				var err error
				if spec, err = newCheckSpec(cfg.HealthCheck, cfg.Transport); err != nil {
					m.log.Error("health check not applied", "service", name, "error", err.Error())
					broken = true
				}
			}
			for _, s := range lb.Servers() {
				want[s.Key] = wanted{service: name, s: s, spec: spec, broken: broken}
			}
		}
	}

	// Stop what changed (all at once, then wait), keep what did not.
	var stopped []*prober
	for key, p := range m.probers {
		w, ok := want[key]
		if ok && w.s == p.s && (w.broken || (w.spec != nil && w.spec.equal(p.spec))) {
			continue
		}
		p.cancel()
		stopped = append(stopped, p)
		delete(m.probers, key)
	}
	changed := map[string]bool{}
	for _, p := range stopped {
		<-p.done
		switch w, ok := want[p.s.Key]; {
		case ok && w.s == p.s && w.spec != nil:
			changed[p.s.Key] = true
		case ok && w.s == p.s:
			m.clearActive(w.service, w.s, "health check removed")
		}
	}
	// Start what is new, in key order (logs then read the same every time).
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		w := want[key]
		if w.spec == nil || m.probers[key] != nil {
			continue
		}
		var st initial
		switch {
		case changed[key]:
			st = current
		case !m.synced || m.known[key] == w.s:
			st = assumed
		default:
			st = unknown
		}
		m.probers[key] = m.startProber(w.service, w.s, w.spec, st)
	}
	known := make(map[string]*pool.Server, len(want))
	for k, w := range want {
		known[k] = w.s
	}
	m.known = known
	m.synced = true
	m.last = snap.Compiled

	groupNames := make([]string, 0, len(m.groups))
	for name := range m.groups {
		groupNames = append(groupNames, name)
	}
	slices.Sort(groupNames)
	for _, name := range groupNames {
		g := m.groups[name]
		if !passive[name] {
			m.emitAll(g.readmitAll(m, "passive health check removed"))
			continue
		}
		g.prune(m, want)
	}
}

// Stop stops every prober and readmission timer and waits for them. It is
// idempotent; after it Sync does nothing and reporters no longer eject.
// Servers keep the state they have.
func (m *Manager) Stop() {
	m.mu.Lock()
	if !m.stopped {
		m.stopped = true
		m.stopping.Store(true)
		m.cancel()
		if m.unwatch != nil {
			m.unwatch()
		}
	}
	groups := make([]*group, 0, len(m.groups))
	for _, g := range m.groups {
		groups = append(groups, g)
	}
	m.mu.Unlock()
	for _, g := range groups {
		g.stopTimers(m)
	}
	m.wg.Wait()
}

// clearActive puts a server whose active check was removed back to what no
// check means: up, agent ready at 100%, no probe.
func (m *Manager) clearActive(svc string, s *pool.Server, why string) {
	if !s.Healthy() {
		s.SetHealthy(true)
		m.emit(transition(svc, s, StateDown, StateUp, why))
	}
	m.setAgent(svc, s, agentReport{state: pool.AgentReady, weight: 100}, why)
	s.ClearProbe()
}

// setAgent applies an agent report to s, with a transition for what changed.
func (m *Manager) setAgent(svc string, s *pool.Server, a agentReport, why string) {
	oldState, oldWeight := s.AgentState(), s.AgentWeight()
	if oldState == a.state && oldWeight == a.weight {
		return
	}
	s.SetAgent(a.state, a.weight)
	if oldState != a.state {
		m.emit(transition(svc, s, agentName(oldState), agentName(a.state), why))
	}
	if oldWeight != a.weight {
		m.emit(transition(svc, s, weightName(oldWeight), weightName(a.weight), why))
	}
}

func agentName(state string) string {
	switch state {
	case pool.AgentDrain:
		return StateDrain
	case pool.AgentDown:
		return StateDown
	}
	return StateUp
}

func weightName(pct int) string { return "weight " + strconv.Itoa(pct) + "%" }

func transition(svc string, s *pool.Server, from, to, reason string) Transition {
	return Transition{Time: time.Now(), Service: svc, Server: s.URL.Redacted(), From: from, To: to, Reason: reason}
}

// emit logs a transition and hands it on.
func (m *Manager) emit(t Transition) {
	m.log.Info("server state changed", "service", t.Service, "server", t.Server, "from", t.From, "to", t.To, "reason", t.Reason)
	if m.onTransition != nil {
		m.onTransition(t)
	}
}

func (m *Manager) emitAll(ts []Transition) {
	slices.SortFunc(ts, func(a, b Transition) int { return cmp.Compare(a.Server, b.Server) })
	for _, t := range ts {
		m.emit(t)
	}
}
