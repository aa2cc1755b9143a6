package circuitbreaker

import (
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// The window is the last nBuckets seconds of traffic, as Traefik's (oxy's)
// rolling metrics: a ring of one-second buckets, each counting requests,
// network errors, statuses and a histogram of latencies. Memory is fixed
// whatever the traffic: about 35KB, plus 7KB for the sums an evaluation
// reads.
const (
	nBuckets  = 10
	bucketDur = int64(time.Second)
	nCodes    = 600 // statuses 0 to 599 are counted one by one
)

// Latencies are counted in microseconds on a log scale: values under 16µs
// exactly, then 8 buckets per power of two, so that a quantile is within
// about 6% of the true value; the last bucket takes everything above 2^36µs
// (19 hours).
const (
	latExact = 16
	latSub   = 8
	latMaxE  = 36
	nLat     = latExact + (latMaxE-4)*latSub
)

func latIndex(us int64) int {
	if us < latExact {
		if us < 0 {
			return 0
		}
		return int(us)
	}
	e := 63 - bits.LeadingZeros64(uint64(us)) // floor(log2(us)), at least 4
	if e >= latMaxE {
		return nLat - 1
	}
	sub := int(us>>(e-3)) & (latSub - 1)
	return latExact + (e-4)*latSub + sub
}

// latValue is the middle of bucket i, in microseconds.
func latValue(i int) float64 {
	if i < latExact {
		return float64(i)
	}
	e := (i-latExact)/latSub + 4
	sub := (i - latExact) % latSub
	width := float64(int64(1) << (e - 3))
	return float64(latSub+sub)*width + width/2
}

// bucket is one second of traffic. Counters are atomics: recording a
// request takes no lock. mu is taken only by the first request of a new
// second, to clear the bucket before anything counts in it.
type bucket struct {
	mu     sync.Mutex
	epoch  atomic.Int64 // the second it counts (now/bucketDur); -1 when cleared
	total  atomic.Uint64
	netErr atomic.Uint64
	codes  [nCodes]atomic.Uint32
	lat    [nLat]atomic.Uint32
}

type window struct {
	b [nBuckets]bucket
}

func newWindow() *window {
	w := &window{}
	for i := range w.b {
		w.b[i].epoch.Store(-1)
	}
	return w
}

// record counts one request that ended at now (nanoseconds of the
// breaker's clock).
func (w *window) record(now int64, status int, netErr bool, d time.Duration) {
	sec := now / bucketDur
	b := &w.b[sec%nBuckets]
	if b.epoch.Load() != sec {
		b.mu.Lock()
		if b.epoch.Load() != sec {
			b.clear()
			// Stored after the counters are cleared: whoever sees the new
			// second counts in a clean bucket.
			b.epoch.Store(sec)
		}
		b.mu.Unlock()
	}
	b.total.Add(1)
	if netErr {
		b.netErr.Add(1)
	}
	if status >= 0 && status < nCodes {
		b.codes[status].Add(1)
	}
	b.lat[latIndex(d.Microseconds())].Add(1)
}

func (b *bucket) clear() {
	b.total.Store(0)
	b.netErr.Store(0)
	for i := range b.codes {
		b.codes[i].Store(0)
	}
	for i := range b.lat {
		b.lat[i].Store(0)
	}
}

// reset forgets all traffic (the breaker trips: recovery judges only what
// comes after).
func (w *window) reset() {
	for i := range w.b {
		b := &w.b[i]
		b.mu.Lock()
		b.epoch.Store(-1)
		b.mu.Unlock()
	}
}

// stats are the sums of the window's buckets at one moment: what an
// expression is evaluated on.
type stats struct {
	total, netErr uint64
	codes         [nCodes]uint64
	lat           [nLat]uint64
}

// sum fills s with the buckets of the last nBuckets seconds before now.
func (w *window) sum(now int64, s *stats) {
	*s = stats{}
	sec := now / bucketDur
	for i := range w.b {
		b := &w.b[i]
		e := b.epoch.Load()
		if e < 0 || e > sec || e <= sec-nBuckets {
			continue
		}
		s.total += b.total.Load()
		s.netErr += b.netErr.Load()
		for c := range b.codes {
			s.codes[c] += uint64(b.codes[c].Load())
		}
		for l := range b.lat {
			s.lat[l] += uint64(b.lat[l].Load())
		}
	}
}

// NetworkErrorRatio is the share of requests that got no response from a
// server; 0 without requests.
func (s *stats) NetworkErrorRatio() float64 {
	if s.total == 0 {
		return 0
	}
	return float64(s.netErr) / float64(s.total)
}

// ResponseCodeRatio is the count of statuses in [from, to) over the count in
// [dFrom, dTo); 0 when the latter is 0.
func (s *stats) ResponseCodeRatio(from, to, dFrom, dTo int) float64 {
	count := func(a, b int) uint64 {
		var n uint64
		for c := max(a, 0); c < min(b, nCodes); c++ {
			n += s.codes[c]
		}
		return n
	}
	d := count(dFrom, dTo)
	if d == 0 {
		return 0
	}
	return float64(count(from, to)) / float64(d)
}

// LatencyAtQuantileMS is the q-th percentile of the response times, in
// milliseconds; 0 without requests.
func (s *stats) LatencyAtQuantileMS(q float64) float64 {
	var n uint64
	for _, c := range s.lat {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q / 100 * float64(n)))
	rank = max(rank, 1)
	var cum uint64
	for i, c := range s.lat {
		cum += c
		if cum >= rank {
			return latValue(i) / 1000
		}
	}
	return latValue(nLat-1) / 1000
}
