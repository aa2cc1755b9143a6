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
// The package knows nothing of the configuration: it is given specs (Check,
// PassiveCheck) with every value decided, compiled by internal/runtime from
// the config and its defaults, and servers from internal/pool.
//
// One Manager owns every goroutine of the package: a prober per server with an
// active check, and the timers that readmit ejected servers. It takes part in
// each reload in two steps: Prepare readies the checks of the coming snapshot
// and changes nothing that runs; the Plan it returns is then committed (probers
// started, kept or stopped to match) once the snapshot serves, or aborted.
// Stop stops every goroutine and waits for them.
package health

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usher-lb/usher/internal/pool"
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

// Service is the health checking of one load balancer of a snapshot.
type Service struct {
	Name    string
	Servers []*pool.Server
	Check   *Check    // nil: no active check
	Passive *Reporter // nil: no passive check (made by Manager.Reporter)
}

// Manager runs the health checks of every load balancer. Build it with
// NewManager; its methods are safe for concurrent use, but reloads (Prepare,
// then the Plan's Commit or Abort) come one at a time.
type Manager struct {
	log          *slog.Logger
	onTransition func(Transition)

	root     context.Context // parent of every prober's context, canceled by Stop
	cancel   context.CancelFunc
	wg       sync.WaitGroup // probers, and readmission timers armed
	stopping atomic.Bool    // set once by Stop, before timers are stopped

	mu      sync.Mutex
	stopped bool
	synced  bool                    // a plan was committed: later new servers start unknown
	probers map[string]*prober      // by server key
	known   map[string]*pool.Server // servers of load balancers at the last commit, by key
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

// Reporter returns the passive health check of service name in a snapshot
// being compiled, for its load balancer to report to; servers is how many
// servers the service has (for MaxEjectedPercent). What it learns of a server
// is kept by service and server across reloads: a service already checked
// shares its state with the reporters of earlier snapshots. Nothing changes in
// m until the Plan of a snapshot holding the reporter is committed.
func (m *Manager) Reporter(name string, spec PassiveCheck, servers int) *Reporter {
	m.mu.Lock()
	g := m.groups[name]
	m.mu.Unlock()
	if g == nil {
		g = newGroup(name) // adopted at commit
	}
	return &Reporter{m: m, g: g, spec: spec, servers: servers}
}

// wanted is a server of the snapshot being prepared.
type wanted struct {
	service string
	s       *pool.Server
	check   *Check // nil: no active check
}

// Plan is the health checking of a snapshot, readied by Prepare. Exactly one
// of Commit and Abort is to be called, once.
type Plan struct {
	m       *Manager
	want    map[string]wanted    // by server key
	passive map[string]*Reporter // services with a passive check
	done    bool
}

// ErrStopped is Prepare's error once the manager is stopped.
var ErrStopped = errors.New("health: the manager is stopped")

// Prepare readies the health checks of services, the load balancers of a
// snapshot about to be published. It starts and stops nothing: the Plan's
// Commit does, once the snapshot serves. The only thing it touches is
// servers no committed snapshot has yet (made by the compile, seen by
// nobody else): one with an active check, added while usher runs, is marked
// down, so that it takes no traffic before its first passing probe.
func (m *Manager) Prepare(services []Service) (*Plan, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return nil, ErrStopped
	}
	p := &Plan{m: m, want: map[string]wanted{}, passive: map[string]*Reporter{}}
	for _, svc := range services {
		if svc.Passive != nil {
			p.passive[svc.Name] = svc.Passive
		}
		for _, s := range svc.Servers {
			p.want[s.Key] = wanted{service: svc.Name, s: s, check: svc.Check}
			if svc.Check != nil && m.synced && m.known[s.Key] != s {
				s.SetHealthy(false)
			}
		}
	}
	return p, nil
}

// Abort forgets the plan: nothing changed.
func (p *Plan) Abort() { p.done = true }

// Commit makes the health checks those of the plan's snapshot, now serving:
// a prober per server with an active check. A prober whose server and check
// are unchanged keeps running (its counts and the server's state go on); one
// whose check changed is replaced by one that starts from the server's
// current state; one whose server is gone or whose check was removed is
// stopped (a server left without a check is up and ready).
//
// On the first commit (boot), and for a server that gets a check it had not,
// servers stay up until their first probe, which decides. A server that
// appears in a later snapshot with a check starts down (StateUnknown; see
// Prepare) and takes no traffic before its first passing probe. Passive state
// of servers gone is dropped, and servers of a service whose passive check
// was removed are readmitted.
func (p *Plan) Commit() {
	if p.done {
		return
	}
	p.done = true
	m := p.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return
	}
	want := p.want

	// Stop what changed (all at once, then wait), keep what did not.
	var stopped []*prober
	for key, pr := range m.probers {
		w, ok := want[key]
		if ok && w.s == pr.s && w.check != nil && w.check.Equal(pr.check) {
			continue
		}
		pr.cancel()
		stopped = append(stopped, pr)
		delete(m.probers, key)
	}
	changed := map[string]bool{}
	for _, pr := range stopped {
		<-pr.done
		switch w, ok := want[pr.s.Key]; {
		case ok && w.s == pr.s && w.check != nil:
			changed[pr.s.Key] = true
		case ok && w.s == pr.s:
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
		if w.check == nil || m.probers[key] != nil {
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
		m.probers[key] = m.startProber(w.service, w.s, w.check, st)
	}
	known := make(map[string]*pool.Server, len(want))
	for k, w := range want {
		known[k] = w.s
	}
	m.known = known
	m.synced = true

	// Passive state: adopt the groups of services checked for the first time.
	for name, r := range p.passive {
		if m.groups[name] != r.g {
			m.groups[name] = r.g
		}
	}
	groupNames := make([]string, 0, len(m.groups))
	for name := range m.groups {
		groupNames = append(groupNames, name)
	}
	slices.Sort(groupNames)
	for _, name := range groupNames {
		g := m.groups[name]
		if p.passive[name] == nil {
			m.emitAll(g.readmitAll(m, "passive health check removed"))
			continue
		}
		g.prune(m, want)
	}
}

// Stop stops every prober and readmission timer and waits for them. It is
// idempotent; after it Prepare fails, a Plan's Commit does nothing and
// reporters no longer eject.
// Servers keep the state they have.
func (m *Manager) Stop() {
	m.mu.Lock()
	if !m.stopped {
		m.stopped = true
		m.stopping.Store(true)
		m.cancel()
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
	return Transition{Time: time.Now(), Service: svc, Server: s.Shown, From: from, To: to, Reason: reason}
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
