// Package pool holds the servers of services and the state that outlives a config
// snapshot: in-flight counts, health, draining, weights. A Registry hands the same
// *Server to every snapshot for as long as the service keeps the server's URL, so a
// reload never resets what usher learned about a server.
package pool

import (
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// State bits of a server. A server takes new requests only when none is set.
const (
	stateDown       uint32 = 1 << iota // failed active health checks (or not yet passed one)
	stateEjected                       // ejected by passive health checks
	stateDraining                      // drained by an operator or removed by a reload
	stateAgentDrain                    // the server's agent said drain, or weight 0% (see health.go)
	stateAgentDown                     // the server's agent said down (see health.go)
)

// Server is one upstream of a service, shared by every snapshot that has it.
// All fields after construction are atomics: pickers read them on every request
// without a lock.
type Server struct {
	// Key is the registry key: service name and URL.
	Key string
	// URL is the server's URL as configured (scheme, host, optional path prefix).
	URL *url.URL
	// Hash is a stable 64-bit hash of the URL, for consistent hashing.
	Hash uint64
	// Shown is the URL as logs, events and the admin API show it: its
	// userinfo, which may hold a password or a token, is hidden whole
	// (url.URL.Redacted keeps the user name, which may be the token).
	Shown string

	weight   atomic.Int32 // configured weight, set by each compile
	inflight atomic.Int64
	state    atomic.Uint32
	total    atomic.Uint64 // requests started
	failures atomic.Uint64 // requests that failed (no response from the server)
	ejects   atomic.Uint64 // times passive checks ejected the server
	retries  atomic.Uint64 // requests sent to another server after this one failed them
	born     atomic.Int64  // unix nanos when the server last became available (slow start)
	agent    atomic.Uint32 // what the server's agent reported, packed (see health.go); 0 = ready, 100%
	probe    atomic.Pointer[probeResult]
	ejectEnd atomic.Int64 // unix nanos when a passive ejection ends; 0 = not ejected
	limit    atomic.Int64 // most requests in flight (maxConns), set by each commit; 0 = none
	queue    *Queue       // the service's waiting line (see limit.go); nil for a server made by hand

	// Lat is the latency record used by latency-aware pickers (see latency.go).
	Lat Latency
}

// NewServer returns a server with weight w, available at once.
func NewServer(key string, u *url.URL, w int) *Server {
	s := &Server{Key: key, URL: u, Hash: hash64(u.String()), Shown: shown(u)}
	s.weight.Store(int32(w))
	s.born.Store(time.Now().UnixNano())
	return s
}

// shown is u with its userinfo, if any, replaced by "********".
func shown(u *url.URL) string {
	if u.User == nil {
		return u.String()
	}
	c := *u
	c.User = url.User("********")
	return strings.Replace(c.String(), "%2A%2A%2A%2A%2A%2A%2A%2A@", "********@", 1)
}

// Weight is the configured weight.
func (s *Server) Weight() int { return int(s.weight.Load()) }

// SetWeight sets the configured weight.
func (s *Server) SetWeight(w int) { s.weight.Store(int32(w)) }

// InFlight is the number of requests the server is answering now.
func (s *Server) InFlight() int64 { return s.inflight.Load() }

// Requests is the number of requests ever started on the server.
func (s *Server) Requests() uint64 { return s.total.Load() }

// Failures is the number of requests that got no response from the server.
func (s *Server) Failures() uint64 { return s.failures.Load() }

// Start counts a request sent to the server. Every Start has one Done.
func (s *Server) Start() {
	s.inflight.Add(1)
	s.total.Add(1)
}

// Done ends a request started with Start (or TryStart, or handed a slot by
// Queue.Wait). failed is true when the server gave no usable response (connect
// error, reset, timeout). A server at its limit hands the slot to the first
// request waiting in its service's queue, if any (see limit.go).
func (s *Server) Done(failed bool) {
	if failed {
		s.failures.Add(1)
	}
	if s.handoff() {
		return
	}
	s.inflight.Add(-1)
}

// Available tells whether the server may take a new request.
func (s *Server) Available() bool { return s.state.Load() == 0 && s.weight.Load() > 0 }

// Draining tells whether the server is drained by an operator or a reload (not
// by its agent: see AgentState).
func (s *Server) Draining() bool { return s.state.Load()&stateDraining != 0 }

// SetDraining drains (true) or undrains (false) the server.
func (s *Server) SetDraining(on bool) { s.setBit(stateDraining, on) }

// Healthy tells whether active health checks pass (true when none are
// configured). An agent's "down" is not counted here: see AgentState.
func (s *Server) Healthy() bool { return s.state.Load()&stateDown == 0 }

// SetHealthy records the result of active health checks.
func (s *Server) SetHealthy(up bool) { s.setBit(stateDown, !up) }

// Ejected tells whether passive health checks ejected the server.
func (s *Server) Ejected() bool { return s.state.Load()&stateEjected != 0 }

// SetEjected ejects or readmits the server (see also Eject).
func (s *Server) SetEjected(on bool) {
	if !on {
		s.ejectEnd.Store(0)
	}
	s.setBit(stateEjected, on)
}

func (s *Server) setBit(bit uint32, on bool) {
	var v uint32
	if on {
		v = bit
	}
	s.setBits(bit, v)
}

// setBits sets the bits of mask to those of v in one step.
func (s *Server) setBits(mask, v uint32) {
	for {
		old := s.state.Load()
		nw := old&^mask | v&mask
		if old == nw || s.state.CompareAndSwap(old, nw) {
			if old != 0 && nw == 0 {
				s.born.Store(time.Now().UnixNano())
				if s.queue != nil && s.limit.Load() > 0 {
					// Its free slots are for the requests waiting, which
					// no request's end on it would hand them.
					s.queue.Kick()
				}
			}
			return
		}
	}
}

// AvailableSince is when the server last became available, for slow start.
func (s *Server) AvailableSince() time.Time { return time.Unix(0, s.born.Load()) }

// SetAvailableSince sets when the server last became available, which slow start
// counts from. The zero time means long ago: no slow start (for the servers of the
// first snapshot at boot, which NewServer otherwise makes ramp up together).
func (s *Server) SetAvailableSince(t time.Time) {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	s.born.Store(ns)
}

// hash64 is FNV-1a, 64 bits: stable across runs, so that hash rings agree between
// usher instances and restarts.
func hash64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
