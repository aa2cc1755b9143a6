package observe

import (
	"fmt"
	"math"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Every duration lands in a bucket whose middle is within 1/16 of it.
func TestLatencyBuckets(t *testing.T) {
	prev := -1
	for d := time.Microsecond; d < 100*time.Second; d = d*21/20 + time.Microsecond {
		i := latBucket(d)
		if i < prev || i >= latBuckets {
			t.Fatalf("latBucket(%v) = %d after %d (of %d)", d, i, prev, latBuckets)
		}
		prev = i
		got := latValue(i)
		if err := math.Abs(float64(got-d)) / float64(d); err > 1.0/16+0.01 && d >= 8*time.Microsecond {
			t.Errorf("%v is read back as %v (%.1f%% off)", d, got, 100*err)
		}
	}
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{{-time.Second, 0}, {0, 0}, {999 * time.Nanosecond, 0}, {3 * time.Microsecond, 3}, {8 * time.Microsecond, 8}, {time.Hour, latBuckets - 1}} {
		if got := latBucket(tc.d); got != tc.want {
			t.Errorf("latBucket(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}

// near tells whether got is within 1/16 of want.
func near(got, want time.Duration) bool {
	return math.Abs(float64(got-want)) <= float64(want)/16+float64(time.Microsecond)
}

func TestStatsWindow(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	req := httptest.NewRequest("GET", "/", nil)
	type hit struct {
		sec    int // seconds after t0 the request ended
		server string
		status int
		d      time.Duration
		n      int
	}
	tests := []struct {
		name    string
		hits    []hit
		now     int // seconds after t0
		svc     Window
		servers map[string]Window
	}{
		{
			name: "ten seconds, two servers (b seen for five), 1% errors",
			hits: []hit{
				{sec: 0, server: "http://a", status: 200, d: 10 * time.Millisecond, n: 490},
				{sec: 5, server: "http://b", status: 200, d: 20 * time.Millisecond, n: 490},
				{sec: 9, server: "http://b", status: 502, d: 900 * time.Millisecond, n: 10},
				{sec: 9, server: "http://a", status: 404, d: time.Millisecond, n: 10},
			},
			now: 10,
			svc: Window{RPS: 100, P50: 10 * time.Millisecond, P99: 20 * time.Millisecond, ErrorRate: 0.01, Requests: 1000},
			servers: map[string]Window{
				"http://a": {RPS: 50, P50: 10 * time.Millisecond, P99: 10 * time.Millisecond, ErrorRate: 0, Requests: 500},
				"http://b": {RPS: 100, P50: 20 * time.Millisecond, P99: 900 * time.Millisecond, ErrorRate: 0.02, Requests: 500},
			},
		},
		{
			name: "the current second does not count yet",
			hits: []hit{{sec: 0, server: "http://a", status: 200, d: time.Millisecond, n: 10}, {sec: 3, server: "http://a", status: 500, d: time.Second, n: 10}},
			now:  3,
			svc:  Window{RPS: 10.0 / 3, P50: time.Millisecond, P99: time.Millisecond, Requests: 10},
		},
		{
			name: "older than the window is gone",
			hits: []hit{{sec: 0, server: "http://a", status: 500, d: time.Second, n: 100}, {sec: 70, server: "http://a", status: 200, d: 5 * time.Millisecond, n: 60}},
			now:  71,
			svc:  Window{RPS: 1, P50: 5 * time.Millisecond, P99: 5 * time.Millisecond, Requests: 60},
		},
		{
			name: "nothing yet",
			now:  5,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStats()
			s.now = func() time.Time { return t0.Add(time.Duration(tc.now)*time.Second + 300*time.Millisecond) }
			for _, h := range tc.hits {
				for i := 0; i < h.n; i++ {
					end := t0.Add(time.Duration(h.sec)*time.Second + time.Duration(i)*time.Millisecond)
					s.Observe(req, &Record{Start: end.Add(-h.d), Duration: h.d, Service: "api", Server: h.server, Status: h.status})
				}
			}
			checkWindow(t, "service", s.Service("api"), tc.svc)
			for url, want := range tc.servers {
				checkWindow(t, url, s.Server("api", url), want)
			}
		})
	}
}

func checkWindow(t *testing.T, what string, got, want Window) {
	t.Helper()
	if got.Requests != want.Requests || math.Abs(got.RPS-want.RPS) > 1e-9 || math.Abs(got.ErrorRate-want.ErrorRate) > 1e-9 ||
		!near(got.P50, want.P50) || !near(got.P99, want.P99) {
		t.Errorf("%s: got %+v, want %+v", what, got, want)
	}
}

func TestStatsSeries(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	s := NewStats()
	s.now = func() time.Time { return t0.Add(10 * time.Second) }
	req := httptest.NewRequest("GET", "/", nil)
	for sec, n := range map[int]int{6: 3, 8: 5, 9: 2, 10: 7} {
		for i := 0; i < n; i++ {
			st := 200
			if i == 0 {
				st = 503
			}
			d := time.Duration(sec) * time.Millisecond
			s.Observe(req, &Record{Start: t0.Add(time.Duration(sec) * time.Second), Duration: d, Service: "api", Server: "http://a", Status: st})
		}
	}
	got := s.Series("api", 5)
	want := []Point{
		{Time: t0.Add(5 * time.Second)},
		{Time: t0.Add(6 * time.Second), RPS: 3, P50: 6 * time.Millisecond, P99: 6 * time.Millisecond, Errors: 1},
		{Time: t0.Add(7 * time.Second)},
		{Time: t0.Add(8 * time.Second), RPS: 5, P50: 8 * time.Millisecond, P99: 8 * time.Millisecond, Errors: 1},
		{Time: t0.Add(9 * time.Second), RPS: 2, P50: 9 * time.Millisecond, P99: 9 * time.Millisecond, Errors: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("%d points, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.Time.Equal(w.Time) || g.RPS != w.RPS || g.Errors != w.Errors || !near(g.P50, w.P50) || !near(g.P99, w.P99) {
			t.Errorf("point %d: got %+v, want %+v", i, g, w)
		}
	}
	if n := len(s.ServerSeries("api", "http://a", 1000)); n != StatsWindow {
		t.Errorf("ServerSeries of 1000s: %d points, want %d", n, StatsWindow)
	}
	if n := len(s.Series("nope", 0)); n != 1 {
		t.Errorf("Series of an unknown service: %d points, want 1 zero point", n)
	}
	if got := s.Services(); fmt.Sprint(got) != "[api]" {
		t.Errorf("Services() = %v", got)
	}
}

// Keys idle for two windows are forgotten when a new one comes.
func TestStatsForgetsIdleKeys(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	s := NewStats()
	now := t0
	s.now = func() time.Time { return now }
	req := httptest.NewRequest("GET", "/", nil)
	s.Observe(req, &Record{Start: t0, Service: "old", Server: "http://gone"})
	now = t0.Add(3 * StatsWindow * time.Second)
	s.Observe(req, &Record{Start: now, Service: "new", Server: "http://here"})
	if _, ok := s.services.get("old"); ok {
		t.Error("an idle service was kept")
	}
	if _, ok := s.servers.get(serverKey{"old", "http://gone"}); ok {
		t.Error("an idle server was kept")
	}
	if got := s.Services(); fmt.Sprint(got) != "[new]" {
		t.Errorf("Services() = %v", got)
	}
}

func TestStatsConcurrent(t *testing.T) {
	s := NewStats()
	req := httptest.NewRequest("GET", "/", nil)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				s.Observe(req, &Record{Start: time.Now(), Duration: time.Millisecond, Service: fmt.Sprintf("s%d", i%3), Server: fmt.Sprintf("http://%d", g%2), Status: 200})
				if i%100 == 0 {
					s.Service("s0")
					s.Series("s1", 10)
				}
			}
		}()
	}
	wg.Wait()
}

func TestStatsObserveAllocs(t *testing.T) {
	s := NewStats()
	r := httptest.NewRequest("GET", "/", nil)
	rec := benchRecord()
	s.Observe(r, rec)
	if n := testing.AllocsPerRun(1000, func() { s.Observe(r, rec) }); n != 0 {
		t.Errorf("Stats.Observe: %v allocations per request, want 0", n)
	}
	s.Observe(r, &Record{}) // no service: ignored
	if len(s.Services()) != 1 {
		t.Error("a request without a service was counted")
	}
}

func BenchmarkStatsObserve(b *testing.B) {
	s := NewStats()
	r := httptest.NewRequest("GET", "/", nil)
	recs := make([]Record, 16)
	for i := range recs {
		recs[i] = *benchRecord()
		recs[i].Service = fmt.Sprintf("s%d", i%4)
		recs[i].Server = fmt.Sprintf("http://10.0.0.%d:8080", i%8)
		recs[i].Duration = time.Duration(i+1) * 700 * time.Microsecond
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			recs[i&15].Start = time.Now()
			s.Observe(r, &recs[i&15])
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				rec := recs[i&15]
				rec.Start = start
				s.Observe(r, &rec)
				i++
			}
		})
	})
}
