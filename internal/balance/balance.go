// Package balance holds the load-balancing algorithms. A Picker chooses one server
// of a service for each request.
//
// An algorithm never sees HTTP: a hash algorithm gets a key that the caller
// computed (HashString of the client IP, the URI, a header or a cookie). A Picker
// is built once per config snapshot over the snapshot's servers and never changes;
// what it learns about servers (in-flight counts, health, latency) lives in the
// shared *pool.Server values, so that a reload keeps it. Picking takes no lock,
// allocates nothing, and touches shared memory only through atomics.
//
// Weights are those the servers have when the picker is built (or Options.Weights);
// a weight of 0 takes no new traffic. Slow start (Options.SlowStart) gives a server
// that just became available an effective weight of weight*ramp, ramp growing
// linearly from 1/10 to 1 over SlowStart since pool.Server.AvailableSince; each
// algorithm says how it applies it (hash algorithms ignore it, as it would move
// keys). The weight percent a server's agent reports (pool.Server.AgentWeight,
// from its health probes) is multiplied into ramp the same way, read on every
// pick, so that it applies at once without rebuilding the picker; an agent's 0%
// (or drain) takes the server out of new traffic in every algorithm, hash ones
// included, through pool.Server.Available.
//
// Panic mode: Pick returns nil when no server is available; a service configured
// with whenNoHealthy: panic then calls PickAny, which spreads requests with the
// same algorithm over every server not drained (by an operator, a reload or its
// agent), healthy or not (as Envoy does when too few hosts are healthy).
package balance

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"time"

	"github.com/usher-lb/usher/internal/pool"
)

// Algorithm names, as in the config's loadBalancer.algorithm.
const (
	RoundRobin       = "round-robin"
	Random           = "random"
	LeastConnections = "least-connections"
	P2C              = "p2c"
	EWMA             = "ewma"
	LeastTime        = "least-time"
	IPHash           = "ip-hash"
	URIHash          = "uri-hash"
	HeaderHash       = "header-hash"
	CookieHash       = "cookie-hash"
)

// Defaults of Options.
const (
	DefaultHashBalanceFactor = 1.25
	DefaultDecay             = pool.DefaultDecay
)

// Options configures a Picker. The zero value is round-robin with the defaults.
type Options struct {
	// Algorithm is one of the names above; "" is round-robin.
	Algorithm string
	// HashBalanceFactor bounds the load of hash algorithms: no server takes a new
	// request while its in-flight count would pass this times its share of the
	// total (see consistentHash). 0 means 1.25; it must be >= 1 (a large value such
	// as 1e9 turns the bound off).
	HashBalanceFactor float64
	// Decay is the time constant tau of the latency averages (ewma, least-time).
	// 0 means 10s. New sets it on the servers' pool.Latency.
	Decay time.Duration
	// SlowStart ramps the effective weight of a server that just became available
	// from 1/10 to full over this long. 0 turns slow start off.
	SlowStart time.Duration
	// Weights, when not nil, are the servers' weights (same order and length as
	// the servers); nil means each server's Weight() at the time New is called.
	// A compile that builds pickers before pool.Build.Commit applies the new
	// weights must pass them here. A weight <= 0 takes no traffic.
	Weights []int
	// Rand, when not nil, replaces the runtime's random source as the seed of
	// each pick's random numbers (draws, tie breaks, round-robin's starting
	// slot), so that a simulation (internal/sim) is reproducible. It is called
	// once per pick and must be as safe for concurrent use as the picks are.
	Rand func() uint64
}

