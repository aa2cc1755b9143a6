package test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// closingBackend accepts connections on 127.0.0.1 and closes each of the
// first n after reading the request's head, before any byte of a response;
// then it answers 200 "ok". It counts the connections it got.
func closingBackend(t *testing.T, n int64) (addr string, conns *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			i := conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				if i <= n {
					return // closed before answering
				}
				io.Copy(io.Discard, req.Body)
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
			}()
		}
	}()
	return ln.Addr().String(), conns
}

// The retry middleware sends a request whose connection was closed before
// any answer again, here to the same server (the service has one), after a
// backoff, up to attempts tries in all; without it the service's own retry
// has no other server to go to. A POST that reached the server is never
// sent again.
func TestRetryMiddleware(t *testing.T) {
	for _, tc := range []struct {
		name       string
		closes     int64
		middleware string
		method     string
		code       int
		conns      int64
	}{
		{"two closes, four tries", 2, "retry", http.MethodGet, 200, 3},
		{"three closes, four tries", 3, "retry", http.MethodGet, 200, 4},
		{"four closes, four tries", 4, "retry", http.MethodGet, 502, 4},
		{"no middleware: one server, no retry", 1, "", http.MethodGet, 502, 1},
		{"POST reached the server: not sent again", 1, "retry", http.MethodPost, 502, 1},
		{"PUT is idempotent: sent again", 1, "retry", http.MethodPut, 200, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, conns := closingBackend(t, tc.closes)
			mws := "[]"
			if tc.middleware != "" {
				mws = "[" + tc.middleware + "]"
			}
			u := startUsher(t, fmt.Sprintf(`
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    r: { rule: "PathPrefix(`+"`/`"+`)", middlewares: %s, service: s }
  middlewares:
    retry: { retry: { attempts: 4, initialInterval: 10ms } }
  services:
    s: { loadBalancer: { servers: [ { url: "http://%s" } ] } }
`, mws, addr))
			req, _ := http.NewRequest(tc.method, u.url("web")+"/x", strings.NewReader("body"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("%s: %d %q, want %d", tc.method, resp.StatusCode, b, tc.code)
			}
			if got := conns.Load(); got != tc.conns {
				t.Fatalf("the server got %d connections, want %d", got, tc.conns)
			}
		})
	}
}
