package pool

import (
	"math"
	"sync/atomic"
	"time"
)

// DefaultDecay is the time constant of a Latency's moving averages when SetDecay
// was never called.
const DefaultDecay = 10 * time.Second

// Latency keeps what latency-aware pickers (ewma, least-time; see internal/balance)
// learn about a server from the requests it answered. The proxy calls Observe once
// per finished request whatever the algorithm; pickers read CostRatio (or Cost)
// and TTFB. It lives
// in the Server, so a reload keeps it.
//
// It keeps two moving averages, both weighted by time rather than by count (a
// sample's weight grows with the time since the previous sample, so that a burst of
// samples does not wipe out the past and an old value fades), with time constant
// tau (SetDecay):
//
//   - Cost, a peak-EWMA of round-trip times, exactly as Finagle's and Linkerd's: on
//     each sample, w = exp(-(now-stamp)/tau); if rtt > cost then cost = rtt (a peak
//     is taken at once) else cost = cost*w + rtt*(1-w). Reads decay it further by
//     exp(-(now-stamp)/tau), so the cost of a server that gets no traffic falls
//     toward zero and pickers come back to probe it.
//   - TTFB, a plain EWMA of time-to-first-byte: avg = avg*w + ttfb*(1-w), not
//     decayed at read (a server that stops getting traffic keeps its last average).
//
// A Latency with no sample has no value (ok is false): pickers decide what an
// unknown server costs, never zero.
//
// Each average is one atomic word updated by compare-and-swap, so Observe and the
// reads take no lock and allocate nothing. The word packs the value as a float32
// cut to 24 bits (nanoseconds, 1/65536 relative precision) and the stamp of the
// last sample in milliseconds since the process started (40 bits: 34 years).
// Samples closer than a millisecond to the previous one have a weight of zero in
// the smoothing (they still count as peaks): under heavy traffic the average is
// taken over about one sample a millisecond, which is plenty.
type Latency struct {
	decay atomic.Int64  // tau in nanoseconds; 0 means DefaultDecay
	rtt   atomic.Uint64 // peak-EWMA of round-trip times, packed; 0 when no sample
	ttfb  atomic.Uint64 // EWMA of time-to-first-byte, packed; 0 when no sample
}

// SetDecay sets the time constant tau of the averages (DefaultDecay when d <= 0).
// The balancer sets it from the service's config when it builds a picker; the last
// setting wins.
func (l *Latency) SetDecay(d time.Duration) {
	if d <= 0 {
		d = DefaultDecay
	}
	l.decay.Store(int64(d))
}

// Decay is the time constant of the averages.
func (l *Latency) Decay() time.Duration {
	if d := l.decay.Load(); d > 0 {
		return time.Duration(d)
	}
	return DefaultDecay
}

// Observe records a finished request that was sent at now-rtt and ended at now:
// rtt is the whole round-trip (until the response body ended, or the request
// failed), ttfb the time until the response headers came. A value <= 0 is not
// recorded (pass ttfb 0 for a request that failed before any response; pass its
// elapsed time as rtt, so that a server that times out gets expensive).
func (l *Latency) Observe(rtt, ttfb time.Duration, now time.Time) {
	stamp := stampOf(now)
	tau := float64(l.Decay())
	if rtt > 0 {
		update(&l.rtt, float64(rtt), stamp, tau, true)
	}
	if ttfb > 0 {
		update(&l.ttfb, float64(ttfb), stamp, tau, false)
	}
}

// Cost is the peak-EWMA of round-trip times in nanoseconds, decayed to now; ok is
// false when the server has answered no request yet.
func (l *Latency) Cost(now time.Time) (ns float64, ok bool) {
	x := l.rtt.Load()
	if x == 0 {
		return 0, false
	}
	cost, stamp := unpack(x)
	if now := stampOf(now); now > stamp {
		cost *= math.Exp(-float64(now-stamp) * float64(time.Millisecond) / float64(l.Decay()))
	}
	return cost, true
}

// CostRatio is a.Cost(now) / b.Cost(now), which is the same for every now (both
// decay at the same rate, that of a), so that a picker compares two servers
// without reading the clock. okA and okB tell which has a cost; the ratio is 1
// unless both have one. It is 0 or +Inf when one sample is older than the other by
// more than about 700 tau: the older cost has decayed to nothing.
func CostRatio(a, b *Latency) (ratio float64, okA, okB bool) {
	x, y := a.rtt.Load(), b.rtt.Load()
	if x == 0 || y == 0 {
		return 1, x != 0, y != 0
	}
	ca, sa := unpack(x)
	cb, sb := unpack(y)
	ratio = ca / cb
	if sa != sb {
		ratio *= math.Exp(float64(int64(sa)-int64(sb)) * float64(time.Millisecond) / float64(a.Decay()))
	}
	return ratio, true, true
}

// TTFB is the moving average of time-to-first-byte in nanoseconds; ok is false when
// the server has answered no request yet.
func (l *Latency) TTFB() (ns float64, ok bool) {
	x := l.ttfb.Load()
	if x == 0 {
		return 0, false
	}
	v, _ := unpack(x)
	return v, true
}

// update folds sample v taken at stamp into the average in word: with peak, a
// sample above the average replaces it.
func update(word *atomic.Uint64, v float64, stamp uint64, tau float64, peak bool) {
	for {
		old := word.Load()
		nv, ns := v, stamp
		if old != 0 {
			cur, last := unpack(old)
			var w float64 = 1 // weight of the past: a sample at or before the last one
			if stamp > last {
				w = math.Exp(-float64(stamp-last) * float64(time.Millisecond) / tau)
			} else {
				ns = last // keep stamps monotonic
			}
			if !peak || v <= cur {
				nv = cur*w + v*(1-w)
			}
		}
		if word.CompareAndSwap(old, pack(nv, ns)) {
			return
		}
	}
}

// epoch is the origin of stamps; differences use the monotonic clock when the
// time.Time given has one (time.Now does).
var epoch = time.Now()

const stampBits = 40

// stampOf is now in milliseconds since epoch, plus 1 so that a packed word is
// never 0 (0 means no sample).
func stampOf(now time.Time) uint64 {
	ms := now.Sub(epoch).Milliseconds()
	ms = max(0, min(ms, 1<<stampBits-2))
	return uint64(ms) + 1
}

// pack keeps the 24 high bits of float32(v) (v >= 0, so the sign bit is 0).
func pack(v float64, stamp uint64) uint64 {
	return uint64(math.Float32bits(float32(v))>>7)<<stampBits | stamp&(1<<stampBits-1)
}

func unpack(x uint64) (v float64, stamp uint64) {
	return float64(math.Float32frombits(uint32(x>>stampBits) << 7)), x & (1<<stampBits - 1)
}
