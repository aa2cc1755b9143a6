package loadgen

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.9, 900 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, 1000 * time.Microsecond}} {
		got := h.Quantile(tc.q)
		if d := float64(got-tc.want) / float64(tc.want); d < -0.04 || d > 0.04 {
			t.Errorf("p%g = %v, want %v within 4%%", tc.q*100, got, tc.want)
		}
	}
	if h.Count() != 1000 || h.Max() != time.Millisecond {
		t.Errorf("count %d max %v", h.Count(), h.Max())
	}
	var sum uint64
	for _, b := range h.Bars(10) {
		sum += b.Count
	}
	if sum != 1000 {
		t.Errorf("bars hold %d, want 1000", sum)
	}
	for _, ns := range []int64{0, 1, 31, 32, 33, 1 << 20, 1<<40 + 12345} {
		i := bucketOf(ns)
		if lo, hi := lowerBound(i), lowerBound(i+1); ns < lo || ns >= hi {
			t.Errorf("%d in bucket %d [%d, %d)", ns, i, lo, hi)
		}
	}
}

// TestRunCountsWhatTheServerSaw: a bounded run sends exactly its requests,
// on keep-alive connections, whatever the framing of the answers.
func TestRunCountsWhatTheServerSaw(t *testing.T) {
	var seen, conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := seen.Add(1)
		b, _ := io.ReadAll(r.Body)
		switch {
		case n%3 == 0: // chunked
			w.Write(b)
			w.(http.Flusher).Flush()
			w.Write([]byte("more"))
		case n%5 == 0:
			w.WriteHeader(http.StatusTeapot)
		default:
			w.Write([]byte("ok"))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	u, _ := url.Parse(srv.URL + "/x?y=1")
	res, err := Run(context.Background(), Config{URL: u, Method: "POST", Body: []byte("hello"), Conns: 4, Requests: 600}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 600 || res.Errors != 0 || seen.Load() != 600 {
		t.Fatalf("answered %d, errors %d %v, server saw %d; want 600, 0, 600", res.Requests, res.Errors, res.Errs, seen.Load())
	}
	if res.Status[http.StatusTeapot] == 0 || res.Status[200]+res.Status[http.StatusTeapot] != 600 {
		t.Errorf("statuses %v", res.Status)
	}
	if c := conns.Load(); c != 4 {
		t.Errorf("%d connections, want 4 kept alive", c)
	}
	if res.Latency.Count() != 600 {
		t.Errorf("%d latencies", res.Latency.Count())
	}
}

// TestRunAtARate: at a fixed rate the requests are sent on schedule, and a
// server that stalls shows in the latency as the time since each was due.
func TestRunAtARate(t *testing.T) {
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) == 10 {
			time.Sleep(300 * time.Millisecond) // the server is slow once
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	res, err := Run(context.Background(), Config{URL: u, Conns: 1, Rate: 100, Duration: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests < 90 || res.Requests > 102 {
		t.Errorf("%d requests in 1s at 100/s", res.Requests)
	}
	// One connection, stalled for 300ms at its 10th request: the ones
	// due meanwhile waited, and it shows.
	if p := res.Latency.Quantile(0.9); p < 50*time.Millisecond {
		t.Errorf("p90 %v: the stall is hidden", p)
	}
}

// TestRunCountsFailures: connections the server drops are errors, not answers.
func TestRunCountsFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 1024)
			c.Read(buf)
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"))
			c.Close()
		}
	}()
	u, _ := url.Parse("http://" + ln.Addr().String())
	res, err := Run(context.Background(), Config{URL: u, Conns: 2, Requests: 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 0 || res.Errors != 20 || !strings.Contains(strings.Join(keys(res.Errs), ","), "read") {
		t.Errorf("answered %d errors %d %v", res.Requests, res.Errors, res.Errs)
	}
}

func keys(m map[string]int64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestRunOverTLSAndHTTP2: HTTPS on goroutines with the same parser, and
// HTTP/2 through Go's client, count what the server saw.
func TestRunOverTLSAndHTTP2(t *testing.T) {
	var seen atomic.Int64
	var h2 atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		if r.ProtoMajor == 2 {
			h2.Add(1)
		}
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("hello"))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	for _, tc := range []struct {
		name  string
		http2 bool
	}{{"https", false}, {"h2", true}} {
		seen.Store(0)
		h2.Store(0)
		u, _ := url.Parse(srv.URL + "/missing")
		res, err := Run(context.Background(), Config{URL: u, Conns: 3, Requests: 60, HTTP2: tc.http2, Insecure: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests != 60 || res.Errors != 0 || seen.Load() != 60 || res.Status[404] != 60 || res.NonOK != 60 {
			t.Errorf("%s: answered %d errors %d %v, server saw %d, statuses %v", tc.name, res.Requests, res.Errors, res.Errs, seen.Load(), res.Status)
		}
		if tc.http2 && h2.Load() != 60 {
			t.Errorf("h2: %d of 60 over HTTP/2", h2.Load())
		}
		if res.BytesRead == 0 {
			t.Errorf("%s: no bytes read", tc.name)
		}
	}
}
