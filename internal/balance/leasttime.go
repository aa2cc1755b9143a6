package balance

import (
	"github.com/usher-lb/usher/internal/pool"
)

// leastTime picks the server with the lowest moving average of time-to-first-byte
// times (in-flight + 1), divided by its ramp (slow start times agent weight):
// lowest pool.Latency.TTFB * (inflight + 1) / ramp. Weights only break ties (at random in
// proportion to effective weight); the average is not decayed while a server gets
// no traffic.
//
// A server that has answered no request yet is not free: its average is taken to
// be the mean of the averages of the eligible servers that have one (in-flight
// counts decide when none has). An average never counts as less than 1ns. It scans
// all servers: O(n) a pick.
type leastTime struct {
	base
}

// Pick returns the available server with the lowest TTFB * (in-flight + 1).
func (p *leastTime) Pick(uint64) *pool.Server { return p.pick(false, nil) }

// PickAny is Pick over the servers not drained, without slow start.
func (p *leastTime) PickAny(uint64) *pool.Server { return p.pick(true, nil) }

func (p *leastTime) pickAmong(tried []*pool.Server) *pool.Server { return p.pick(false, tried) }

// pick is the pick, among the servers not in tried.
func (p *leastTime) pick(panicMode bool, tried []*pool.Server) *pool.Server {
	var (
		r   = p.newRNG()
		now int64
		// Servers with an average compete on avg*(inflight+1)/ramp; those
		// without one on (inflight+1)/ramp, multiplied by the mean at the end.
		known   = lowest{k: -1}
		unknown = lowest{k: -1}
		sum     float64
		count   int
	)
	for k, s := range p.servers {
		if !p.eligible(k, panicMode) || p.tried(k, tried) {
			continue
		}
		w, load := float64(p.weights[k]), float64(s.InFlight()+1)
		if !panicMode {
			f := p.ramp(s, &now)
			if f == 0 {
				continue
			}
			w, load = w*f, load/f
		}
		if avg, ok := s.Lat.TTFB(); ok {
			avg = max(avg, 1)
			sum += avg
			count++
			known.offer(k, avg*load, w, &r)
		} else {
			unknown.offer(k, load, w, &r)
		}
	}
	switch {
	case unknown.k < 0 && known.k < 0:
		return nil
	case unknown.k < 0:
		return p.servers[known.k]
	case known.k < 0:
		return p.servers[unknown.k]
	}
	unknown.score *= sum / float64(count)
	if unknown.score < known.score || (unknown.score == known.score && r.float()*(known.ties+unknown.ties) < unknown.ties) {
		return p.servers[unknown.k]
	}
	return p.servers[known.k]
}
