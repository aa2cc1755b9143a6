package loadgen

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram counts latencies in log-linear buckets, as HdrHistogram does:
// each power of two of nanoseconds is cut into subBuckets equal parts, so
// that a percentile read from it is within 1/subBuckets (3%) of the truth,
// from a nanosecond to hours, in a fixed 16 KiB. Recording is one atomic
// add, so a live reader (the progress line) needs no lock.
type Histogram struct {
	counts [64 * subBuckets]atomic.Uint64
	max    atomic.Int64
}

const (
	subBits    = 5
	subBuckets = 1 << subBits
)

func bucketOf(ns int64) int {
	if ns < subBuckets {
		if ns < 0 {
			ns = 0
		}
		return int(ns)
	}
	exp := bits.Len64(uint64(ns)) - 1 // ns in [2^exp, 2^(exp+1))
	sub := int(uint64(ns)>>(exp-subBits)) - subBuckets
	return (exp-subBits+1)*subBuckets + sub
}

// lowerBound is the smallest value of bucket i; upper the next one's.
func lowerBound(i int) int64 {
	if i < subBuckets {
		return int64(i)
	}
	exp := i/subBuckets + subBits - 1
	sub := i % subBuckets
	return int64(subBuckets+sub) << (exp - subBits)
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	ns := int64(d)
	h.counts[bucketOf(ns)].Add(1)
	for {
		m := h.max.Load()
		if ns <= m || h.max.CompareAndSwap(m, ns) {
			return
		}
	}
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if n := o.counts[i].Load(); n > 0 {
			h.counts[i].Add(n)
		}
	}
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
}

// Count is the number of latencies recorded.
func (h *Histogram) Count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// Max is the largest latency recorded.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Quantile returns the latency under which a fraction q of the recorded
// ones fall (the middle of its bucket; the max for q = 1).
func (h *Histogram) Quantile(q float64) time.Duration {
	total := h.Count()
	if total == 0 {
		return 0
	}
	if q >= 1 {
		return h.Max()
	}
	rank := uint64(math.Ceil(q * float64(total)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, hi := lowerBound(i), lowerBound(i+1)
			v := time.Duration(lo + (hi-lo)/2)
			return min(v, h.Max())
		}
	}
	return h.Max()
}

// Bar is one row of a printed histogram: the latencies up to Upper, and
// how many were there.
type Bar struct {
	Upper time.Duration `json:"upperNs"`
	Count uint64        `json:"count"`
}

// Bars groups the counts into about n rows between the smallest and the
// largest latency, on a log scale.
func (h *Histogram) Bars(n int) []Bar {
	first, last := -1, -1
	for i := range h.counts {
		if h.counts[i].Load() > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 || n < 1 {
		return nil
	}
	per := max(1, (last-first+n)/n)
	var out []Bar
	for i := first; i <= last; i += per {
		var c uint64
		for j := i; j < i+per && j <= last; j++ {
			c += h.counts[j].Load()
		}
		out = append(out, Bar{Upper: time.Duration(lowerBound(min(i+per, last+1))), Count: c})
	}
	return out
}
