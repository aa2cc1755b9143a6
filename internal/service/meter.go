package service

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Meter counts the outcomes of one arm of a weighted service: requests, 5xx
// responses and a log-linear histogram of durations (8 sub-buckets per power
// of two of microseconds, so a quantile is within about 6%). Observe takes no
// lock and allocates nothing; a reader takes a Snapshot and subtracts an
// earlier one to get the figures of a span of time.
type Meter struct {
	n, errs atomic.Uint64
	hist    [meterBuckets]atomic.Uint64
}

const (
	meterSub     = 8
	meterMaxExp  = 27 // 2^27µs ≈ 134s; longer requests share the last bucket
	meterBuckets = meterSub + (meterMaxExp-2)*meterSub
)

// Observe counts one response: status as the client got it (0 for none
// written, which counts as no error), taking d.
func (m *Meter) Observe(status int, d time.Duration) {
	m.n.Add(1)
	if status >= 500 {
		m.errs.Add(1)
	}
	m.hist[meterBucket(d)].Add(1)
}

// MeterSnapshot is a Meter's counts at one moment.
type MeterSnapshot struct {
	Requests, Errors uint64
	hist             [meterBuckets]uint64
}

// Snapshot reads the counts. The counters are read one by one while
// requests go on, so a snapshot may be off by the requests of that instant.
func (m *Meter) Snapshot() MeterSnapshot {
	var s MeterSnapshot
	s.Requests = m.n.Load()
	s.Errors = m.errs.Load()
	for i := range m.hist {
		s.hist[i] = m.hist[i].Load()
	}
	return s
}

// Sub returns the counts of s since base.
func (s MeterSnapshot) Sub(base MeterSnapshot) MeterSnapshot {
	out := MeterSnapshot{Requests: s.Requests - base.Requests, Errors: s.Errors - base.Errors}
	for i := range s.hist {
		out.hist[i] = s.hist[i] - base.hist[i]
	}
	return out
}

// ErrorRate is the share of 5xx, 0 to 1; 0 with no request.
func (s MeterSnapshot) ErrorRate() float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.Errors) / float64(s.Requests)
}

// Quantile is the duration under which a share q of the requests ended (the
// middle of the histogram bucket holding that rank); 0 with no request.
func (s MeterSnapshot) Quantile(q float64) time.Duration {
	var n uint64
	for _, c := range s.hist {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(q*float64(n))), 1)
	var seen uint64
	for i, c := range s.hist {
		seen += c
		if seen >= rank {
			return meterValue(i)
		}
	}
	return meterValue(len(s.hist) - 1)
}

func meterBucket(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	us := uint64(d / time.Microsecond)
	if us < meterSub {
		return int(us)
	}
	e := bits.Len64(us) - 1
	if e > meterMaxExp {
		return meterBuckets - 1
	}
	return meterSub + (e-3)*meterSub + int(us>>(e-3)&(meterSub-1))
}

// meterValue is the middle of bucket i.
func meterValue(i int) time.Duration {
	if i < meterSub {
		return time.Duration(i) * time.Microsecond
	}
	e := (i-meterSub)/meterSub + 3
	sub := uint64((i - meterSub) % meterSub)
	lo := (meterSub + sub) << (e - 3)
	hi := (meterSub + sub + 1) << (e - 3)
	return time.Duration((lo+hi)/2) * time.Microsecond
}
