package balance

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
	"sync/atomic"

	"github.com/usher-lb/usher/internal/pool"
)

// Ring sizes of consistentHash.
const (
	pointsPerWeight = 100     // ring points per unit of weight
	maxPoints       = 1 << 16 // past this, points are scaled down
)

// consistentHash is consistent hashing with bounded loads (Mirrokni, Thorup and
// Zadimoghaddam, 2016; HAProxy's hash-balance-factor), for ip-hash, uri-hash,
// header-hash and cookie-hash alike: only the caller's key differs.
//
// The ring has 100 points per unit of weight for each server, at positions hashed
// from the server's URL hash (pool.Server.Hash) and the point's number, so a
// server's points do not depend on the others: adding or removing one of N
// servers of equal weight moves about 1/N of the keys, and a server that becomes
// unavailable gives away only its own keys. (When the weights sum past
// maxPoints/100, every server's points are scaled down to fit, which makes them
// depend on the total weight.)
//
// A pick mixes the key, finds the first point clockwise from it (bucket table,
// then binary search: O(1) on average) and walks clockwise, skipping servers
// that cannot be taken (unavailable) and servers that are full: a server is full
// when one more request would put its in-flight count above its share of the
// load, ceil(factor * (total + 1) * weight / W), total being the in-flight count
// of the available servers and W their summed weight (with equal weights:
// ceil(factor * (total + 1) / n_available)). The caps sum to more than the load,
// so some server always has room; a server with nothing in flight always has.
//
// Loads cost a scan of all servers, which is made at most once every n/4+1 picks
// (amortized O(1)) and only by picks whose first candidate has requests in flight;
// in between, total is taken as the last scan's plus the picks made since (each
// is about to start a request), so it never undercounts this picker's own
// requests and overcounts only by those that finished since the scan (never more
// than n/4+1). Panic mode scans every time.
//
// After 4n+16 points without a server, the pick falls back to the server with the
// fewest in-flight requests per weight (O(n)). Slow start does not apply: it would
// move keys.
type consistentHash struct {
	base
	factor  float64
	points  []uint32 // ring positions, sorted
	owner   []int32  // server index of each point
	index   []uint32 // index[b]: first point whose position>>shift >= b
	shift   uint
	steps   int    // most points walked
	refresh uint64 // picks between two scans of the loads
	_       [64]byte
	picks   atomic.Uint64 // picks made
	scan    atomic.Uint64 // last scan: total in-flight << 32 | uint32(picks then)
	weight  atomic.Uint64 // last scan: summed weight of the available servers
	_       [64]byte
}

func newConsistentHash(b base, factor float64) *consistentHash {
	p := &consistentHash{base: b, factor: factor}
	n := len(b.servers)
	p.steps = 4*n + 16
	p.refresh = uint64(n/4 + 1)

	var total uint64
	for _, w := range b.weights {
		total += uint64(w)
	}
	reps := func(w uint32) uint64 { return uint64(w) * pointsPerWeight }
	if total*pointsPerWeight > maxPoints {
		reps = func(w uint32) uint64 {
			if w == 0 {
				return 0
			}
			return max(1, uint64(w)*maxPoints/total)
		}
	}
	type point struct {
		pos   uint32
		owner int32
	}
	var ring []point
	for k, s := range b.servers {
		for i := range reps(b.weights[k]) {
			pos := uint32(mix64(s.Hash+(i+1)*0x9e3779b97f4a7c15) >> 32)
			ring = append(ring, point{pos, int32(k)})
		}
	}
	slices.SortFunc(ring, func(a, b point) int {
		return cmp.Or(cmp.Compare(a.pos, b.pos), cmp.Compare(a.owner, b.owner))
	})
	p.points = make([]uint32, len(ring))
	p.owner = make([]int32, len(ring))
	for i, pt := range ring {
		p.points[i], p.owner[i] = pt.pos, pt.owner
	}

	// Bucket table: 2^nb buckets, one or two points each.
	nb := max(0, bits.Len(uint(len(ring)))-1)
	p.shift = uint(32 - nb)
	p.index = make([]uint32, 1<<nb+1)
	j := 0
	for b := range p.index {
		for j < len(p.points) && uint64(p.points[j])>>p.shift < uint64(b) {
			j++
		}
		p.index[b] = uint32(j)
	}
	return p
}

// Pick returns the first server clockwise from key's point that is available and
// not full.
func (p *consistentHash) Pick(key uint64) *pool.Server { return p.pickAmong(key, false, nil) }

// PickAny is Pick over the servers not drained.
func (p *consistentHash) PickAny(key uint64) *pool.Server { return p.pickAmong(key, true, nil) }

// pickAmong is the pick, among the servers not in tried.
func (p *consistentHash) pickAmong(key uint64, panicMode bool, tried []*pool.Server) *pool.Server {
	if len(p.points) == 0 {
		return nil
	}
	h := mix64(key)
	pick := p.picks.Add(1)
	i := p.lookup(uint32(h >> 32))
	var total, weight float64 // loads, read when first needed
	for range min(p.steps, len(p.points)) {
		k := int(p.owner[i])
		if p.eligible(k, panicMode) && !p.tried(k, tried) {
			s := p.servers[k]
			in := s.InFlight()
			if in <= 0 {
				return s
			}
			if weight == 0 {
				total, weight = p.loads(panicMode, pick)
			}
			// in+1 <= ceil(x) ⇔ in < x, for an integer in.
			if float64(in) < p.factor*(total+1)*float64(p.weights[k])/max(weight, float64(p.weights[k])) {
				return s
			}
		}
		if i++; i == len(p.points) {
			i = 0
		}
	}
	return p.leastLoaded(h, panicMode, tried)
}

// lookup returns the index of the first point at or after pos, wrapping to 0.
func (p *consistentHash) lookup(pos uint32) int {
	b := uint64(pos) >> p.shift
	lo, hi := int(p.index[b]), int(p.index[b+1])
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if p.points[m] < pos {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(p.points) {
		return 0
	}
	return lo
}

// loads returns the in-flight total of the servers that can be taken and their
// summed weight, scanning them when the last scan is refresh picks old.
func (p *consistentHash) loads(panicMode bool, pick uint64) (total, weight float64) {
	if !panicMode {
		last := p.scan.Load()
		if since := uint64(uint32(pick) - uint32(last)); last != 0 && since < p.refresh {
			return float64(last>>32 + since), math.Float64frombits(p.weight.Load())
		}
	}
	var t int64
	for k, s := range p.servers {
		if p.eligible(k, panicMode) {
			t += max(0, s.InFlight())
			weight += float64(p.weights[k])
		}
	}
	if !panicMode {
		p.weight.Store(math.Float64bits(weight))
		p.scan.Store(uint64(min(t, math.MaxUint32))<<32 | uint64(uint32(pick)))
	}
	return float64(t), weight
}

// leastLoaded returns the server that can be taken with the fewest in-flight
// requests per weight, scanning from a point that depends on the key so that the
// same key finds the same server while loads stay the same.
func (p *consistentHash) leastLoaded(h uint64, panicMode bool, tried []*pool.Server) *pool.Server {
	n := len(p.servers)
	start, _ := bits.Mul64(h, uint64(n))
	best, bestScore := -1, 0.0
	for j := range n {
		k := (int(start) + j) % n
		if !p.eligible(k, panicMode) || p.tried(k, tried) {
			continue
		}
		score := float64(p.servers[k].InFlight()+1) / float64(p.weights[k])
		if best < 0 || score < bestScore {
			best, bestScore = k, score
		}
	}
	if best < 0 {
		return nil
	}
	return p.servers[best]
}
