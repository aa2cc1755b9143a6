package service

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/pool"
	"github.com/usher-lb/usher/internal/proxy"
)

// rawServer is a server on loopback that hands each accepted connection to
// handle, for tests where a server must misbehave at the byte level.
func rawServer(t testing.TB, handle func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// fixedBackend answers every request on a connection with resp, reading the
// requests head by head (bodiless requests only).
func fixedBackend(t testing.TB, resp string) string {
	return rawServer(t, func(c net.Conn) {
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
	})
}

// newLB builds a load balancer named "app" over the server URLs.
func newLB(t testing.TB, opts LoadBalancerOptions, urls ...string) *LoadBalancer {
	t.Helper()
	var targets []Target
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		up, err := proxy.NewUpstream(u, proxy.Options{DialTimeout: 2 * time.Second, IdleConnTimeout: 90 * time.Second, MaxIdleConnsPerHost: 256})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(up.CloseIdle)
		targets = append(targets, Target{Server: pool.NewServer(pool.Key("app", s), u, 1), Upstream: up, Weight: 1})
	}
	lb, err := NewLoadBalancer("app", targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	return lb
}

// sink is an http.ResponseWriter that keeps the status and body.
type sink struct {
	h      http.Header
	status int
	body   strings.Builder
}

func newSink() *sink { return &sink{h: http.Header{}} }

func (w *sink) Header() http.Header { return w.h }
func (w *sink) WriteHeader(code int) {
	if w.status == 0 || w.status < 200 {
		w.status = code
	}
}
func (w *sink) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return w.body.Write(b)
}
func (w *sink) Flush() {}

// BenchmarkLoadBalancerGET is a proxied GET through the load balancer (pick,
// exchange, response copied, outcome recorded) over two servers answering
// 100 bytes from a fixed buffer on loopback.
func BenchmarkLoadBalancerGET(b *testing.B) {
	resp := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: raw\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("x", 100)
	lb := newLB(b, LoadBalancerOptions{PassHost: true}, fixedBackend(b, resp), fixedBackend(b, resp))
	r, _ := http.NewRequest("GET", "http://front.test/bench?x=1", nil)
	r.Header.Set("User-Agent", "bench")
	w := newSink()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		clear(w.h)
		w.status = 0
		w.body.Reset()
		rw := observe.NewRecorder(w)
		lb.ServeHTTP(rw, r)
		if rw.Rec.Status != 200 {
			b.Fatalf("status %d", rw.Rec.Status)
		}
		rw.Release()
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the CPU time (user and system) the process has used, in
// nanoseconds: on a shared machine it varies less than the wall clock.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// reports counts what a load balancer reports to passive health checks.
type reports struct {
	mu     sync.Mutex
	failed int
	total  int
}

func (p *reports) Report(_ *pool.Server, failed bool, _ int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total++
	if failed {
		p.failed++
	}
}

type brokenBody struct{ sent bool }

func (b *brokenBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, "part of it"), nil
	}
	return 0, io.ErrUnexpectedEOF // the client went quiet mid-body
}
func (b *brokenBody) Close() error { return nil }

// TestClientsBadBodyBlamesNoServer: a request whose body the client botched
// is answered 400 and feeds no health check, no latency sample and no retry.
func TestClientsBadBodyBlamesNoServer(t *testing.T) {
	rep := &reports{}
	lb := newLB(t, LoadBalancerOptions{Reporter: rep, Retry: RetryPolicy{Attempts: 2, Methods: []string{"PUT"}}},
		readingBackend(t), readingBackend(t))
	for _, length := range []int64{100, -1} { // short, and chunked
		r, _ := http.NewRequest("PUT", "http://front.test/x", &brokenBody{})
		r.ContentLength = length
		rw := observe.NewRecorder(newSink())
		lb.ServeHTTP(rw, r)
		rec := rw.Rec
		if rec.Status != 400 || rec.Retries != 0 || rec.Error != observe.ErrClientBody || rw.Header().Get("Connection") != "close" {
			t.Errorf("length %d: status %d, retries %d, error %q, Connection %q", length, rec.Status, rec.Retries, rec.Error, rw.Header().Get("Connection"))
		}
		rw.Release()
	}
	if rep.total != 0 {
		t.Errorf("%d reports to passive health checks (%d failures), want none", rep.total, rep.failed)
	}
	for _, s := range lb.Servers() {
		if _, ok := s.Lat.Cost(time.Now()); ok || s.Failures() != 0 || s.InFlight() != 0 {
			t.Errorf("%s: a latency sample, %d failures, %d in flight", s.Key, s.Failures(), s.InFlight())
		}
	}
}

