package balance

import (
	"github.com/usher-lb/usher/internal/pool"
)

// leastConnections picks the server with the fewest requests in flight per unit
// of effective weight: lowest inflight / (weight * ramp), ramp being slow start
// times agent weight (see base.ramp), counting requests (a keep-alive connection
// with no request in flight counts for nothing). Ties are broken at random in
// proportion to effective weight, so that with no load it spreads requests by
// weight. It scans all servers: O(n) a pick.
type leastConnections struct {
	base
}

// Pick returns the available server with the fewest in-flight requests per weight.
func (p *leastConnections) Pick(uint64) *pool.Server { return p.pick(false, nil) }

// PickAny is Pick over the servers not drained, without slow start.
func (p *leastConnections) PickAny(uint64) *pool.Server { return p.pick(true, nil) }

func (p *leastConnections) pickAmong(tried []*pool.Server) *pool.Server { return p.pick(false, tried) }

// pick is the pick, among the servers not in tried.
func (p *leastConnections) pick(panicMode bool, tried []*pool.Server) *pool.Server {
	r := p.newRNG()
	var now int64
	best := lowest{k: -1}
	for k, s := range p.servers {
		if !p.eligible(k, panicMode) || p.tried(k, tried) {
			continue
		}
		w := float64(p.weights[k])
		if !panicMode {
			if w *= p.ramp(s, &now); w == 0 {
				continue
			}
		}
		score := float64(s.InFlight()) / w
		if best.k < 0 || score < best.score {
			best = lowest{k, score, w}
		} else if score == best.score {
			best.tie(k, w, &r)
		}
	}
	if best.k < 0 {
		return nil
	}
	return p.servers[best.k]
}
