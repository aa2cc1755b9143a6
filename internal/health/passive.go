package health

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usher-lb/usher/internal/pool"
)

// maxEjection bounds how long an ejection lasts, whatever the doubling: 10 times
// EjectFor, at most this (but never less than EjectFor).
const maxEjection = 5 * time.Minute

// PassiveCheck is a passiveHealthCheck with every value decided (the config's
// defaults applied): MaxFailures failures in a row, the last MaxFailures of
// them within Window, eject a server for EjectFor, doubled on each ejection
// that follows soon after; never more than MaxEjectedPercent of the servers
// (and never all) at once. MaxFailures, Window and EjectFor must be positive.
type PassiveCheck struct {
	MaxFailures       int
	Window            time.Duration
	EjectFor          time.Duration
	MaxEjectedPercent int
	On5xx             bool // a 5xx response counts as a failure
}

// Validate tells what is wrong with p, nil when it can run.
func (p PassiveCheck) Validate() error {
	switch {
	case p.MaxFailures < 1:
		return fmt.Errorf("maxFailures must be 1 or more, got %d", p.MaxFailures)
	case p.Window <= 0:
		return fmt.Errorf("window must be positive, got %s", p.Window)
	case p.EjectFor <= 0:
		return fmt.Errorf("ejectFor must be positive, got %s", p.EjectFor)
	case p.MaxEjectedPercent < 0 || p.MaxEjectedPercent > 100:
		return fmt.Errorf("maxEjectedPercent is 0 to 100, got %d", p.MaxEjectedPercent)
	}
	return nil
}

// longest is the longest ejection.
func (p PassiveCheck) longest() time.Duration {
	return max(p.EjectFor, min(10*p.EjectFor, maxEjection))
}

// group is the passive state of one service's servers. It outlives snapshots:
// the Manager keeps it by service name and every reporter of the service shares
// it.
type group struct {
	service string
	// byServer maps servers to their state for the lock-free success path;
	// it is replaced (copy on write, under mu) when an outlier is added or
	// dropped.
	byServer atomic.Pointer[map[*pool.Server]*outlier]

	mu       sync.Mutex
	outliers map[string]*outlier // by server key; a server is here once it failed
	ejected  int                 // outliers ejected now
}

func newGroup(service string) *group {
	g := &group{service: service, outliers: map[string]*outlier{}}
	g.byServer.Store(&map[*pool.Server]*outlier{})
	return g
}

// outlier is what passive checks keep of one server that failed at least once.
type outlier struct {
	s      *pool.Server
	streak atomic.Int64 // failures in a row; a success sets it to 0

	// Guarded by the group's mu.
	times      []time.Time // the last failures, a ring indexed by streak
	ejected    bool
	blocked    bool        // this streak hit maxEjectedPercent (logged once)
	level      int         // the next ejection lasts ejectFor << level
	readmitted time.Time   // end of the last ejection; zero when never ejected
	timer      *time.Timer // readmits; nil when not ejected
	gen        uint64      // ejection number, so that a stale timer does nothing
}

// lookup returns the state of s, nil when s never failed.
func (g *group) lookup(s *pool.Server) *outlier {
	return (*g.byServer.Load())[s]
}

// get returns the state of s, made when s has none; the caller holds g.mu.
func (g *group) get(s *pool.Server) *outlier {
	o := g.outliers[s.Key]
	if o != nil && o.s == s {
		return o
	}
	o = &outlier{s: s}
	g.outliers[s.Key] = o
	g.publish()
	return o
}

// publish rebuilds byServer from outliers; the caller holds g.mu.
func (g *group) publish() {
	m := make(map[*pool.Server]*outlier, len(g.outliers))
	for _, o := range g.outliers {
		m[o.s] = o
	}
	g.byServer.Store(&m)
}

// Reporter is the passive health check of one service in one snapshot: its
// load balancer reports the outcome of every attempt on a server to it.
type Reporter struct {
	m       *Manager
	g       *group
	spec    PassiveCheck
	servers int // servers of the service, for MaxEjectedPercent
}

// Report learns the outcome of one attempt on s. On success (a response, below
// 500 when on5xx is set) it costs a map lookup and an atomic load, takes no lock
// and writes shared memory only when s had failed just before. An attempt with
// neither a failure nor a status (the client gave up) counts for nothing.
func (r *Reporter) Report(s *pool.Server, failed bool, status int) {
	if !failed && !(r.spec.On5xx && status >= 500) {
		if status == 0 {
			return
		}
		if o := r.g.lookup(s); o != nil && o.streak.Load() != 0 {
			o.streak.Store(0)
		}
		return
	}
	if t, ok := r.failure(s, failed, status); ok {
		r.m.emit(t)
	}
}

