package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"syscall"
	"testing"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/redisconn/redistest"
)

// discard is a ResponseWriter that keeps nothing: the benchmarks measure
// the middleware, not httptest's recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

var nop = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})

// clients are requests from 1024 client addresses.
func clients() []*http.Request {
	rs := make([]*http.Request, 1024)
	for i := range rs {
		rs[i] = httptest.NewRequest("GET", "/", nil)
		rs[i].RemoteAddr = "10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256) + ":1234"
	}
	return rs
}

func bench(b *testing.B, h http.Handler) {
	rs := clients()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	defer func() { b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op") }()
	b.RunParallel(func(pb *testing.PB) {
		w := &discard{h: http.Header{}}
		i := 0
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, rs[i&1023])
			i++
		}
	})
}

// cpuTime is the CPU time (user and system) this process has used, in
// nanoseconds: on a shared machine it varies less than the wall clock, and
// it leaves out redis-server's own (another process).
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// A limit no client reaches: every request goes through the whole path
// (bucket, headers, next).
var benchCfg = config.RateLimit{Average: 1 << 20, Period: config.Duration(3600e9), Burst: 1 << 20}

func BenchmarkNoLimit(b *testing.B) { bench(b, nop) }

func BenchmarkMemory(b *testing.B) {
	h, err := New(b.Context(), nop, &benchCfg, "bench")
	if err != nil {
		b.Fatal(err)
	}
	bench(b, h)
}

func BenchmarkRedis(b *testing.B) {
	srv := redistest.Start(b)
	cfg := benchCfg
	cfg.Store = "redis"
	c := redisClient(b, srv.Addr)
	h, err := New(env.With(b.Context(), env.New(c, nil)), nop, &cfg, "bench")
	if err != nil {
		b.Fatal(err)
	}
	bench(b, h)
}
