package forwardauth

import (
	"container/list"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// cache keeps the auth server's answers, so that a client sending the same
// credentials for the same thing is not asked about again while the answer
// holds. What it may keep and for how long is the auth server's to say, in
// Cache-Control (cacheFor); usher never keeps an answer longer than its
// max-age, nor longer than maxTTL.
//
// The key is a SHA-256 of a random salt (one per cache) and of what the auth
// server saw that may matter: the method it was asked with, and the fields it
// got, by name and value: Authorization and Cookie always, so that an entry
// is a credential's; then every other field sent (X-Forwarded-* included, so
// the client's address, the host and the request target), but those that
// change with every request and say nothing of who asks (X-Request-Id, trace
// context), or, with vary, only those listed. Credentials are never kept, only
// the key they give.
//
// Requests with the same key that miss at once make one request to the auth
// server (join, land): the others wait for its answer and take it if it may
// be kept, or ask for themselves when it may not.
//
// It is bounded by maxBytes (each entry counted by its size); when full, the
// oldest entries go first. It is safe for concurrent use; a hit takes a read
// lock of one shard of it.
type cache struct {
	salt     [16]byte
	maxTTL   time.Duration
	vary     []string // canonical, sorted, Authorization and Cookie in it; nil: every field sent
	perShard int64
	maxEntry int64
	mask     byte
	shards   []shard
	clock    func() int64 // monotonic nanoseconds; tests replace it
}

type shard struct {
	mu      sync.RWMutex
	m       map[[sha256.Size]byte]*entry
	order   list.List // of *entry, oldest first
	bytes   int64
	flights map[[sha256.Size]byte]*flight
}

type entry struct {
	key     [sha256.Size]byte
	d       *decision
	expires int64 // monotonic
	size    int64
	elem    *list.Element
}

// flight is an answer some request is waiting for; d (nil when the answer
// may not be kept) and err (the auth server's failure, nil when it answered)
// are set before done is closed.
type flight struct {
	done    chan struct{}
	d       *decision
	err     error
	waiting atomic.Int32 // requests waiting for it (for tests)
}

func newCache(maxBytes int64, maxTTL time.Duration, vary []string) *cache {
	if maxBytes <= 0 {
		maxBytes = 16 << 20
	}
	if maxTTL <= 0 {
		maxTTL = 5 * time.Minute
	}
	n := 1 // shards: more of them while each keeps at least 64KiB
	for n < 16 && maxBytes/int64(n*2) >= 64<<10 {
		n *= 2
	}
	c := &cache{maxTTL: maxTTL, perShard: maxBytes / int64(n), mask: byte(n - 1), shards: make([]shard, n), clock: monoNow}
	c.maxEntry = c.perShard / 4
	rand.Read(c.salt[:])
	if vary != nil {
		c.vary = slices.Clone(vary)
		for _, k := range []string{"Authorization", "Cookie"} {
			if !slices.Contains(c.vary, k) {
				c.vary = append(c.vary, k)
			}
		}
		slices.Sort(c.vary)
	}
	for i := range c.shards {
		c.shards[i].m = map[[sha256.Size]byte]*entry{}
		c.shards[i].flights = map[[sha256.Size]byte]*flight{}
	}
	return c
}

func (c *cache) now() int64 { return c.clock() }

func (c *cache) shard(key *[sha256.Size]byte) *shard { return &c.shards[key[0]&c.mask] }

// get returns the decision kept under key, nil when none is fresh at now.
func (c *cache) get(key *[sha256.Size]byte, now int64) *decision {
	s := c.shard(key)
	s.mu.RLock()
	e := s.m[*key]
	s.mu.RUnlock()
	if e == nil || now >= e.expires {
		return nil
	}
	return e.d
}

// put keeps d under key for ttl.
func (c *cache) put(key *[sha256.Size]byte, d *decision, ttl time.Duration) {
	size := d.size() + 128
	if size > c.maxEntry {
		return
	}
	now := c.now()
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.m[*key]; old != nil {
		s.remove(old)
	}
	e := &entry{key: *key, d: d, expires: now + int64(ttl), size: size}
	e.elem = s.order.PushBack(e)
	s.m[*key] = e
	s.bytes += size
	for front := s.order.Front(); front != nil; front = s.order.Front() {
		old := front.Value.(*entry)
		if s.bytes <= c.perShard && now < old.expires {
			break
		}
		s.remove(old)
	}
}

func (s *shard) remove(e *entry) {
	s.order.Remove(e.elem)
	delete(s.m, e.key)
	s.bytes -= e.size
}

// closed is the done of a flight that has landed already.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// join returns the flight of key: leader when the caller is to ask the auth
// server (and then land), or another request's to wait for.
func (c *cache) join(key *[sha256.Size]byte) (f *flight, leader bool) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.flights[*key]; f != nil {
		return f, false
	}
	if e := s.m[*key]; e != nil && c.now() < e.expires { // landed since the caller missed
		return &flight{done: closed, d: e.d}, false
	}
	f = &flight{done: make(chan struct{})}
	s.flights[*key] = f
	return f, true
}

// land ends the leader's flight with d, the decision kept (nil: none), or
// with the auth server's failure.
func (c *cache) land(key *[sha256.Size]byte, f *flight, d *decision, err error) {
	s := c.shard(key)
	s.mu.Lock()
	if s.flights[*key] == f {
		delete(s.flights, *key)
	}
	s.mu.Unlock()
	f.d, f.err = d, err
	close(f.done)
}