// Picker chooses a server among a fixed list, for one request. It is safe for
// concurrent use, takes no lock and allocates nothing.
type Picker interface {
	// Pick returns an available server (pool.Server.Available) or nil when none
	// is. key is the request's key for hash algorithms, made with HashString (any
	// uint64 will do: Pick mixes it); other algorithms ignore it. A request
	// without a key (header or cookie absent) should pass a random key
	// (rand.Uint64()), else all such requests go to one server.
	Pick(key uint64) *pool.Server
	// PickAny is Pick for panic mode: it ignores health (down, ejected, the
	// agent's down), slow start and agent weights but still never returns a
	// drained server (by an operator, a reload or its agent) or one of weight 0.
	// It returns nil only when every server is drained or of weight 0.
	PickAny(key uint64) *pool.Server
	// PickOther is Pick for a retry: an available server not in tried, chosen
	// the algorithm's way (by weight, by load, the next one on the ring for a
	// hash), but without moving what Pick keeps for the requests to come
	// (round-robin's position), so that a retry does not shift the order in
	// which later requests meet the servers. It returns nil when every
	// available server was tried. It may scan all servers.
	PickOther(key uint64, tried []*pool.Server) *pool.Server
}

// New returns a picker over servers. The picker keeps servers (not a copy) and
// never changes it. It fails for an unknown algorithm or bad options.
func New(opts Options, servers []*pool.Server) (Picker, error) {
	if opts.Algorithm == "" {
		opts.Algorithm = RoundRobin
	}
	if opts.HashBalanceFactor == 0 {
		opts.HashBalanceFactor = DefaultHashBalanceFactor
	}
	if opts.Decay == 0 {
		opts.Decay = DefaultDecay
	}
	switch {
	case !(opts.HashBalanceFactor >= 1): // NaN too
		return nil, fmt.Errorf("balance: hash balance factor %g is below 1", opts.HashBalanceFactor)
	case opts.Decay < 0:
		return nil, fmt.Errorf("balance: negative decay %s", opts.Decay)
	case opts.SlowStart < 0:
		return nil, fmt.Errorf("balance: negative slow start %s", opts.SlowStart)
	case opts.Weights != nil && len(opts.Weights) != len(servers):
		return nil, fmt.Errorf("balance: %d weights for %d servers", len(opts.Weights), len(servers))
	}
	b := newBase(opts, servers)
	switch opts.Algorithm {
	case RoundRobin:
		return newRoundRobin(b), nil
	case Random:
		return &random{base: b, alias: newAlias(b.weights)}, nil
	case LeastConnections:
		return &leastConnections{base: b}, nil
	case P2C:
		return &p2c{base: b, alias: newAlias(b.weights)}, nil
	case EWMA:
		for _, s := range servers {
			s.Lat.SetDecay(opts.Decay)
		}
		return &ewma{base: b, alias: newAlias(b.weights)}, nil
	case LeastTime:
		for _, s := range servers {
			s.Lat.SetDecay(opts.Decay)
		}
		return &leastTime{base: b}, nil
	case IPHash, URIHash, HeaderHash, CookieHash:
		return newConsistentHash(b, opts.HashBalanceFactor), nil
	}
	return nil, fmt.Errorf("balance: unknown algorithm %q", opts.Algorithm)
}

// IsHash tells whether algorithm picks by a key that the caller must compute.
func IsHash(algorithm string) bool {
	switch algorithm {
	case IPHash, URIHash, HeaderHash, CookieHash:
		return true
	}
	return false
}

