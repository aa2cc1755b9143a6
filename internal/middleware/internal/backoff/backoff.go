// Package backoff slows down clients whose credentials keep failing: after
// a few failures in a row, a client (an IPv4 address, an IPv6 /64) is
// refused without a check for a time that doubles with each further
// failure. Guessing passwords online then takes days where it took
// minutes, and a stream of wrong passwords costs usher no hashing.
//
// Memory is bounded: at most a fixed number of clients are remembered, the
// ones that have stopped failing forgotten first.
package backoff

import (
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/usher-lb/usher/internal/observe"
)

// Policy of every Clients: Free failures in a row are let through to the
// check; then each failure closes the door for First, doubling up to Max.
// A client that has not failed for Forget starts afresh.
const (
	Free   = 5
	First  = time.Second
	Max    = time.Minute
	Forget = 15 * time.Minute
)

// Clients remembers failing clients. Its methods are safe for concurrent
// use.
type Clients struct {
	mu  sync.Mutex
	m   map[netip.Addr]*entry
	max int
	now func() time.Time
}

type entry struct {
	fails int
	until time.Time // refused before this
	last  time.Time // the last failure
}

// New returns Clients that remember at most max of them (0: 16384).
func New(max int) *Clients {
	if max <= 0 {
		max = 16384
	}
	return &Clients{m: map[netip.Addr]*entry{}, max: max, now: time.Now}
}

// key is the client's address, an IPv6 one cut to its /64: one host may
// have a whole /64 to itself.
func key(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// Wait is how long ip must still wait before its credentials are checked
// again; 0 when they may be now.
func (c *Clients) Wait(ip netip.Addr) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[key(ip)]
	if e == nil {
		return 0
	}
	if d := e.until.Sub(c.now()); d > 0 {
		return d
	}
	return 0
}

// Fail records a failed check from ip and returns how long it must now wait
// (0 while it is within its free failures).
func (c *Clients) Fail(ip netip.Addr) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	now, k := c.now(), key(ip)
	e := c.m[k]
	if e != nil && now.Sub(e.last) > Forget {
		e.fails = 0
	}
	if e == nil {
		if len(c.m) >= c.max {
			c.evict(now)
		}
		e = &entry{}
		c.m[k] = e
	}
	e.fails++
	e.last = now
	if e.fails <= Free {
		return 0
	}
	d := First << min(e.fails-Free-1, 16)
	d = min(d, Max)
	e.until = now.Add(d)
	return d
}

// Succeed forgets ip's failures.
func (c *Clients) Succeed(ip netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key(ip))
}

// Len is how many clients are remembered.
func (c *Clients) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// evict makes room: clients forgotten by the policy go, and when none has,
// an eighth of the rest (those the map gives first: no order to keep up on
// every failure). Runs rarely: only when the table is full.
func (c *Clients) evict(now time.Time) {
	for k, e := range c.m {
		if now.Sub(e.last) > Forget && !e.until.After(now) {
			delete(c.m, k)
		}
	}
	for k := range c.m {
		if len(c.m) < c.max-c.max/8 {
			break
		}
		delete(c.m, k)
	}
}

// ClientIP is the client's address as the entrypoint found it (through
// trusted proxies), else the connection's.
func ClientIP(w http.ResponseWriter, r *http.Request) netip.Addr {
	if rec := observe.From(w); rec != nil && rec.ClientIP.IsValid() {
		return rec.ClientIP
	}
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	return ap.Addr()
}

// Refuse answers 429 to a client that must wait, with Retry-After in whole
// seconds.
func Refuse(w http.ResponseWriter, wait time.Duration) {
	h := w.Header()
	h["Retry-After"] = []string{strconv.Itoa(int((wait + time.Second - 1) / time.Second))}
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["Cache-Control"] = []string{"no-store"}
	w.WriteHeader(http.StatusTooManyRequests)
	io.WriteString(w, "429 Too Many Requests: too many failed logins from this address; try again later\n")
}
