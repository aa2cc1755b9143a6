package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// rawServer is a server on loopback that hands each accepted connection to
// handle, for tests that need a server to misbehave at the byte level.
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

// readRequest reads one request head and its body (Content-Length or
// chunked) from br, and returns it with the body read in full.
func readRequest(br *bufio.Reader) (*http.Request, string, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(req.Body)
	return req, string(b), err
}

// upstreamFor returns an Upstream for the server URL s.
func upstreamFor(t testing.TB, s string, opts Options) *Upstream {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	up, err := NewUpstream(u, configured(opts))
	if err != nil {
		t.Fatal(err)
	}
	return up
}

// discardWriter is an http.ResponseWriter that keeps the status and body, for
// benchmarks and tests that do not need a real client.
type discardWriter struct {
	h      http.Header
	status int
	body   strings.Builder
	keep   bool
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 || w.status < 200 {
		w.status = code
	}
}
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	if w.keep {
		w.body.Write(b)
	}
	return len(b), nil
}
func (w *discardWriter) Flush() {}

// fixedBackend answers every request on a connection with resp, reading
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

// BenchmarkUpstreamGET is the client's own cost for one proxied GET: a
// pooled connection, a request written, a 100-byte response read and copied
// to a writer that discards it (the server's cost is in the figure too: a
// goroutine on loopback answering from a fixed buffer).
func BenchmarkUpstreamGET(b *testing.B) {
	back := fixedBackend(b, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: raw\r\nContent-Length: 100\r\n\r\n"+strings.Repeat("x", 100))
	up := upstreamFor(b, back, Options{})
	r, _ := http.NewRequest("GET", "http://front.test/bench?x=1", nil)
	r.Header.Set("User-Agent", "bench")
	r.Header.Set("Accept", "*/*")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		clear(w.h)
		w.status = 0
		resp, err := up.RoundTrip(w, r, RequestOptions{PassHost: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := resp.WriteTo(w); err != nil {
			b.Fatal(err)
		}
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
