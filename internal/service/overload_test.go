package service

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/pool"
	"github.com/usher-lb/usher/internal/proxy"
)

// gatedBackend answers each request once release gets a value, and tells
// arrived when a request comes in, with its X-Seq header.
func gatedBackend(t *testing.T) (u string, arrived chan string, release chan struct{}) {
	arrived, release = make(chan string, 100), make(chan struct{}, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- r.Header.Get("X-Seq")
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, arrived, release
}

// limitedLB builds a load balancer "app" whose servers come from a registry
// (so that they share a queue) with maxConns each.
func limitedLB(t *testing.T, opts LoadBalancerOptions, maxConns int, urls ...string) (*LoadBalancer, *pool.Registry) {
	t.Helper()
	reg := pool.NewRegistry()
	b := reg.Begin()
	var targets []Target
	for _, s := range urls {
		u, _ := url.Parse(s)
		up, err := proxy.NewUpstream(u, proxy.Options{DialTimeout: 2 * time.Second, IdleConnTimeout: 90 * time.Second, MaxIdleConnsPerHost: 256})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(up.CloseIdle)
		srv := reg.Get(b, "app", u, 1)
		b.SetMaxConns(srv, maxConns)
		targets = append(targets, Target{Server: srv, Upstream: up, Weight: 1})
	}
	b.Commit()
	opts.Limited = true
	lb, err := NewLoadBalancer("app", targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	return lb, reg
}

type result struct {
	seq    string
	status int
	retry  string
	err    string
	took   time.Duration
}

func serve(lb *LoadBalancer, seq string) result {
	r, _ := http.NewRequest("GET", "http://front.test/", nil)
	r.Header.Set("X-Seq", seq)
	w := newSink()
	rw := observe.NewRecorder(w)
	start := time.Now()
	lb.ServeHTTP(rw, r)
	res := result{seq: seq, status: w.status, retry: w.h.Get("Retry-After"), err: rw.Rec.Error, took: time.Since(start)}
	rw.Release()
	return res
}

func TestQueueServesInOrderAndRefusesWhenFull(t *testing.T) {
	u, arrived, release := gatedBackend(t)
	lb, _ := limitedLB(t, LoadBalancerOptions{Queue: &QueueOptions{MaxSize: 2, Timeout: 10 * time.Second}}, 1, u)
	q := lb.servers[0].Queue()
	results := make(chan result, 10)
	go func() { results <- serve(lb, "1") }()
	if got := <-arrived; got != "1" {
		t.Fatalf("first request: %q", got)
	}
	// 2 and 3 wait, in that order.
	for i, seq := range []string{"2", "3"} {
		go func() { results <- serve(lb, seq) }()
		for q.Len() != i+1 {
			time.Sleep(time.Millisecond) // no signal for "is waiting" but the length
		}
	}
	// The queue is full: a fourth gets 503 at once, with Retry-After.
	r := serve(lb, "4")
	if r.status != 503 || r.retry == "" || r.err != errQueueFull || r.took > time.Second {
		t.Fatalf("queue full: %+v", r)
	}
	if lb.servers[0].InFlight() != 1 {
		t.Fatalf("in flight %d, want 1 (the limit)", lb.servers[0].InFlight())
	}
	for _, want := range []string{"2", "3"} {
		release <- struct{}{}
		if got := <-arrived; got != want {
			t.Fatalf("served %q, want %q (first come, first served)", got, want)
		}
		if n := lb.servers[0].InFlight(); n != 1 {
			t.Fatalf("in flight %d during hand-off, want 1", n)
		}
	}
	release <- struct{}{}
	for range 3 {
		if r := <-results; r.status != 200 {
			t.Errorf("admitted request %s: %+v", r.seq, r)
		}
	}
	if n := lb.servers[0].InFlight(); n != 0 {
		t.Errorf("in flight %d after all, want 0", n)
	}
}

func TestQueueTimeout(t *testing.T) {
	u, arrived, release := gatedBackend(t)
	lb, _ := limitedLB(t, LoadBalancerOptions{Queue: &QueueOptions{MaxSize: 10, Timeout: 100 * time.Millisecond}}, 1, u)
	done := make(chan result, 1)
	go func() { done <- serve(lb, "1") }()
	<-arrived
	r := serve(lb, "2")
	if r.status != 503 || r.retry != "1" || r.err != errQueueTimeout {
		t.Fatalf("waited out: %+v", r)
	}
	if r.took < 100*time.Millisecond || r.took > 2*time.Second {
		t.Errorf("waited %v, want about the 100ms timeout", r.took)
	}
	if lb.servers[0].Queue().Len() != 0 {
		t.Error("a request that timed out is still in the queue")
	}
	release <- struct{}{}
	if r := <-done; r.status != 200 {
		t.Errorf("first: %+v", r)
	}
}

func TestNoQueueRefusesAtOnce(t *testing.T) {
	u1, a1, r1 := gatedBackend(t)
	u2, a2, r2 := gatedBackend(t)
	lb, _ := limitedLB(t, LoadBalancerOptions{}, 1, u1, u2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); serve(lb, "x") }()
	}
	<-a1
	<-a2 // one on each server: the picker skips a full one
	r := serve(lb, "3")
	if r.status != 503 || r.retry != "1" || r.err != errServersFull {
		t.Fatalf("over the limit without a queue: %+v", r)
	}
	r1 <- struct{}{}
	r2 <- struct{}{}
	wg.Wait()
}

