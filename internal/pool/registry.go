package pool

import (
	"net/url"
	"sync"
)

// Registry owns every Server of the running process, keyed by service name and URL.
// Compiling a snapshot asks the registry for its servers; servers that a new
// snapshot no longer names are marked draining, so that in-flight requests of the
// old snapshot finish while no new request goes to them, and dropped from the
// registry once the compile is committed.
type Registry struct {
	mu      sync.Mutex
	servers map[string]*Server
	queues  map[string]*Queue // by service: the waiting line its servers share
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{servers: map[string]*Server{}, queues: map[string]*Queue{}}
}

// Key is the registry key of a service's server.
func Key(service, rawURL string) string { return service + "|" + rawURL }

// Get returns the server of service at u, creating it with weight w if it is new,
// or setting its weight if it exists. A Get inside a Build marks the server used.
func (r *Registry) Get(b *Build, service string, u *url.URL, w int) *Server {
	k := Key(service, u.String())
	if s, ok := b.used[k]; ok {
		b.weights[s] = w
		return s
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.servers[k]
	if !ok {
		s = NewServer(k, u, w)
		s.queue = r.queues[service]
		if s.queue == nil {
			s.queue = &Queue{}
			r.queues[service] = s.queue
		}
		b.created = append(b.created, s)
	}
	b.used[k] = s
	b.weights[s] = w
	b.limits[s] = 0
	b.services[service] = true
	return s
}

// SetMaxConns sets the limit (Server.SetMaxConns) s gets when the build is
// committed.
func (b *Build) SetMaxConns(s *Server, n int) { b.limits[s] = n }

// Len is the number of servers the registry holds.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.servers)
}

// All returns every server the registry holds, for metrics and the admin API.
func (r *Registry) All() []*Server {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Server, 0, len(r.servers))
	for _, s := range r.servers {
		out = append(out, s)
	}
	return out
}

// Lookup returns the server with key k, if the registry has it.
func (r *Registry) Lookup(k string) (*Server, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.servers[k]
	return s, ok
}

// Build collects the servers a new snapshot uses, so that the registry changes
// only when the snapshot is committed. It is the registry's share of a reload:
// exactly one of Commit and Abort is called, once; a Build aborted (or never
// committed) leaves the registry as it was.
type Build struct {
	r       *Registry
	used    map[string]*Server
	weights map[*Server]int
	limits  map[*Server]int
	// services are those the build has servers of (their queues are kept)
	services map[string]bool
	created  []*Server
	removed  []*Server
	done     bool
}

// Begin starts collecting the servers of a new snapshot.
func (r *Registry) Begin() *Build {
	return &Build{r: r, used: map[string]*Server{}, weights: map[*Server]int{}, limits: map[*Server]int{}, services: map[string]bool{}}
}

// Created returns the servers this build made anew.
func (b *Build) Created() []*Server { return b.created }

// Abort forgets the build: the registry and its servers are as they were.
func (b *Build) Abort() { b.done = true }

// Removed returns the servers the committed build drained and dropped.
func (b *Build) Removed() []*Server { return b.removed }

// Commit makes the build's servers the registry's: weights are applied, servers no
// longer used are drained and forgotten (see Removed). A second Commit, or one
// after Abort, does nothing.
func (b *Build) Commit() {
	if b.done {
		return
	}
	b.done = true
	r := b.r
	r.mu.Lock()
	defer r.mu.Unlock()
	for s, w := range b.weights {
		s.SetWeight(w)
	}
	for s, n := range b.limits {
		s.SetMaxConns(n)
	}
	// Waiters try again: a limit raised or a server added frees slots that
	// no request's end would hand over. A service gone keeps its queue until
	// its last waiter leaves (the servers drained hand nothing over: they
	// time out).
	for name, q := range r.queues {
		q.Kick()
		if !b.services[name] {
			delete(r.queues, name)
		}
	}
	var removed []*Server
	for k, s := range r.servers {
		if _, ok := b.used[k]; !ok {
			s.SetDraining(true)
			removed = append(removed, s)
			delete(r.servers, k)
		}
	}
	for k, s := range b.used {
		r.servers[k] = s
	}
	b.removed = removed
}