// HashString is a stable 64-bit hash of s (FNV-1a), the same in every process and
// release, for callers to make keys. It does not allocate.
func HashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// HashBytes is HashString of b, without making a string of it.
func HashBytes(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// minRamp is the share of its weight a server gets when its slow start begins.
const minRamp = 0.1

// base is what every picker has: the servers, their weights when the picker was
// built, and slow start.
type base struct {
	servers   []*pool.Server
	weights   []uint32 // weight at construction; 0 = never picked
	slowStart int64    // nanoseconds; 0 = off
	clock     func() time.Time
	rand      func() uint64 // Options.Rand; nil = the runtime's source
}

func newBase(opts Options, servers []*pool.Server) base {
	b := base{
		servers:   servers,
		weights:   make([]uint32, len(servers)),
		slowStart: int64(opts.SlowStart),
		clock:     time.Now,
		rand:      opts.Rand,
	}
	for i, s := range servers {
		w := s.Weight()
		if opts.Weights != nil {
			w = opts.Weights[i]
		}
		b.weights[i] = uint32(max(0, min(w, 1<<31-1)))
	}
	return b
}

// eligible tells whether server k may be picked: weight above 0 when the picker
// was built, not at its limit (pool.Server.Full), and available, or in panic mode not drained (by an operator, a reload
// or its agent) and of weight above 0.
func (b *base) eligible(k int, panicMode bool) bool {
	if b.weights[k] == 0 {
		return false
	}
	s := b.servers[k]
	if s.Full() { // at its maxConns, healthy or not: the request waits or is refused
		return false
	}
	if panicMode {
		return !s.Draining() && !s.AgentDraining() && s.Weight() > 0
	}
	return s.Available()
}

// ramp is the factor of s's weight: its slow-start ramp, in [minRamp, 1], times
// the weight percent its agent reports over 100. It is 1 for a server neither
// ramping up nor scaled down by its agent, and 0 only when the agent just set 0%
// (the server is then no longer available: callers skip it). now holds the time
// in unix nanoseconds, read from the clock on first use within a pick (0 = not
// yet read).
func (b *base) ramp(s *pool.Server, now *int64) float64 {
	f := 1.0
	if a := s.AgentWeight(); a < 100 {
		f = float64(a) / 100
	}
	if b.slowStart == 0 {
		return f
	}
	if *now == 0 {
		*now = b.clock().UnixNano()
	}
	age := *now - s.AvailableSince().UnixNano()
	switch {
	case age >= b.slowStart:
		return f
	case age <= 0:
		return f * minRamp
	}
	return f * (minRamp + (1-minRamp)*float64(age)/float64(b.slowStart))
}

// effWeight is the weight of server k with slow start applied (not in panic mode).
func (b *base) effWeight(k int, panicMode bool, now *int64) float64 {
	w := float64(b.weights[k])
	if panicMode {
		return w
	}
	return w * b.ramp(b.servers[k], now)
}

// scanWeighted returns the index of an eligible server other than not (-1: none
// excluded) picked at random with probability proportional to its effective
// weight, or -1 when there is none.
// It makes two passes over all servers: the fallback of the sampling pickers when
// sampling keeps hitting servers it cannot take.
func (b *base) scanWeighted(panicMode bool, not int, now *int64, r *rng) int {
	var total float64
	for k := range b.servers {
		if k != not && b.eligible(k, panicMode) {
			total += b.effWeight(k, panicMode, now)
		}
	}
	if total == 0 {
		return -1
	}
	x := r.float() * total
	last := -1
	for k := range b.servers {
		if k == not || !b.eligible(k, panicMode) {
			continue
		}
		w := b.effWeight(k, panicMode, now)
		if w == 0 {
			continue
		}
		last = k
		if x -= w; x < 0 {
			return k
		}
	}
	return last // availability changed between the passes
}

// lowest tracks the lowest score seen and breaks ties by weighted reservoir
// sampling: of the entries offered with the lowest score, each ends up chosen
// with probability its weight over their summed weight.
type lowest struct {
	k     int // -1 when none seen
	score float64
	ties  float64 // summed weight of the entries tied at score
}

func (l *lowest) offer(k int, score, w float64, r *rng) {
	if l.k < 0 || score < l.score {
		l.k, l.score, l.ties = k, score, w
	} else if score == l.score {
		l.tie(k, w, r)
	}
}

// tie offers an entry with the lowest score seen.
func (l *lowest) tie(k int, w float64, r *rng) {
	l.ties += w
	if r.float()*l.ties < w {
		l.k = k
	}
}

// rng is a splitmix64 generator local to one pick, seeded from the runtime's
// lock-free per-thread source (or Options.Rand): cheap draws without touching
// shared memory.
type rng uint64

func (b *base) newRNG() rng {
	if b.rand != nil {
		return rng(b.rand())
	}
	return rng(rand.Uint64())
}

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	return mix64(uint64(*r))
}

// below returns a number in [0, n) (Lemire's multiply-shift; bias below n/2^64).
func (r *rng) below(n uint64) uint64 {
	hi, _ := bits.Mul64(r.next(), n)
	return hi
}

// float returns a number in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) * 0x1p-53 }

// mix64 is splitmix64's finalizer: a bijection that spreads every input bit over
// the output.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
