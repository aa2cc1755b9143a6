package observe

import (
	"math"
	"math/bits"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// StatsWindow is how far back Stats remembers, in one-second buckets.
const StatsWindow = 60

// Window sums up the last StatsWindow complete seconds of a service or server
// (fewer when it was first seen more recently).
type Window struct {
	RPS       float64       `json:"rps"`       // requests per second
	P50       time.Duration `json:"p50"`       // median duration
	P99       time.Duration `json:"p99"`       // 99th percentile duration
	ErrorRate float64       `json:"errorRate"` // share of 5xx, 0 to 1
	Requests  uint64        `json:"requests"`  // requests in the window
}

// Point is one second of a series, for charts.
type Point struct {
	Time   time.Time     `json:"time"` // the start of the second
	RPS    float64       `json:"rps"`  // requests that second
	P50    time.Duration `json:"p50"`
	P99    time.Duration `json:"p99"`
	Errors uint64        `json:"errors"` // 5xx that second
}

// Stats keeps live rolling figures per service and per server (service and
// URL) for the dashboard and the admin API. Each key has a ring of one-second
// buckets holding a request count, a 5xx count and a log-linear histogram of
// durations (8 sub-buckets per power of two from 8µs, so a quantile is within
// about 6% of the truth; from 8µs down counts are exact, from 134s up they
// share one bucket). No sample is stored.
//
// A request is counted in the second it ended. Figures cover complete seconds
// only: the current second shows from the next one on.
//
// Observe takes the key's mutex twice (service, server), touches one bucket
// and allocates nothing once the key exists. A key idle for two windows is
// forgotten the next time a new key arrives, so removed servers do not pile up.
type Stats struct {
	services cowMap[string, *rolling]
	servers  cowMap[serverKey, *rolling]
	now      func() time.Time // time.Now; tests set it
}

type serverKey struct{ service, url string }

// NewStats returns empty stats.
func NewStats() *Stats { return &Stats{now: time.Now} }

// Latency histogram: values in microseconds; below 8 one bucket per µs, then
// per power of two 2^e (e from 3 to maxLatExp) eight equal sub-buckets.
const (
	latSub     = 8
	maxLatExp  = 27 // 2^27µs ≈ 134s; longer requests share the last bucket
	latBuckets = latSub + (maxLatExp-2)*latSub
)

func latBucket(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	us := uint64(d / time.Microsecond)
	if us < latSub {
		return int(us)
	}
	e := bits.Len64(us) - 1
	if e > maxLatExp {
		return latBuckets - 1
	}
	return latSub + (e-3)*latSub + int(us>>(e-3)&(latSub-1))
}

// latValue is the middle of bucket i.
func latValue(i int) time.Duration {
	if i < latSub {
		return time.Duration(i) * time.Microsecond
	}
	e := (i-latSub)/latSub + 3
	sub := uint64((i - latSub) % latSub)
	lo := (latSub + sub) << (e - 3)
	hi := (latSub + sub + 1) << (e - 3)
	return time.Duration((lo+hi)/2) * time.Microsecond
}

type statSlot struct {
	sec     int64 // the unix second this slot holds
	n, errs uint32
	hist    [latBuckets]uint32
}

// rolling is the ring of one key.
type rolling struct {
	mu    sync.Mutex
	first int64        // unix second of the first request
	last  atomic.Int64 // unix second of the latest request, read when pruning
	slots [StatsWindow]statSlot
}

func newRolling(sec int64) *rolling {
	r := &rolling{first: sec}
	r.last.Store(sec)
	return r
}

func (r *rolling) add(sec int64, d time.Duration, failed bool) {
	i := sec % StatsWindow
	r.mu.Lock()
	s := &r.slots[i]
	if s.sec != sec {
		if sec < s.sec { // a straggler older than the window
			r.mu.Unlock()
			return
		}
		*s = statSlot{sec: sec}
	}
	s.n++
	if failed {
		s.errs++
	}
	s.hist[latBucket(d)]++
	r.mu.Unlock()
	if sec > r.last.Load() {
		r.last.Store(sec)
	}
}

// Observe counts one finished request of a service (and its server).
func (s *Stats) Observe(_ *http.Request, rec *Record) {
	if rec.Service == "" {
		return
	}
	sec := rec.Start.Add(rec.Duration).Unix()
	if rec.Start.IsZero() {
		sec = s.now().Unix()
	}
	failed := statusOf(rec) >= 500
	svc, ok := s.services.get(rec.Service)
	if !ok {
		svc = s.services.add(rec.Service, func() *rolling { return newRolling(sec) }, s.keep(sec))
	}
	svc.add(sec, rec.Duration, failed)
	if rec.Server == "" {
		return
	}
	k := serverKey{rec.Service, rec.Server}
	srv, ok := s.servers.get(k)
	if !ok {
		srv = s.servers.add(k, func() *rolling { return newRolling(sec) }, s.keep(sec))
	}
	srv.add(sec, rec.Duration, failed)
}

func (s *Stats) keep(now int64) func(*rolling) bool {
	return func(r *rolling) bool { return r.last.Load() >= now-2*StatsWindow }
}

// Service is the window of a service (zero when unknown).
func (s *Stats) Service(name string) Window {
	r, _ := s.services.get(name)
	return r.window(s.now().Unix())
}

// Server is the window of one server of a service, by its URL.
func (s *Stats) Server(service, url string) Window {
	r, _ := s.servers.get(serverKey{service, url})
	return r.window(s.now().Unix())
}

// Series is the last seconds complete seconds of a service, oldest first, at
// most StatsWindow; seconds without requests are zero points.
func (s *Stats) Series(service string, seconds int) []Point {
	r, _ := s.services.get(service)
	return r.series(s.now().Unix(), seconds)
}

// ServerSeries is Series for one server of a service.
func (s *Stats) ServerSeries(service, url string, seconds int) []Point {
	r, _ := s.servers.get(serverKey{service, url})
	return r.series(s.now().Unix(), seconds)
}

// Services lists the services seen in the last two windows, sorted.
func (s *Stats) Services() []string {
	now := s.now().Unix()
	var out []string
	for name, r := range s.services.snapshot() {
		if r.last.Load() >= now-2*StatsWindow {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func (r *rolling) window(now int64) Window {
	if r == nil {
		return Window{}
	}
	var hist [latBuckets]uint64
	var n, errs uint64
	r.mu.Lock()
	first := r.first
	for i := range r.slots {
		sl := &r.slots[i]
		if sl.n == 0 || sl.sec >= now || sl.sec < now-StatsWindow {
			continue
		}
		n += uint64(sl.n)
		errs += uint64(sl.errs)
		for j, c := range sl.hist {
			hist[j] += uint64(c)
		}
	}
	r.mu.Unlock()
	span := min(now-first, StatsWindow)
	if n == 0 || span <= 0 {
		return Window{}
	}
	return Window{
		RPS:       float64(n) / float64(span),
		P50:       quantile(hist[:], n, 0.50),
		P99:       quantile(hist[:], n, 0.99),
		ErrorRate: float64(errs) / float64(n),
		Requests:  n,
	}
}

func (r *rolling) series(now int64, seconds int) []Point {
	seconds = max(1, min(seconds, StatsWindow))
	out := make([]Point, seconds)
	var hist [latBuckets]uint64
	if r != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
	}
	for k := range out {
		sec := now - int64(seconds) + int64(k)
		p := &out[k]
		p.Time = time.Unix(sec, 0)
		if r == nil {
			continue
		}
		sl := &r.slots[sec%StatsWindow]
		if sl.sec != sec || sl.n == 0 {
			continue
		}
		for j, c := range sl.hist {
			hist[j] = uint64(c)
		}
		n := uint64(sl.n)
		p.RPS = float64(n)
		p.P50 = quantile(hist[:], n, 0.50)
		p.P99 = quantile(hist[:], n, 0.99)
		p.Errors = uint64(sl.errs)
	}
	return out
}

// quantile is the middle of the bucket that holds the q-th of n values.
func quantile(hist []uint64, n uint64, q float64) time.Duration {
	rank := uint64(math.Ceil(q * float64(n)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, c := range hist {
		seen += c
		if seen >= rank {
			return latValue(i)
		}
	}
	return latValue(len(hist) - 1)
}
