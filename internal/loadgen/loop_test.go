package loadgen

import (
	"bufio"
	"context"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer answers each GET with answer(n), n counting the requests of the
// server from 1; answer's second result closes the connection after it.
type rawServer struct {
	ln              net.Listener
	requests, conns atomic.Int64
	wg              sync.WaitGroup
}

func newRawServer(t *testing.T, answer func(n int64) (string, bool)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln}
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		s.wg.Wait()
	})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					for { // the request's head, up to its empty line
						l, err := br.ReadString('\n')
						if err != nil {
							return
						}
						if l == "\r\n" {
							break
						}
					}
					out, closeAfter := answer(s.requests.Add(1))
					if out != "" {
						if _, err := c.Write([]byte(out)); err != nil {
							return
						}
					}
					if closeAfter {
						return
					}
				}
			}()
		}
	}()
	return s
}

func (s *rawServer) url() *url.URL {
	u, _ := url.Parse("http://" + s.ln.Addr().String() + "/")
	return u
}

// TestLoopFramings: every framing read to its end, on the connection it
// leaves usable, and statuses outside 2xx/3xx counted apart.
func TestLoopFramings(t *testing.T) {
	s := newRawServer(t, func(n int64) (string, bool) {
		switch n % 5 {
		case 0:
			return "HTTP/1.1 200 OK\r\n\r\nuntil the close", true
		case 1:
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false
		case 2:
			return "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy", false
		case 3:
			return "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 302 Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", true
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false
	})
	res, err := Run(context.Background(), Config{URL: s.url(), Conns: 3, Threads: 2, Requests: 500, Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 500 || res.Errors != 0 || s.requests.Load() != 500 {
		t.Fatalf("answered %d, errors %d %v, server saw %d; want 500, 0, 500", res.Requests, res.Errors, res.Errs, s.requests.Load())
	}
	if res.Status[200] != 300 || res.Status[503] != 100 || res.Status[302] != 100 || res.NonOK != 100 {
		t.Errorf("statuses %v, non-2xx/3xx %d", res.Status, res.NonOK)
	}
	// Two closes in five requests, and the three first connections.
	if c := s.conns.Load(); c < 200 || c > 203 {
		t.Errorf("%d connections, want 200 to 203", c)
	}
	if res.Latency.Count() != 500 {
		t.Errorf("%d latencies", res.Latency.Count())
	}
}

// TestLoopRetriesAClosedKeptAliveConnection: a server that closes idle
// connections as a request arrives costs a reconnection, not an error; a
// connection that dies under a request on its first use is an error.
func TestLoopRetriesAClosedKeptAliveConnection(t *testing.T) {
	var dropped atomic.Int64
	s := newRawServer(t, func(n int64) (string, bool) {
		if n%4 == 0 {
			dropped.Add(1)
			return "", true // the request is lost with the connection
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false
	})
	res, err := Run(context.Background(), Config{URL: s.url(), Conns: 1, Requests: 100, Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 100 || res.Errors != 0 || s.requests.Load() != 100+dropped.Load() {
		t.Errorf("answered %d errors %d %v; server saw %d with %d dropped", res.Requests, res.Errors, res.Errs, s.requests.Load(), dropped.Load())
	}

	s = newRawServer(t, func(int64) (string, bool) { return "", true })
	res, err = Run(context.Background(), Config{URL: s.url(), Conns: 2, Requests: 10, Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 0 || res.Errors != 10 || res.Errs["read"] != 10 {
		t.Errorf("answered %d errors %d %v; want 0, 10 read", res.Requests, res.Errors, res.Errs)
	}
}

// TestLoopTimesOut: a server that never answers makes timeouts, after
// about the timeout, and the connection is not used again.
func TestLoopTimesOut(t *testing.T) {
	s := newRawServer(t, func(int64) (string, bool) { return "", false })
	start := time.Now()
	res, err := Run(context.Background(), Config{URL: s.url(), Conns: 2, Requests: 4, Timeout: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errs["timeout"] != 4 || res.Requests != 0 {
		t.Errorf("answered %d errors %v; want 4 timeouts", res.Requests, res.Errs)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 3*time.Second {
		t.Errorf("4 timeouts of 200ms on 2 connections took %v", d)
	}
	if c := s.conns.Load(); c != 4 {
		t.Errorf("%d connections, want 4 (a new one after each timeout)", c)
	}
}

// TestLoopConnectErrors: nothing listening is one connect error per
// request, and a duration-bound run still ends on time.
func TestLoopConnectErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("http://" + ln.Addr().String() + "/")
	ln.Close()
	res, err := Run(context.Background(), Config{URL: u, Conns: 2, Requests: 6}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errs["connect"] != 6 || res.Requests != 0 {
		t.Errorf("answered %d errors %v; want 6 connect", res.Requests, res.Errs)
	}
	start := time.Now()
	res, err = Run(context.Background(), Config{URL: u, Conns: 2, Duration: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second || res.Errs["connect"] == 0 {
		t.Errorf("took %v, errors %v", d, res.Errs)
	}
}

// TestLoopStopsWithTheContext: a cancelled run ends at once, and what was
// in flight is not an error.
func TestLoopStopsWithTheContext(t *testing.T) {
	s := newRawServer(t, func(int64) (string, bool) { return "", false }) // never answers
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	res, err := Run(ctx, Config{URL: s.url(), Conns: 4, Duration: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second || res.Errors != 0 {
		t.Errorf("took %v, errors %d %v", d, res.Errors, res.Errs)
	}
}

// TestLoopProgress: the progress line sees the requests as they go.
func TestLoopProgress(t *testing.T) {
	s := newRawServer(t, func(int64) (string, bool) { return "HTTP/1.1 204 No Content\r\n\r\n", false })
	var seen atomic.Int64
	res, err := Run(context.Background(), Config{URL: s.url(), Conns: 2, Duration: 1500 * time.Millisecond, Rate: 200},
		func(l Live) { seen.Store(l.Requests + int64(l.Latency.Count())) })
	if err != nil {
		t.Fatal(err)
	}
	if seen.Load() == 0 {
		t.Error("the progress line saw no requests")
	}
	if res.Requests < 250 || res.Requests > 302 || res.Status[204] != res.Requests {
		t.Errorf("%d requests (%v) in 1.5s at 200/s", res.Requests, res.Status)
	}
	if res.Errors != 0 {
		t.Errorf("errors %v", res.Errs)
	}
}

// BenchmarkLoop: the cost of a request to the generator, on one event loop
// and 16 connections to a server in the same process that answers from a
// buffer (the figure includes the server's share: compare runs, not with
// wrk; bench/loadgen.sh does that).
func BenchmarkLoop(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	resp := nginxResponse
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					// One request a read, as the generator sends one at a time.
					if n > 0 {
						if _, err := c.Write(resp); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	u, _ := url.Parse("http://" + ln.Addr().String() + "/")
	b.ReportAllocs()
	b.ResetTimer()
	res, err := Run(context.Background(), Config{URL: u, Conns: 16, Threads: 1, Requests: int64(b.N)}, nil)
	if err != nil || res.Errors != 0 || res.Requests != int64(b.N) {
		b.Fatal(err, res.Errs, res.Requests)
	}
}
