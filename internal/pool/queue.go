package pool

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of Queue.Wait.
var (
	ErrQueueFull    = errors.New("queue full")
	ErrQueueTimeout = errors.New("queue timeout")
)

// Queue is the waiting line of one service's requests while every server is at
// its limit (SetMaxConns), as HAProxy's backend queue: first come, first
// served. A server that ends a request (Done) hands its slot straight to the
// first waiter, without giving it back: no thundering herd, no lost wakeup,
// and a request arriving meanwhile cannot take the slot ahead of those
// waiting.
//
// One queue per service, shared by every snapshot that has the service (the
// registry owns it, as it owns the servers): a reload neither drops nor
// reorders the requests waiting, and the servers of the new snapshot serve
// those of the old.
//
// The lock is taken only by requests that wait and by the ends of requests
// that hand their slot over; the hot path of a service not saturated reads
// one atomic (Len).
type Queue struct {
	mu         sync.Mutex
	head, tail *waiter
	n          atomic.Int64
}

type waiter struct {
	prev, next *waiter
	queued     bool
	ch         chan *Server // one value: the server whose slot is handed over, or nil (try again)
}

var waiters = sync.Pool{New: func() any { return &waiter{ch: make(chan *Server, 1)} }}

// Len is the number of requests waiting.
func (q *Queue) Len() int { return int(q.n.Load()) }

// Wait waits at most timeout for a server slot, unless maxSize requests are
// already waiting (ErrQueueFull, at once). It returns a server whose slot is
// the caller's (it must call Done), or nil without error when the caller
// should try to pick a server itself again (Kick: limits or servers changed),
// or ErrQueueTimeout, or the context's error. A slot handed over just as the
// wait ends is kept when the time is up (the request is served after all),
// and given back when the context ended (the client is gone).
func (q *Queue) Wait(ctx context.Context, timeout time.Duration, maxSize int) (*Server, error) {
	w := waiters.Get().(*waiter)
	q.mu.Lock()
	if int(q.n.Load()) >= maxSize {
		q.mu.Unlock()
		waiters.Put(w)
		return nil, ErrQueueFull
	}
	q.push(w)
	q.mu.Unlock()

	t := time.NewTimer(timeout)
	var err error
	select {
	case s := <-w.ch:
		t.Stop()
		waiters.Put(w)
		return s, nil
	case <-t.C:
		err = ErrQueueTimeout
	case <-ctx.Done():
		t.Stop()
		err = ctx.Err()
	}
	q.mu.Lock()
	if w.queued {
		q.remove(w)
		q.mu.Unlock()
		waiters.Put(w)
		return nil, err
	}
	q.mu.Unlock()
	s := <-w.ch // popped: its value is on the way
	waiters.Put(w)
	switch {
	case s == nil: // a Kick came with the end: the end wins
		return nil, err
	case err == ErrQueueTimeout: // a slot came with the timeout: served after all
		return s, nil
	}
	s.Done(false) // the client is gone: the slot goes on
	return nil, err
}

// handoff gives s's slot to the first waiter; false when none waits.
func (q *Queue) handoff(s *Server) bool {
	q.mu.Lock()
	w := q.head
	if w == nil {
		q.mu.Unlock()
		return false
	}
	q.remove(w)
	q.mu.Unlock()
	w.ch <- s
	return true
}

// Kick wakes every waiter to try to pick a server itself: limits were raised
// or servers added, and slots may be free that no Done will hand over.
func (q *Queue) Kick() {
	q.mu.Lock()
	var ws []*waiter
	for w := q.head; w != nil; w = q.head {
		q.remove(w)
		ws = append(ws, w)
	}
	q.mu.Unlock()
	for _, w := range ws {
		w.ch <- nil
	}
}

func (q *Queue) push(w *waiter) {
	w.prev, w.next, w.queued = q.tail, nil, true
	if q.tail != nil {
		q.tail.next = w
	} else {
		q.head = w
	}
	q.tail = w
	q.n.Add(1)
}

func (q *Queue) remove(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		q.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		q.tail = w.prev
	}
	w.prev, w.next, w.queued = nil, nil, false
	q.n.Add(-1)
}