func TestQueueClientGone(t *testing.T) {
	u, arrived, release := gatedBackend(t)
	lb, _ := limitedLB(t, LoadBalancerOptions{Queue: &QueueOptions{MaxSize: 10, Timeout: 10 * time.Second}}, 1, u)
	done := make(chan result, 1)
	go func() { done <- serve(lb, "1") }()
	<-arrived
	ctx, cancel := context.WithCancel(context.Background())
	r, _ := http.NewRequestWithContext(ctx, "GET", "http://front.test/", nil)
	w := newSink()
	rw := observe.NewRecorder(w)
	went := make(chan struct{})
	go func() { lb.ServeHTTP(rw, r); close(went) }()
	for lb.servers[0].Queue().Len() != 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-went
	if rw.Rec.Error != observe.ErrClientGone || lb.servers[0].Queue().Len() != 0 {
		t.Errorf("client gone while waiting: %q, queue %d", rw.Rec.Error, lb.servers[0].Queue().Len())
	}
	release <- struct{}{}
	<-done
	if n := lb.servers[0].InFlight(); n != 0 {
		t.Errorf("in flight %d, want 0", n)
	}
}

// TestRaisedLimitWakesWaiters: a reload that raises the limit lets the
// waiting requests in at once, without waiting for a request to end.
func TestRaisedLimitWakesWaiters(t *testing.T) {
	u, arrived, release := gatedBackend(t)
	lb, reg := limitedLB(t, LoadBalancerOptions{Queue: &QueueOptions{MaxSize: 10, Timeout: 10 * time.Second}}, 1, u)
	results := make(chan result, 3)
	go func() { results <- serve(lb, "1") }()
	<-arrived
	go func() { results <- serve(lb, "2") }()
	for lb.servers[0].Queue().Len() != 1 {
		time.Sleep(time.Millisecond)
	}
	b := reg.Begin()
	srv := reg.Get(b, "app", lb.servers[0].URL, 1)
	b.SetMaxConns(srv, 2)
	b.Commit()
	if got := <-arrived; got != "2" {
		t.Fatalf("after the raise: %q", got)
	}
	release <- struct{}{}
	release <- struct{}{}
	for range 2 {
		if r := <-results; r.status != 200 {
			t.Errorf("%+v", r)
		}
	}
}

// BenchmarkLoadBalancerGETLimited is BenchmarkLoadBalancerGET with a limit
// on each server that the load never reaches: what a slot costs (TryStart's
// compare-and-swap, the picker's Full, Done's look at the queue).
func BenchmarkLoadBalancerGETLimited(b *testing.B) {
	resp := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: raw\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("x", 100)
	reg := pool.NewRegistry()
	bd := reg.Begin()
	var targets []Target
	for range 2 {
		u, _ := url.Parse(fixedBackend(b, resp))
		up, _ := proxy.NewUpstream(u, proxy.Options{DialTimeout: 2 * time.Second, IdleConnTimeout: 90 * time.Second, MaxIdleConnsPerHost: 256})
		b.Cleanup(up.CloseIdle)
		srv := reg.Get(bd, "app", u, 1)
		bd.SetMaxConns(srv, 1000)
		targets = append(targets, Target{Server: srv, Upstream: up, Weight: 1})
	}
	bd.Commit()
	lb, err := NewLoadBalancer("app", targets, LoadBalancerOptions{PassHost: true, Limited: true, Queue: &QueueOptions{MaxSize: 10, Timeout: time.Second}})
	if err != nil {
		b.Fatal(err)
	}
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

func TestExplainSaturated(t *testing.T) {
	u, arrived, release := gatedBackend(t)
	lb, _ := limitedLB(t, LoadBalancerOptions{Queue: &QueueOptions{MaxSize: 5, Timeout: time.Second}}, 1, u)
	r, _ := http.NewRequest("GET", "http://front.test/", nil)
	if s, why := lb.Explain(r); s == nil {
		t.Fatalf("idle: %s", why)
	}
	done := make(chan result, 1)
	go func() { done <- serve(lb, "1") }()
	<-arrived
	if s, why := lb.Explain(r); s != nil || !strings.Contains(why, "would wait in the queue (0 waiting, at most 5, for 1s)") {
		t.Errorf("saturated: %v %q", s, why)
	}
	release <- struct{}{}
	<-done
}
