package h1

import (
	"bufio"
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"testing"
)

var hello = []byte("hello, world")

var trivial = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header()["Content-Type"] = []string{"text/plain"}
	w.Write(hello)
})

// benchKeepAlive sends GETs on one keep-alive connection and reads the
// responses with a minimal client (the same for both servers), so the
// difference is the servers'.
func benchKeepAlive(b *testing.B, addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /some/path?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\nAccept: */*\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n")
	br := bufio.NewReader(c)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	defer func() {
		// CPU per request (both ends: the client is the same for both
		// servers) is steadier than the wall time on a shared machine.
		b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	}()
	for range b.N {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		n := -1
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(line) == 2 {
				break
			}
			if bytes.HasPrefix(line, []byte("Content-Length: ")) {
				n, _ = strconv.Atoi(string(bytes.TrimSpace(line[16:])))
			}
		}
		if n != len(hello) {
			b.Fatalf("content length %d", n)
		}
		if _, err := br.Discard(n); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKeepAliveGET(b *testing.B) {
	b.Run("h1", func(b *testing.B) {
		addr := start(b, &Server{Handler: trivial, ReadHeaderTimeout: 10e9, IdleTimeout: 60e9})
		benchKeepAlive(b, addr)
	})
	b.Run("net-http", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		s := &http.Server{Handler: trivial, ReadHeaderTimeout: 10e9, IdleTimeout: 60e9, ErrorLog: log.New(io.Discard, "", 0)}
		go s.Serve(ln)
		defer s.Close()
		benchKeepAlive(b, ln.Addr().String())
	})
}

// BenchmarkKeepAlivePOST sends 64 KiB bodies on one keep-alive connection:
// several socket reads per body, each under the body's idle deadline.
func BenchmarkKeepAlivePOST(b *testing.B) {
	addr := start(b, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.Write(strconv.AppendInt(nil, n, 10))
	}), ReadHeaderTimeout: 10e9, IdleTimeout: 60e9, BodyIdleTimeout: 60e9})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	const size = 64 << 10
	req := append([]byte("POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: "+strconv.Itoa(size)+"\r\n\r\n"), bytes.Repeat([]byte("x"), size)...)
	br := bufio.NewReader(c)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for range b.N {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		if n, _ := io.Copy(io.Discard, resp.Body); n != int64(len(strconv.Itoa(size))) {
			b.Fatal("short response")
		}
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}
