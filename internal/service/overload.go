package service

import (
	"errors"
	"net/http"
	"time"

	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/pool"
)

// QueueOptions bound the wait of a request finding every server of a load
// balancer at its limit (pool.Server.SetMaxConns).
type QueueOptions struct {
	MaxSize int           // most requests waiting; one more gets 503 at once
	Timeout time.Duration // longest wait; then 503
}

// What Record.Error says of a request refused for overload.
const (
	errServersFull  = "overload: every server at maxConns"
	errQueueFull    = "overload: queue full"
	errQueueTimeout = "overload: queue timeout"
)

// overload counts the requests a load balancer refused for overload, by
// reason, and those it made wait.
type overload struct {
	full, queueFull, queueTimeout, queued observe.Counter
}

func newOverload(m *observe.Metrics, service string) overload {
	if m == nil {
		return overload{}
	}
	return overload{
		full:         m.Overload(service, "maxConns"),
		queueFull:    m.Overload(service, "queueFull"),
		queueTimeout: m.Overload(service, "queueTimeout"),
		queued:       m.Queued(service),
	}
}

// acquire returns a server for r with a slot taken on it (pool.Server.Start
// or TryStart: the caller ends it with Done), waiting in the queue when every
// server is at its limit. It returns nil when it answered r itself: 503
// because no server is available, or the queue is full or was waited out.
func (lb *LoadBalancer) acquire(w http.ResponseWriter, r *http.Request) *pool.Server {
	if s := lb.take(w, r); s != nil {
		return s
	}
	if !lb.opts.Limited || !lb.saturated() {
		if lb.opts.Panic {
			if s := lb.picker.PickAny(0); s != nil && s.TryStart() {
				return s
			}
		}
		noServer(w, "1")
		return nil
	}
	rec := observe.From(w)
	if lb.opts.Queue == nil {
		lb.refuse(w, rec, errServersFull, lb.over.full)
		return nil
	}
	q := lb.servers[0].Queue()
	if q == nil { // servers made by hand (tests): no line to wait in
		lb.refuse(w, rec, errServersFull, lb.over.full)
		return nil
	}
	lb.over.queued.Inc()
	deadline := time.Now().Add(lb.opts.Queue.Timeout)
	for {
		s, err := q.Wait(r.Context(), time.Until(deadline), lb.opts.Queue.MaxSize)
		switch {
		case errors.Is(err, pool.ErrQueueFull):
			lb.refuse(w, rec, errQueueFull, lb.over.queueFull)
			return nil
		case errors.Is(err, pool.ErrQueueTimeout):
			lb.refuse(w, rec, errQueueTimeout, lb.over.queueTimeout)
			return nil
		case err != nil: // the client went away
			if rec != nil {
				rec.Error = observe.ErrClientGone
				rec.Status = 499
			}
			return nil
		case s == nil: // kicked: limits or servers changed
			if s = lb.take(w, r); s != nil {
				return s
			}
			if time.Until(deadline) <= 0 {
				lb.refuse(w, rec, errQueueTimeout, lb.over.queueTimeout)
				return nil
			}
		case lb.targets[s] == nil:
			// A server of another snapshot of the service (added by a
			// reload): its slot goes on to the next waiter.
			s.Done(false)
		default:
			return s
		}
	}
}

// hold waits for a server for a request that found none available (see
// LoadBalancerOptions.Hold); 503 with Retry-After when the wait is full or
// over.
func (lb *LoadBalancer) hold(w http.ResponseWriter, r *http.Request) {
	h, err := lb.opts.Hold.Hold(r.Context())
	if err == nil {
		h.ServeHTTP(w, r)
		return
	}
	rec := observe.From(w)
	if r.Context().Err() != nil {
		if rec != nil {
			rec.Error = observe.ErrClientGone
			rec.Status = 499
		}
		return
	}
	if rec != nil {
		rec.Service = lb.name
		rec.Error = "no server ready: " + err.Error()
	}
	noServer(w, "1")
}

// take picks a server and takes a slot on it; nil when none is available or
// not full. Pickers skip full servers, but two may race for the last slot of
// one: the loser picks again.
func (lb *LoadBalancer) take(w http.ResponseWriter, r *http.Request) *pool.Server {
	for range 3 {
		s := lb.pick(w, r, nil)
		if s == nil {
			return nil
		}
		if s.TryStart() {
			return s
		}
	}
	return nil
}

// saturated tells whether some server could take r but for its limit: the
// request waits (or is refused for overload) rather than finding no server.
func (lb *LoadBalancer) saturated() bool {
	for _, s := range lb.servers {
		if s.Full() && (s.Available() || lb.opts.Panic && !s.Draining()) {
			return true
		}
	}
	return false
}

// refuse answers 503 with Retry-After for overload.
func (lb *LoadBalancer) refuse(w http.ResponseWriter, rec *observe.Record, why string, c observe.Counter) {
	c.Inc()
	if rec != nil {
		rec.Service = lb.name
		rec.Error = why
	}
	noServer(w, "1")
}
