package balance

import (
	"sync/atomic"

	"github.com/usher-lb/usher/internal/pool"
)

// maxSchedule bounds the length of a round-robin schedule (8 bytes a slot).
const maxSchedule = 1 << 16

// rrTries is how many slots a round-robin pick claims before it falls back to a
// weighted random choice.
const rrTries = 16

// roundRobin is smooth weighted round-robin (nginx's algorithm) without a lock.
//
// At construction nginx's algorithm runs once over the weights, reduced by their
// greatest common divisor, giving a schedule of sum(weights) slots in which each
// server has weight slots spread out: weights 5,1,1 give a a b a c a a, never five
// a in a row. Picks walk the schedule with one atomic counter, one slot each, and
// the walk starts at a random slot (so that reloads and restarts do not all begin
// with the same server).
//
// A slot whose server cannot be picked (unavailable, or drained in panic mode) is
// skipped, and with it the rest of that server's run of consecutive slots in one
// compare-and-swap of the counter (when no other pick came in between), so its
// share goes to the other servers in proportion to their weights, not to its
// neighbour in the schedule; each slot is used by one pick at most.
//
// Slow start: a slot of a server that is ramping up is taken with probability
// ramp and skipped otherwise, so its share grows linearly from 1/10 of its weight
// to its weight over SlowStart; picks stay lock-free. A weight percent from the
// server's agent is part of ramp and applies the same way.
//
// After rrTries skipped slots (most of the schedule unavailable) the pick falls
// back to a weighted random choice among the servers it can take, which is O(n).
// When the reduced weights sum to more than maxSchedule they are scaled down to
// fit, so proportions are then exact to about one part in maxSchedule/n.
type roundRobin struct {
	base
	sched []int32  // server index of each slot
	run   []uint32 // from a slot, how many slots until one of another server (>= 1)
	_     [56]byte // keep next on a cache line of its own
	next  atomic.Uint64
	_     [56]byte
	// anyNext is PickAny's own position: in panic mode every Pick first walks
	// (and moves) next in vain, and sharing it would lock PickAny into a pattern.
	anyNext atomic.Uint64
}

func newRoundRobin(b base) *roundRobin {
	p := &roundRobin{base: b, sched: smoothSchedule(b.weights)}
	p.run = runs(p.sched)
	if len(p.sched) > 0 {
		r := b.newRNG()
		p.next.Store(r.below(uint64(len(p.sched))))
	}
	return p
}

// Pick returns the server of the next slot it can take.
func (p *roundRobin) Pick(uint64) *pool.Server { return p.pick(false) }

// PickAny is Pick over the servers not drained, without slow start.
func (p *roundRobin) PickAny(uint64) *pool.Server { return p.pick(true) }

func (p *roundRobin) pick(panicMode bool) *pool.Server {
	n := uint64(len(p.sched))
	if n == 0 {
		return nil
	}
	var now int64
	var r rng
	next := &p.next
	if panicMode {
		next = &p.anyNext
	}
	i := next.Add(1) - 1
	for range rrTries {
		slot := i % n
		k := int(p.sched[slot])
		if p.eligible(k, panicMode) {
			s := p.servers[k]
			if panicMode {
				return s
			}
			f := p.ramp(s, &now)
			if f >= 1 {
				return s
			}
			if r == 0 {
				r = p.newRNG()
			}
			if r.float() < f {
				return s
			}
			i = next.Add(1) - 1 // slow start skips this slot only
			continue
		}
		end := i + uint64(p.run[slot])
		if next.CompareAndSwap(i+1, end+1) {
			i = end // we own the slots up to end, the first of another server
		} else {
			i = next.Add(1) - 1
		}
	}
	if r == 0 {
		r = p.newRNG()
	}
	if k := p.scanWeighted(panicMode, -1, &now, &r); k >= 0 {
		return p.servers[k]
	}
	return nil
}

// smoothSchedule runs nginx's smooth weighted round-robin over weights (servers of
// weight 0 left out) for one full cycle and returns the server index of each slot.
// It costs O(len(schedule) * len(weights)), once per picker.
func smoothSchedule(weights []uint32) []int32 {
	w := make([]uint64, len(weights))
	var g, total uint64
	for i, x := range weights {
		w[i] = uint64(x)
		g = gcd(g, w[i])
	}
	if g == 0 {
		return nil
	}
	for i := range w {
		w[i] /= g
		total += w[i]
	}
	if total > maxSchedule {
		scaled := uint64(0)
		for i, x := range w {
			if x > 0 {
				w[i] = max(1, (x*maxSchedule+total/2)/total)
				scaled += w[i]
			}
		}
		total = scaled
	}
	sched := make([]int32, 0, total)
	cur := make([]int64, len(w))
	for range total {
		best := -1
		for i, x := range w {
			if x == 0 {
				continue
			}
			cur[i] += int64(x)
			if best < 0 || cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= int64(total)
		sched = append(sched, int32(best))
	}
	return sched
}

// runs returns, for each slot of a cyclic schedule, the distance to the next slot
// of another server (len(sched) when there is only one server).
func runs(sched []int32) []uint32 {
	n := len(sched)
	run := make([]uint32, n)
	if n == 0 {
		return run
	}
	// Walk backwards twice around the cycle: the second lap sees the wrap.
	d := uint32(n)
	for j := 2*n - 1; j >= 0; j-- {
		i := j % n
		next := (i + 1) % n
		if sched[next] != sched[i] {
			d = 1
		} else if d < uint32(n) {
			d++
		}
		if j < n {
			run[i] = d
		}
	}
	return run
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
