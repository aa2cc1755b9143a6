package ratelimit

import "math"

// limit is a rate in GCRA's terms (the generic cell rate algorithm, as ATM
// networks and Redis's redis-cell use it): one request per interval
// sustained, and a bucket of burst requests, the tolerance tau = burst *
// interval. A bucket's whole state is its TAT, the theoretical arrival time
// of the next request: the time at which the bucket is full again. All in
// nanoseconds of the store's clock.
type limit struct {
	interval int64 // period / average
	tau      int64 // burst * interval
	burst    int64
}

func newLimit(average, period, burst int64) limit {
	iv := period / average
	if iv < 1 {
		iv = 1
	}
	tau := int64(math.MaxInt64 / 4) // a burst so large it never limits
	if burst <= tau/iv {
		tau = burst * iv
	}
	return limit{interval: iv, tau: tau, burst: burst}
}

// verdict is what a store decided about one request.
type verdict struct {
	ok        bool
	remaining int64 // requests that may follow at once, after this one
	// wait: when ok, until the bucket is full again (the RateLimit reset);
	// when not, until a request is let through again (Retry-After).
	wait int64
}

// take decides a request arriving at now on a bucket whose TAT is tat (0
// for a bucket never used), and returns the new TAT (unchanged when the
// request is refused: a refused request costs nothing, so that a client
// hammering a full bucket gets through at the rate, not never).
func (l limit) take(tat, now int64) (int64, verdict) {
	if tat < now {
		tat = now
	}
	next := tat + l.interval
	if d := next - now; d > l.tau {
		return tat, verdict{wait: d - l.tau}
	}
	d := next - now
	return next, verdict{ok: true, remaining: min((l.tau-d)/l.interval, l.burst-1), wait: d}
}
