package autoscale

import (
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/usher-lb/usher/internal/observe"
)

// Registry keeps the scalers of autoscaled services by name, across reloads.
// Set its fields before the first compile; they are not changed after.
//
// Life of a scaler: a compile asks a Build for the scaler of each autoscaled
// load balancer (the one kept, or a new one, not started) and adds its
// servers to the floor; the compile's Commit hands every scaler the pool of
// the new snapshot and its spec, starts the new ones and stops those no
// snapshot names any more (their servers are left as they are); an Abort
// forgets the new ones, which never ran. A reload that changes the
// actuator makes a new scaler: the old one's servers are not its own.
type Registry struct {
	Log     *slog.Logger
	Events  *observe.Bus     // hears the decisions that change a count; nil: none
	Metrics *observe.Metrics // nil: no series
	Now     func() time.Time // nil: time.Now
	// Reload is asked for a new snapshot when an actuator changed the
	// servers of a service; nil: none (tests).
	Reload func(reason string)
	// Containers is what the Docker provider sees of a docker actuator's
	// containers (docker.Provider.Fit): the addresses of those fit for
	// traffic, ok false when it does not follow the actuator's engine.
	// nil: no provider; the actuator's servers are adopted by address.
	Containers func(service, endpoint string) (addrs map[string]bool, ok bool)

	mu     sync.Mutex
	byName map[string]*Scaler
	closed bool
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{byName: map[string]*Scaler{}} }

// Build collects the scalers one compile uses.
type Build struct {
	g       *Registry
	used    map[string]*Scaler
	specs   map[*Scaler]Spec
	pools   map[*Scaler]Pool
	created []*Scaler
}

// Begin starts the collection of one compile.
func (g *Registry) Begin() *Build {
	return &Build{g: g, used: map[string]*Scaler{}, specs: map[*Scaler]Spec{}, pools: map[*Scaler]Pool{}}
}

// Get returns the scaler of the service spec describes: the one kept when
// its actuator is the same, else a new one, which runs once the build is
// committed.
func (b *Build) Get(spec Spec) *Scaler {
	if s := b.used[spec.Service]; s != nil {
		return s
	}
	b.g.mu.Lock()
	s := b.g.byName[spec.Service]
	b.g.mu.Unlock()
	if s == nil || s.spec.Kind != spec.Kind || s.spec.Key != spec.Key {
		s = newScaler(b.g, spec)
		b.created = append(b.created, s)
	}
	b.used[spec.Service] = s
	b.specs[s] = spec
	return s
}

// SetPool says which load balancer of the build's snapshot is the scaler's.
func (b *Build) SetPool(s *Scaler, p Pool) { b.pools[s] = p }

// Commit makes the build's scalers the kept ones.
func (b *Build) Commit() {
	g := b.g
	for s, spec := range b.specs {
		s.update(spec)
		if p := b.pools[s]; p != nil {
			s.setPool(p)
		}
	}
	g.mu.Lock()
	old := g.byName
	g.byName = b.used
	closed := g.closed
	g.mu.Unlock()
	for name, s := range old {
		if b.used[name] != s {
			go s.stop() // its actuation may be asking for this very reload
		}
	}
	if closed {
		return
	}
	for _, s := range b.created {
		s.start()
	}
}

// Abort forgets the build: its new scalers never ran.
func (b *Build) Abort() {}

// Lookup returns the scaler of an autoscaled service of the running config.
func (g *Registry) Lookup(service string) (*Scaler, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.byName[service]
	return s, ok
}

// All returns the statuses of the running config's scalers, by service name.
func (g *Registry) All() []Status {
	g.mu.Lock()
	ss := make([]*Scaler, 0, len(g.byName))
	for _, s := range g.byName {
		ss = append(ss, s)
	}
	g.mu.Unlock()
	out := make([]Status, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.Status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out
}

// Close stops every scaler and waits for them; scalers committed afterwards
// do not start. The servers are left as they are.
func (g *Registry) Close() {
	g.mu.Lock()
	g.closed = true
	ss := make([]*Scaler, 0, len(g.byName))
	for _, s := range g.byName {
		ss = append(ss, s)
	}
	g.mu.Unlock()
	for _, s := range ss {
		s.stop()
	}
}

func (g *Registry) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}