// len is the number of entries (for tests).
func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// key is r's cache key, and whether r sent the auth server a credential
// (Authorization or Cookie).
func (c *cache) key(fa *forwardAuth, r *http.Request, fwd *forwarded) (key [sha256.Size]byte, credentialed bool) {
	var stack [1024]byte
	b := append(stack[:0], c.salt[:]...)
	method := r.Method
	if fa.get {
		method = http.MethodGet
	}
	b = appendString(b, method)
	if c.vary != nil {
		for _, k := range c.vary {
			b = appendField(b, fa, r, fwd, k)
		}
	} else {
		var nb [64]string
		names := nb[:0]
		for k := range r.Header {
			if !noise(k) && fa.sendable(k) {
				names = append(names, k)
			}
		}
		for i, k := range forwardedNames {
			if fwd.vals[i] != "" {
				names = append(names, k)
			}
		}
		slices.Sort(names)
		for _, k := range names {
			b = appendField(b, fa, r, fwd, k)
		}
	}
	for _, k := range [...]string{"Authorization", "Cookie"} {
		if vv := r.Header[k]; len(vv) > 0 && vv[0] != "" && fa.sendable(k) {
			credentialed = true
		}
	}
	return sha256.Sum256(b), credentialed
}

// appendField appends the field k as the auth server gets it (nothing when
// it gets none): its name, the number of values, each with its length.
func appendField(b []byte, fa *forwardAuth, r *http.Request, fwd *forwarded, k string) []byte {
	if fa.ours(k) {
		for i, n := range forwardedNames {
			if n == k && fwd.vals[i] != "" {
				b = appendString(b, k)
				b = binary.AppendUvarint(b, 1)
				return appendString(b, fwd.vals[i])
			}
		}
		return b
	}
	vv, ok := r.Header[k]
	if !ok || !fa.sendable(k) {
		return b
	}
	b = appendString(b, k)
	b = binary.AppendUvarint(b, uint64(len(vv)))
	for _, v := range vv {
		b = appendString(b, v)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// noise tells whether the field k changes with every request and says
// nothing of who asks: left out of the default key.
func noise(k string) bool {
	switch k {
	case "X-Request-Id", "Traceparent", "Tracestate", "Baggage", "X-Amzn-Trace-Id",
		"X-Cloud-Trace-Context", "Sentry-Trace", "Uber-Trace-Id", "B3", "X-B3-Traceid",
		"X-B3-Spanid", "X-B3-Parentspanid", "X-B3-Sampled", "X-B3-Flags",
		"X-Datadog-Trace-Id", "X-Datadog-Parent-Id", "X-Datadog-Sampling-Priority":
		return true
	}
	return false
}

// cacheFor is how long an answer with header h may be kept: 0 for not at all.
// The auth server decides, as an origin server does for a shared cache
// (RFC 9111), and usher is stricter:
//   - only with s-maxage or max-age (s-maxage wins), less the Age; never by
//     heuristics or Expires alone;
//   - never with no-store or no-cache (usher does not revalidate);
//   - private only when the request carried a credential, so that the entry
//     is that credential's (the key has it);
//   - never an answer that sets cookies (each may be a new session), nor a
//     5xx, nor one whose Vary names a field that is not in the key (or *);
//   - at most maxTTL.
func (c *cache) cacheFor(status int, h http.Header, credentialed bool) time.Duration {
	if status >= 500 || status < 200 || len(h["Set-Cookie"]) > 0 {
		return 0
	}
	for _, v := range h["Vary"] {
		for _, tok := range strings.Split(v, ",") {
			tok = strings.TrimSpace(tok)
			if tok == "" {
				continue
			}
			if tok == "*" {
				return 0
			}
			k := http.CanonicalHeaderKey(tok)
			if (c.vary != nil && !slices.Contains(c.vary, k)) || (c.vary == nil && noise(k)) {
				return 0
			}
		}
	}
	cc := h["Cache-Control"]
	if len(cc) == 0 {
		return 0
	}
	maxAge, sMaxAge := int64(-1), int64(-1)
	for _, v := range cc {
		for _, d := range strings.Split(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return 0
			case "private":
				if !credentialed {
					return 0
				}
			case "max-age":
				if maxAge = seconds(arg, maxAge); maxAge < 0 {
					return 0
				}
			case "s-maxage":
				if sMaxAge = seconds(arg, sMaxAge); sMaxAge < 0 {
					return 0
				}
			}
		}
	}
	age := maxAge
	if sMaxAge >= 0 {
		age = sMaxAge
	}
	if age <= 0 {
		return 0
	}
	if a := h["Age"]; len(a) > 0 {
		n, err := strconv.ParseInt(strings.TrimSpace(a[0]), 10, 64)
		if err != nil || n < 0 {
			return 0
		}
		age -= n
		if age <= 0 {
			return 0
		}
	}
	const maxSeconds = int64(1<<63-1) / int64(time.Second)
	if age > maxSeconds {
		age = maxSeconds
	}
	return min(time.Duration(age)*time.Second, c.maxTTL)
}

// seconds parses a delta-seconds argument (quoted or not); -1 for a bad
// one. Of two, the smaller holds.
func seconds(arg string, prev int64) int64 {
	arg = strings.Trim(strings.TrimSpace(arg), `"`)
	if arg == "" {
		return -1
	}
	for i := 0; i < len(arg); i++ {
		if arg[i] < '0' || arg[i] > '9' {
			return -1
		}
	}
	n, err := strconv.ParseInt(arg, 10, 64)
	if err != nil {
		n = 1<<63 - 1 // over the range: as large as can be (RFC 9111 1.2.2)
	}
	if prev >= 0 && prev < n {
		return prev
	}
	return n
}
