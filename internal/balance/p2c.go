package balance

import (
	"github.com/usher-lb/usher/internal/pool"
)

// p2c is the power of two random choices: two servers are drawn at random by
// effective weight (weight times slow-start ramp, as random draws them) and the
// one with fewer requests in flight wins; on a tie the first drawn wins, so that
// with no load p2c spreads requests exactly by weight. The second server is drawn
// among the others (by drawing again when the draw repeats the first). O(1) a
// pick on average.
type p2c struct {
	base
	alias alias
}

// Pick returns the less loaded of two available servers drawn by weight.
func (p *p2c) Pick(uint64) *pool.Server { return p.pick(false) }

// PickAny is Pick over the servers not drained, without slow start.
func (p *p2c) PickAny(uint64) *pool.Server { return p.pick(true) }

func (p *p2c) pick(panicMode bool) *pool.Server {
	r := p.newRNG()
	var now int64
	a, b := p.draw2(&p.alias, panicMode, &now, &r)
	if a < 0 {
		return nil
	}
	sa := p.servers[a]
	if b < 0 {
		return sa
	}
	if sb := p.servers[b]; sb.InFlight() < sa.InFlight() {
		return sb
	}
	return sa
}

// draw2 draws two distinct servers by effective weight (the second among those
// left): b is -1 when only a can be taken, both are -1 when none can.
func (b *base) draw2(a *alias, panicMode bool, now *int64, r *rng) (int, int) {
	first := b.draw(a, panicMode, -1, now, r)
	if first < 0 || len(b.servers) == 1 {
		return first, -1
	}
	return first, b.draw(a, panicMode, first, now, r)
}

// ewma is p2c on the peak-EWMA load of Finagle and Linkerd: two servers are drawn
// by effective weight and the one with the lower cost * (in-flight + 1) wins, cost
// being the server's pool.Latency.Cost: a peak-EWMA of round-trip times with time
// constant Decay, decayed toward zero while the server gets no traffic (so that an
// idle server is probed again).
//
// A server that has answered no request yet is not free: its cost is taken to be
// that of the other server drawn (a one-sample estimate of the mean), so the two
// compare by in-flight counts; when neither has a cost, in-flight counts decide.
// On a tie the first drawn wins. Both costs decay by the same factor from their
// last sample to now, so the pick compares them through pool.CostRatio without
// reading the clock. O(1) a pick.
type ewma struct {
	base
	alias alias
}

// Pick returns the lower-load of two available servers drawn by weight.
func (p *ewma) Pick(uint64) *pool.Server { return p.pick(false) }

// PickAny is Pick over the servers not drained, without slow start.
func (p *ewma) PickAny(uint64) *pool.Server { return p.pick(true) }

func (p *ewma) pick(panicMode bool) *pool.Server {
	r := p.newRNG()
	var now int64
	a, b := p.draw2(&p.alias, panicMode, &now, &r)
	if a < 0 {
		return nil
	}
	sa := p.servers[a]
	if b < 0 {
		return sa
	}
	sb := p.servers[b]
	// la < lb with la = cost_a * (inflight_a + 1): the costs' ratio does not
	// depend on the time, so no clock is read. A server with no cost has the
	// other's (ratio 1).
	ratio, okA, okB := pool.CostRatio(&sa.Lat, &sb.Lat)
	if !okA || !okB {
		ratio = 1
	}
	if float64(sb.InFlight()+1) < ratio*float64(sa.InFlight()+1) {
		return sb
	}
	return sa
}
