// Package deploy moves the weights of weighted services at run time: a
// canary promoted step by step on its own figures and rolled back at once
// when they fail, and blue-green switches from the admin API. Each weighted
// service has one Rollout, kept across reloads by the Registry for as long
// as the config says the same of the service (its services, their weights,
// its canary); a config that says something else starts it afresh.
//
// Life of a rollout: a compile asks a Build for the rollout of each weighted
// service (the one kept, or a new one, not started); the compile's Commit
// starts the new ones' loops and stops those no snapshot names any more;
// an Abort forgets the new ones, which never ran.
package deploy

import (
	"context"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/usher-lb/usher/internal/observe"
)

// Registry keeps the rollouts of weighted services by name. Set its fields
// before the first compile; they are not changed after.
type Registry struct {
	Events *observe.Bus     // hears canary and switch events; nil: none
	Log    *slog.Logger     // nil: nowhere
	Now    func() time.Time // the clock; nil: time.Now

	mu     sync.Mutex
	byName map[string]*Rollout
	closed bool
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{byName: map[string]*Rollout{}} }

// Build collects the rollouts one compile uses.
type Build struct {
	g       *Registry
	used    map[string]*Rollout
	created []*Rollout
}

// Begin starts the collection of one compile.
func (g *Registry) Begin() *Build { return &Build{g: g, used: map[string]*Rollout{}} }

// Get returns the rollout of the weighted service spec describes: the one
// kept when the config says the same of it, else a new one, which runs once
// the build is committed.
func (b *Build) Get(spec Spec) *Rollout {
	if r := b.used[spec.Service]; r != nil {
		return r
	}
	b.g.mu.Lock()
	r := b.g.byName[spec.Service]
	b.g.mu.Unlock()
	if r == nil || !r.spec.equal(spec) {
		r = newRollout(spec, b.g.now(), b.g.Events, b.g.log())
		b.created = append(b.created, r)
	}
	b.used[spec.Service] = r
	return r
}

// Commit makes the build's rollouts the kept ones: new ones start, those no
// longer used stop.
func (b *Build) Commit() {
	g := b.g
	g.mu.Lock()
	old := g.byName
	g.byName = b.used
	closed := g.closed
	g.mu.Unlock()
	for name, r := range old {
		if b.used[name] != r {
			r.stop()
		}
	}
	if closed {
		return
	}
	for _, r := range b.created {
		r.start()
	}
}

// Abort forgets the build: its new rollouts never ran.
func (b *Build) Abort() {}

// Lookup returns the rollout of a weighted service of the running config.
func (g *Registry) Lookup(service string) (*Rollout, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.byName[service]
	return r, ok
}

// All returns the rollouts of the running config, by service name.
func (g *Registry) All() []*Rollout {
	g.mu.Lock()
	out := make([]*Rollout, 0, len(g.byName))
	for _, r := range g.byName {
		out = append(out, r)
	}
	g.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].spec.Service < out[j].spec.Service })
	return out
}

// Close stops every rollout's loop and waits for them; rollouts committed
// afterwards do not start.
func (g *Registry) Close() {
	g.mu.Lock()
	g.closed = true
	rs := make([]*Rollout, 0, len(g.byName))
	for _, r := range g.byName {
		rs = append(rs, r)
	}
	g.mu.Unlock()
	for _, r := range rs {
		r.stop()
	}
}

func (g *Registry) now() func() time.Time {
	if g.Now != nil {
		return g.Now
	}
	return time.Now
}

func (g *Registry) log() *slog.Logger {
	if g.Log != nil {
		return g.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Spec is what the config says of a weighted service.
type Spec struct {
	Service string
	Arms    []string // the services, in order
	Weights []int    // their configured weights
	Canary  *Canary
}

// Canary is a canary of a weighted service, its defaults applied.
type Canary struct {
	Arm          int   // index in Arms
	Steps        []int // percent
	Interval     time.Duration
	MaxErrorRate float64 // fraction of one
	MaxP99       time.Duration
	MinRequests  int
}

func (s Spec) equal(o Spec) bool {
	if s.Service != o.Service || !slices.Equal(s.Arms, o.Arms) || !slices.Equal(s.Weights, o.Weights) || (s.Canary == nil) != (o.Canary == nil) {
		return false
	}
	if s.Canary == nil {
		return true
	}
	a, b := *s.Canary, *o.Canary
	return a.Arm == b.Arm && slices.Equal(a.Steps, b.Steps) && a.Interval == b.Interval &&
		a.MaxErrorRate == b.MaxErrorRate && a.MaxP99 == b.MaxP99 && a.MinRequests == b.MinRequests
}

// period is how often a rollout's loop looks: a tenth of the canary's
// interval (a verdict comes at most that late), between 10ms and 100ms, which
// is also how soon a drained side is reported.
func (s Spec) period() time.Duration {
	if s.Canary == nil {
		return 100 * time.Millisecond
	}
	return min(max(s.Canary.Interval/10, 10*time.Millisecond), 100*time.Millisecond)
}

// run calls f every period until ctx ends.
func run(ctx context.Context, period time.Duration, f func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}
