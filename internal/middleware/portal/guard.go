package portal

import (
	"sync"
	"time"
)

// guard counts failed logins per key (a user name, a client address) and
// makes the failing wait: the first free failures in a row cost nothing,
// each one after doubles a wait from a second up to a minute, and the
// limit-th locks the key for lockFor. A success forgets the key; so does a
// quiet spell of forget. Memory is bounded: at most max keys, those that
// have stopped failing forgotten first.
//
// The policy (free, limit, lockFor) is passed on each call rather than kept,
// so that one guard, kept across reloads, follows the config of the day.
type guard[K comparable] struct {
	mu  sync.Mutex
	m   map[K]*strikes
	max int
	now func() time.Time
}

type strikes struct {
	fails int
	until time.Time // refused before this
	last  time.Time // the last failure
}

const (
	firstWait = time.Second
	maxWait   = time.Minute
	forget    = 15 * time.Minute
)

func newGuard[K comparable](max int) *guard[K] {
	return &guard[K]{m: map[K]*strikes{}, max: max, now: time.Now}
}

// policy is when a guard makes a key wait and when it locks it.
type policy struct {
	free    int // failures in a row let through without a wait
	limit   int // the failure that locks (0: never)
	lockFor time.Duration
}

// wait is how long k must still wait before its next try is checked.
func (g *guard[K]) wait(k K) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.m[k]
	if s == nil {
		return 0
	}
	return max(0, s.until.Sub(g.now()))
}

// fail records a failure of k; it returns the wait that follows and whether
// this failure locked k.
func (g *guard[K]) fail(k K, p policy) (time.Duration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	s := g.m[k]
	if s != nil && now.Sub(s.last) > max(forget, p.lockFor) && !s.until.After(now) {
		s.fails = 0
	}
	if s != nil && p.limit > 0 && s.fails >= p.limit && !s.until.After(now) {
		s.fails = 0 // a lock served: start afresh
	}
	if s == nil {
		if len(g.m) >= g.max {
			g.evict(now)
		}
		s = &strikes{}
		g.m[k] = s
	}
	s.fails++
	s.last = now
	if p.limit > 0 && s.fails >= p.limit {
		s.until = now.Add(p.lockFor)
		return p.lockFor, s.fails == p.limit
	}
	if s.fails <= p.free {
		return 0, false
	}
	d := min(firstWait<<min(s.fails-p.free-1, 16), maxWait)
	s.until = now.Add(d)
	return d, false
}

// succeed forgets k's failures.
func (g *guard[K]) succeed(k K) {
	g.mu.Lock()
	delete(g.m, k)
	g.mu.Unlock()
}

func (g *guard[K]) evict(now time.Time) {
	for k, s := range g.m {
		if now.Sub(s.last) > forget && !s.until.After(now) {
			delete(g.m, k)
		}
	}
	for k, s := range g.m {
		if len(g.m) < g.max-g.max/8 {
			break
		}
		if !s.until.After(now) { // a lock is the last thing to forget
			delete(g.m, k)
		}
	}
	for k := range g.m {
		if len(g.m) < g.max-g.max/8 {
			break
		}
		delete(g.m, k)
	}
}

// steps keeps, per user, the last TOTP step that logged in: a code of that
// step or an earlier one is refused, so that a code seen over a shoulder or
// in a proxy's log cannot log in again.
type steps struct {
	mu   sync.Mutex
	last map[string]int64
}

// use takes step for user, unless it is not after the last one taken.
func (s *steps) use(user string, step int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if last, ok := s.last[user]; ok && step <= last {
		return false
	}
	s.last[user] = step
	return true
}
