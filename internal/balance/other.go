package balance

import (
	"slices"

	"github.com/usher-lb/usher/internal/pool"
)

// This file holds PickOther, the pick of a retry, for every algorithm. A
// retry is rare (a server failed), so PickOther may scan all servers; what it
// must not do is move the state Pick keeps for the requests to come: with
// round-robin over one dead server of N, a retry that took the next slot
// would send the next request to the dead server again, and the dead server
// would get every other request rather than 1/N of them.

// tried tells whether server k is among those tried.
func (b *base) tried(k int, tried []*pool.Server) bool {
	return len(tried) > 0 && slices.Contains(tried, b.servers[k])
}

// otherWeighted returns the index of an available server not tried and not
// skip (-1: none), drawn with probability proportional to its effective
// weight; -1 when there is none.
func (b *base) otherWeighted(tried []*pool.Server, skip int, now *int64, r *rng) int {
	var total float64
	for k := range b.servers {
		if k != skip && b.eligible(k, false) && !b.tried(k, tried) {
			total += b.effWeight(k, false, now)
		}
	}
	if total == 0 {
		return -1
	}
	x := r.float() * total
	last := -1
	for k := range b.servers {
		if k == skip || !b.eligible(k, false) || b.tried(k, tried) {
			continue
		}
		w := b.effWeight(k, false, now)
		if w == 0 {
			continue
		}
		last = k
		if x -= w; x < 0 {
			return k
		}
	}
	return last
}

func (b *base) pickOtherWeighted(tried []*pool.Server) *pool.Server {
	r := b.newRNG()
	var now int64
	if k := b.otherWeighted(tried, -1, &now, &r); k >= 0 {
		return b.servers[k]
	}
	return nil
}

// PickOther draws among the servers not tried, by weight; the round-robin
// position stays where it was.
func (p *roundRobin) PickOther(_ uint64, tried []*pool.Server) *pool.Server {
	return p.pickOtherWeighted(tried)
}

// PickOther draws among the servers not tried, by weight.
func (p *random) PickOther(_ uint64, tried []*pool.Server) *pool.Server {
	return p.pickOtherWeighted(tried)
}

// other2 draws two distinct servers not tried, by effective weight: b is -1
// when only a can be taken, both are -1 when none can.
func (b *base) other2(tried []*pool.Server) (int, int) {
	r := b.newRNG()
	var now int64
	first := b.otherWeighted(tried, -1, &now, &r)
	if first < 0 {
		return -1, -1
	}
	return first, b.otherWeighted(tried, first, &now, &r)
}

// PickOther is p2c among the servers not tried.
func (p *p2c) PickOther(_ uint64, tried []*pool.Server) *pool.Server {
	a, b := p.other2(tried)
	switch {
	case a < 0:
		return nil
	case b >= 0 && p.servers[b].InFlight() < p.servers[a].InFlight():
		return p.servers[b]
	}
	return p.servers[a]
}

// PickOther is ewma among the servers not tried.
func (p *ewma) PickOther(_ uint64, tried []*pool.Server) *pool.Server {
	a, b := p.other2(tried)
	if a < 0 {
		return nil
	}
	sa := p.servers[a]
	if b < 0 {
		return sa
	}
	sb := p.servers[b]
	ratio, okA, okB := pool.CostRatio(&sa.Lat, &sb.Lat)
	if !okA || !okB {
		ratio = 1
	}
	if float64(sb.InFlight()+1) < ratio*float64(sa.InFlight()+1) {
		return sb
	}
	return sa
}

// PickOther is least-connections among the servers not tried.
func (p *leastConnections) PickOther(_ uint64, tried []*pool.Server) *pool.Server {
	return p.pickAmong(tried)
}

// PickOther is least-time among the servers not tried.
func (p *leastTime) PickOther(_ uint64, tried []*pool.Server) *pool.Server {
	return p.pickAmong(tried)
}

// PickOther walks the ring from key's point, as Pick does, past the servers
// tried: the next server clockwise takes a failed key, the same one for every
// request of that key.
func (p *consistentHash) PickOther(key uint64, tried []*pool.Server) *pool.Server {
	return p.pickAmong(key, false, tried)
}
