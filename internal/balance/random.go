package balance

import (
	"math/bits"

	"github.com/usher-lb/usher/internal/pool"
)

// drawTries is how many weighted draws a sampling pick makes before it falls back
// to a scan of all servers.
const drawTries = 16

// random picks a server at random with probability proportional to its weight
// (times its slow-start ramp and agent weight), among the servers it can take.
//
// A draw costs O(1) (Vose's alias table, built once); a drawn server that cannot
// be taken (unavailable; or, while ramping up, with probability 1-ramp) is drawn
// again, which samples exactly the wanted distribution. After drawTries failed
// draws the pick scans all servers (O(n), exact too).
type random struct {
	base
	alias alias
}

// Pick returns a random available server, by weight.
func (p *random) Pick(uint64) *pool.Server { return p.pick(false) }

// PickAny is Pick over the servers not drained, without slow start.
func (p *random) PickAny(uint64) *pool.Server { return p.pick(true) }

func (p *random) pick(panicMode bool) *pool.Server {
	r := p.newRNG()
	var now int64
	if k := p.draw(&p.alias, panicMode, -1, &now, &r); k >= 0 {
		return p.servers[k]
	}
	return nil
}

// draw returns the index of a server drawn by effective weight among those that
// can be taken, other than server not (-1: none excluded); -1 when there is none.
func (b *base) draw(a *alias, panicMode bool, not int, now *int64, r *rng) int {
	if len(a.prob) == 0 {
		return -1
	}
	for range drawTries {
		k := a.draw(r)
		if k == not || !b.eligible(k, panicMode) {
			continue
		}
		if panicMode {
			return k
		}
		if f := b.ramp(b.servers[k], now); f >= 1 || r.float() < f {
			return k
		}
	}
	return b.scanWeighted(panicMode, not, now, r)
}

// alias is Vose's alias table over integer weights: a draw takes one random
// number and returns index i with probability weight[i]/sum(weights), exactly up
// to 2^-64.
type alias struct {
	prob  []uint64 // keep bucket i with probability prob[i]/2^64, else take alias[i]
	alias []int32
}

func newAlias(weights []uint32) alias {
	n := uint64(len(weights))
	var total uint64
	for _, w := range weights {
		total += uint64(w)
	}
	if total == 0 {
		return alias{}
	}
	a := alias{prob: make([]uint64, n), alias: make([]int32, n)}
	// Bucket i holds mass weights[i]*n out of a capacity of total per bucket.
	mass := make([]uint64, n)
	var small, large []int
	for i, w := range weights {
		mass[i] = uint64(w) * n
		if mass[i] < total {
			small = append(small, i)
		} else {
			large = append(large, i)
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		a.prob[s], _ = bits.Div64(mass[s], 0, total) // mass[s]/total as a 64-bit fraction
		a.alias[s] = int32(l)
		mass[l] -= total - mass[s]
		if mass[l] < total {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	// What is left is full (exact arithmetic leaves no small bucket alone).
	for _, i := range append(small, large...) {
		a.alias[i] = int32(i)
	}
	return a
}

// draw returns an index with probability proportional to its weight.
func (a *alias) draw(r *rng) int {
	i, frac := bits.Mul64(r.next(), uint64(len(a.prob)))
	if frac < a.prob[i] {
		return int(i)
	}
	return int(a.alias[i])
}