// failure counts a failure of s and ejects it when its streak calls for it.
func (r *Reporter) failure(s *pool.Server, failed bool, status int) (Transition, bool) {
	g, spec := r.g, r.spec
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	o := g.get(s)
	if o.ejected {
		return Transition{}, false // requests sent before the ejection
	}
	n := o.streak.Add(1)
	if len(o.times) != spec.MaxFailures { // first failure, or the config changed
		o.times = make([]time.Time, spec.MaxFailures)
		o.streak.Store(1)
		n = 1
	}
	if n == 1 {
		o.blocked = false
	}
	k := int64(spec.MaxFailures)
	o.times[(n-1)%k] = now
	// The oldest of the last maxFailures failures is failure n-k+1, in slot n%k.
	if n < k || now.Sub(o.times[n%k]) > spec.Window {
		return Transition{}, false
	}
	var last string
	switch {
	case !failed:
		last = fmt.Sprintf("status %d", status)
	case status == 0:
		last = "no response"
	default:
		last = fmt.Sprintf("failed after status %d", status)
	}
	allowed := min(r.servers*spec.MaxEjectedPercent/100, r.servers-1)
	if g.ejected >= allowed {
		if !o.blocked {
			o.blocked = true
			r.m.log.Warn("server not ejected: too many ejected already", "service", g.service, "server", s.Shown,
				"ejected", g.ejected, "maxEjectedPercent", spec.MaxEjectedPercent, "servers", r.servers)
		}
		return Transition{}, false
	}
	if r.m.stopping.Load() {
		return Transition{}, false // no timer would readmit it
	}
	d := o.nextEjection(now, spec)
	o.ejected, o.blocked = true, false
	o.gen++
	o.streak.Store(0)
	g.ejected++
	s.Eject(now.Add(d))
	r.m.wg.Add(1)
	gen := o.gen
	o.timer = time.AfterFunc(d, func() {
		defer r.m.wg.Done()
		if t, ok := g.readmit(o, gen, "ejection over after "+d.String()); ok {
			r.m.emit(t)
		}
	})
	return Transition{
		Time: now, Service: g.service, Server: s.Shown, From: StateUp, To: StateEjected,
		Reason: fmt.Sprintf("%d failures in a row within %s, last: %s; ejected for %s", n, spec.Window, last, d),
	}, true
}

// nextEjection is how long an ejection starting at now lasts, and counts it:
// ejectFor doubled on each ejection, halved back per ejectFor of healthy time
// since the last readmission, never more than the cap.
func (o *outlier) nextEjection(now time.Time, spec PassiveCheck) time.Duration {
	if !o.readmitted.IsZero() {
		healthy := now.Sub(o.readmitted)
		o.level = max(0, o.level-int(healthy/spec.EjectFor))
	}
	limit := spec.longest()
	d := spec.EjectFor
	for range o.level {
		if d >= limit {
			break
		}
		d *= 2
	}
	d = min(d, limit)
	if d < limit {
		o.level++
	}
	return d
}

// readmit ends ejection number gen of o; false when it already ended.
func (g *group) readmit(o *outlier, gen uint64, why string) (Transition, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if o.gen != gen || !o.ejected {
		return Transition{}, false
	}
	return g.readmitLocked(o, why), true
}

func (g *group) readmitLocked(o *outlier, why string) Transition {
	now := time.Now()
	o.ejected = false
	o.readmitted = now
	o.timer = nil
	o.streak.Store(0)
	g.ejected--
	o.s.SetEjected(false)
	return Transition{Time: now, Service: g.service, Server: o.s.Shown, From: StateEjected, To: StateBack, Reason: why}
}

// stopTimer stops o's readmission timer, settling the Manager's count of it
// when it had not fired; the caller holds g.mu.
func (o *outlier) stopTimer(m *Manager) {
	if o.timer != nil && o.timer.Stop() {
		m.wg.Done()
	}
	o.timer = nil
}

// readmitAll readmits every ejected server at once (the passive check was
// removed) and forgets them all.
func (g *group) readmitAll(m *Manager, why string) []Transition {
	g.mu.Lock()
	defer g.mu.Unlock()
	var ts []Transition
	for key, o := range g.outliers {
		if o.ejected {
			o.stopTimer(m)
			ts = append(ts, g.readmitLocked(o, why))
		}
		delete(g.outliers, key)
	}
	g.publish()
	return ts
}

// prune forgets the servers that the service no longer has.
func (g *group) prune(m *Manager, want map[string]wanted) {
	g.mu.Lock()
	defer g.mu.Unlock()
	dropped := false
	for key, o := range g.outliers {
		if w, ok := want[key]; ok && w.s == o.s && w.service == g.service {
			continue
		}
		if o.ejected {
			o.stopTimer(m)
			g.readmitLocked(o, "server removed") // not announced: the server is gone
		}
		delete(g.outliers, key)
		dropped = true
	}
	if dropped {
		g.publish()
	}
}

// stopTimers stops every readmission timer (Manager.Stop); ejected servers
// stay ejected.
func (g *group) stopTimers(m *Manager) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, o := range g.outliers {
		o.stopTimer(m)
	}
}
