package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// h2Backend is a server that speaks HTTP/2: over TLS (h2 and http/1.1 by
// ALPN, or http/1.1 alone) or in the clear with prior knowledge. It counts
// its connections.
func h2Backend(t *testing.T, mode string, h http.HandlerFunc) (string, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	switch mode {
	case "h2":
		srv.EnableHTTP2 = true
		srv.StartTLS()
	case "h1tls":
		srv.StartTLS()
	case "h2c":
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		srv.Config.Protocols = &p
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv.URL, &conns
}

var insecure = &tls.Config{InsecureSkipVerify: true}

// TestHTTP2ToServers: with protocol h2, h2c or auto the server gets HTTP/2,
// many requests share one connection, bodies go both ways, trailers come
// back, and the client sees what the server sent.
func TestHTTP2ToServers(t *testing.T) {
	handler := func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "Grpc-Status")
		w.Header().Set("X-Proto", r.Proto)
		w.Header().Set("X-Te", r.Header.Get("Te"))
		fmt.Fprintf(w, "%s %s %s %d", r.Method, r.Host, r.URL.RequestURI(), len(b))
		w.Header().Set("Grpc-Status", "0")
	}
	for _, tc := range []struct{ mode, protocol, proto string }{
		{"h2", ProtocolH2, "HTTP/2.0"},
		{"h2c", ProtocolH2C, "HTTP/2.0"},
		{"h2", ProtocolAuto, "HTTP/2.0"},
		{"h1tls", ProtocolAuto, "HTTP/1.1"},
	} {
		t.Run(tc.mode+"/"+tc.protocol, func(t *testing.T) {
			back, conns := h2Backend(t, tc.mode, handler)
			f, _ := front(t, back+"/base", Options{TLS: insecure, Protocol: tc.protocol}, RequestOptions{})
			var wg sync.WaitGroup
			for i := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequest("POST", fmt.Sprintf("%s/a%%2Fb/%d?q=1", f.URL, i), strings.NewReader(strings.Repeat("x", i*4096)))
					req.Header.Set("Te", "trailers")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					want := fmt.Sprintf("POST %s /base/a%%2Fb/%d?q=1 %d", strings.TrimPrefix(strings.TrimPrefix(back, "https://"), "http://"), i, i*4096)
					if string(b) != want || resp.Header.Get("X-Proto") != tc.proto {
						t.Errorf("got %s %q, want %s %q", resp.Header.Get("X-Proto"), b, tc.proto, want)
					}
					if tc.proto == "HTTP/2.0" && resp.Header.Get("X-Te") != "trailers" {
						t.Errorf("TE: trailers did not reach the server: %q", resp.Header.Get("X-Te"))
					}
					if resp.Trailer.Get("Grpc-Status") != "0" {
						t.Errorf("trailers %v", resp.Trailer)
					}
				}()
			}
			wg.Wait()
			if n := conns.Load(); tc.proto == "HTTP/2.0" && n > 2 { // one, or two when auto's question counts
				t.Errorf("16 requests over HTTP/2 took %d connections", n)
			}
		})
	}
}

// TestHTTP2StreamsAndTruncation: a response of unknown length is flushed to
// the client as it comes; a stream the server resets mid-body aborts the
// client's response.
func TestHTTP2StreamsAndTruncation(t *testing.T) {
	next := make(chan struct{})
	back, _ := h2Backend(t, "h2c", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stream":
			for i := range 3 {
				fmt.Fprintf(w, "event %d\n", i)
				w.(http.Flusher).Flush()
				<-next
			}
		case "/cut":
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, "part")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
	})
	f, _ := front(t, back, Options{Protocol: ProtocolH2C}, RequestOptions{})
	resp, err := http.Get(f.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := br.ReadString('\n')
		if err != nil || line != fmt.Sprintf("event %d\n", i) {
			t.Fatalf("event %d: %q %v", i, line, err)
		}
		next <- struct{}{}
	}
	resp.Body.Close()

	resp, err = http.Get(f.URL + "/cut")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatalf("a body the server reset came whole: %q", b)
	}
}

// TestHTTP2Failures: no server is a dial error that was never sent (safe
// to send elsewhere); a server slower than ResponseHeaderTimeout is a 504;
// an h2 server that does not speak HTTP/2 is a dial error too.
func TestHTTP2Failures(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	up := upstreamFor(t, "http://"+addr, Options{Protocol: ProtocolH2C})
	req := httptest.NewRequest("GET", "/", nil)
	_, err := up.RoundTrip(httptest.NewRecorder(), req, RequestOptions{})
	if e, ok := err.(*Error); !ok || !e.NotSent || e.Op != "dial" {
		t.Errorf("no server: %#v, want a dial error not sent", err)
	}

	release := make(chan struct{})
	defer close(release)
	slow, _ := h2Backend(t, "h2c", func(w http.ResponseWriter, r *http.Request) { <-release })
	f, _ := front(t, slow, Options{Protocol: ProtocolH2C, ResponseHeaderTimeout: 100 * time.Millisecond}, RequestOptions{})
	if st, _ := fetch(t, "GET", f.URL); st != http.StatusGatewayTimeout {
		t.Errorf("slow server: %d, want 504", st)
	}

	h1only, _ := h2Backend(t, "h1tls", func(w http.ResponseWriter, r *http.Request) {})
	up = upstreamFor(t, h1only, Options{Protocol: ProtocolH2, TLS: insecure})
	_, err = up.RoundTrip(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), RequestOptions{})
	if e, ok := err.(*Error); !ok || !e.NotSent || !strings.Contains(e.Error(), "HTTP/2") {
		t.Errorf("an HTTP/1.1-only server: %v, want a dial error saying it does not speak HTTP/2", err)
	}
}