// TestRetriesLeaveTheRoundAlone: with one dead server of N (it takes each
// request and dies before answering) and no health check to eject it, about
// 1/N of the requests try it first and are retried elsewhere: a retry does
// not move the round, which would send the request after it to the dead
// server again.
func TestRetriesLeaveTheRoundAlone(t *testing.T) {
	ok := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	for _, tc := range []struct {
		algo string
		n    int
	}{{"round-robin", 2}, {"round-robin", 4}, {"random", 4}} {
		var dead atomic.Int32
		urls := []string{rawServer(t, func(c net.Conn) {
			dead.Add(1)
			bufio.NewReader(c).ReadSlice('\n') // takes the request, never answers
		})}
		for range tc.n - 1 {
			urls = append(urls, fixedBackend(t, ok))
		}
		opts := LoadBalancerOptions{Retry: RetryPolicy{Attempts: 1, Methods: []string{"GET"}}}
		opts.Balance.Algorithm = tc.algo
		lb := newLB(t, opts, urls...)
		// Random's share is binomial: 2000 requests keep the bounds below
		// six standard deviations away, so that only a bias fails the test.
		const requests = 2000
		for i := range requests {
			r, _ := http.NewRequest("GET", "http://front.test/", nil)
			rw := observe.NewRecorder(newSink())
			lb.ServeHTTP(rw, r)
			if rw.Rec.Status != 200 {
				t.Fatalf("%s over %d: request %d got %d", tc.algo, tc.n, i, rw.Rec.Status)
			}
			rw.Release()
		}
		share := float64(dead.Load()) / requests
		if want := 1 / float64(tc.n); share < want*0.75 || share > want*1.25 {
			t.Errorf("%s over %d: the dead server got %.0f%% of the requests first, want about %.0f%%", tc.algo, tc.n, share*100, want*100)
		}
	}
}

// TestRetryAfterAnEarlyAnswerSendsTheWholeBody: the first server refuses a
// 40KiB upload from its headers (503) while the body is still being sent;
// the retry sends the whole body, from its first byte, to the next server.
func TestRetryAfterAnEarlyAnswerSendsTheWholeBody(t *testing.T) {
	refuse := rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
		io.Copy(io.Discard, br)
	})
	echo := rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		b, _ := io.ReadAll(req.Body)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(b))+"\r\n\r\n"+string(b))
	})
	opts := LoadBalancerOptions{Retry: RetryPolicy{Attempts: 1, OnStatus: []int{503}, Methods: []string{"PUT"}}}
	lb := newLB(t, opts, refuse, echo)
	body := strings.Repeat("0123456789", 4<<10)
	for i := range 4 { // round-robin: two of them meet the refusing server first
		r, _ := http.NewRequest("PUT", "http://front.test/", io.NopCloser(strings.NewReader(body)))
		r.ContentLength = int64(len(body))
		w := newSink()
		rw := observe.NewRecorder(w)
		lb.ServeHTTP(rw, r)
		if rw.Rec.Status != 200 || w.body.String() != body {
			t.Fatalf("PUT %d: %d, %d bytes echoed, want 200 and the %d bytes", i, rw.Rec.Status, w.body.Len(), len(body))
		}
		rw.Release()
	}
}

// readingBackend answers each request once it has read all of its body.
func readingBackend(t testing.TB) string {
	return rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
}
