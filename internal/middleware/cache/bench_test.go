package cache

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/pool"
	"github.com/usher-lb/usher/internal/proxy"
	"github.com/usher-lb/usher/internal/service"
)

// rawBackend answers every request on a connection with resp.
func rawBackend(b *testing.B, resp string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) == 2 {
							break
						}
					}
					if _, err := io.WriteString(c, resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

func benchLB(b *testing.B, resp string) http.Handler {
	u, _ := url.Parse(rawBackend(b, resp))
	up, err := proxy.NewUpstream(u, proxy.Options{DialTimeout: 2 * time.Second, IdleConnTimeout: 90 * time.Second, MaxIdleConnsPerHost: 256})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(up.CloseIdle)
	lb, err := service.NewLoadBalancer("app", []service.Target{{Server: pool.NewServer(pool.Key("app", u.String()), u, 1), Upstream: up, Weight: 1}}, service.LoadBalancerOptions{PassHost: true})
	if err != nil {
		b.Fatal(err)
	}
	return lb
}

type sink struct {
	h      http.Header
	status int
	n      int
}

func (w *sink) Header() http.Header { return w.h }
func (w *sink) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *sink) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }
func (w *sink) Flush()                      {}

func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func benchCache(next http.Handler) http.Handler {
	st := &state{name: "bench", kind: "memory", store: NewMemory(64<<20, time.Now), flights: map[string]*flight{}, reval: map[string]bool{}}
	return newHandler(next, st, time.Now, 8<<20, time.Hour, 5*time.Second, slog.New(slog.DiscardHandler))
}

func run(b *testing.B, h http.Handler, wantStatus string) {
	r, _ := http.NewRequest("GET", "http://front.test/bench?x=1", nil)
	r.Header.Set("User-Agent", "bench")
	r.Header.Set("Accept", "*/*")
	w := &sink{h: http.Header{}}
	h.ServeHTTP(observe.NewRecorder(w), r) // fills the cache, when there is one
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		clear(w.h)
		w.status, w.n = 0, 0
		rw := observe.NewRecorder(w)
		h.ServeHTTP(rw, r)
		if w.status != 200 || w.n != 1000 {
			b.Fatalf("status %d, %d bytes", w.status, w.n)
		}
		rw.Release()
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	if wantStatus != "" && !strings.HasPrefix(w.h.Get("Cache-Status"), wantStatus) {
		b.Fatalf("Cache-Status %q, want %q", w.h.Get("Cache-Status"), wantStatus)
	}
}

const benchHead = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nServer: raw\r\nEtag: \"abc\"\r\nContent-Length: 1000\r\n"

var benchBody = strings.Repeat("x", 1000)

// BenchmarkProxied is a GET through the load balancer alone: the cost a
// cache hit is measured against.
func BenchmarkProxied(b *testing.B) {
	run(b, benchLB(b, benchHead+"Cache-Control: max-age=3600\r\n\r\n"+benchBody), "")
}

// BenchmarkMiss is a GET through the cache to the load balancer whose
// response may not be stored: every request is a miss.
func BenchmarkMiss(b *testing.B) {
	run(b, benchCache(benchLB(b, benchHead+"Cache-Control: no-store\r\n\r\n"+benchBody)), "usher; fwd=uri-miss")
}

// BenchmarkHit is a GET answered from the memory store.
func BenchmarkHit(b *testing.B) {
	run(b, benchCache(benchLB(b, benchHead+"Cache-Control: max-age=3600\r\n\r\n"+benchBody)), "usher; hit")
}
