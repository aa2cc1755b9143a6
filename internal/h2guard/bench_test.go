//lint:file-ignore SA1019 the server under test is x/net's, as usher's entrypoints use it

package h2guard

import (
	"bytes"
	"golang.org/x/net/http2/hpack"
	"io"
	"log"
	"net"
	"net/http"
	"testing"

	"golang.org/x/net/http2"
)

// BenchmarkRequests: what the guard costs a request, Go's HTTP/2 client to
// Go's HTTP/2 server on loopback, with and without it (compare the two).
func BenchmarkRequests(b *testing.B) {
	for _, guarded := range []bool{false, true} {
		name := "bare"
		if guarded {
			name = "guarded"
		}
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			h2 := &http2.Server{MaxReadFrameSize: MaxFrameSize}
			base := &http.Server{ErrorLog: log.New(io.Discard, "", 0)}
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					if guarded {
						c = Wrap(c, Options{})
					}
					go h2.ServeConn(c, &http2.ServeConnOpts{Handler: h, BaseConfig: base})
				}
			}()
			c := h2cClient()
			url := "http://" + ln.Addr().String() + "/bench"
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("User-Agent", "bench/1.0")
			req.Header.Set("Accept", "*/*")
			req.Header.Set("Cookie", "session=0123456789abcdef; theme=dark")
			b.SetParallelism(16)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := c.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
			b.StopTimer()
			c.CloseIdleConnections()
		})
	}
}

// loopConn is a connection whose reads return frames over and over and
// whose writes go nowhere: the guard alone, without sockets or a server.
type loopConn struct {
	net.Conn
	in  []byte
	off int
}

func (l *loopConn) Read(p []byte) (int, error) {
	if l.off == len(l.in) {
		l.off = 0
	}
	n := copy(p, l.in[l.off:])
	l.off += n
	return n, nil
}

func (l *loopConn) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkGuardPerRequest: the guard's own work for one request, a browser's
// HEADERS frame (HPACK with the dynamic table, as after the first request)
// read in the server's 9-byte-header-then-payload way, and a response's
// HEADERS and DATA written.
func BenchmarkGuardPerRequest(b *testing.B) {
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	fields := [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "www.example.com"}, {":path", "/static/app.js"},
		{"user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"},
		{"accept", "*/*"}, {"accept-encoding", "gzip, deflate, br"}, {"accept-language", "en-US,en;q=0.9"},
		{"cookie", "session=0123456789abcdef0123456789abcdef; theme=dark"}, {"referer", "https://www.example.com/"}}
	for _, f := range fields { // the first request fills the dynamic table
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	var in bytes.Buffer
	fr := http2.NewFramer(&in, nil)
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
	first := bytes.Clone(in.Bytes())
	in.Reset()
	hb.Reset()
	for _, f := range fields {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
	again := bytes.Clone(in.Bytes())
	var out bytes.Buffer
	ofr := http2.NewFramer(&out, nil)
	ofr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: []byte{0x88, 0x5f, 0x87, 0x49, 0x7c, 0xa5, 0x8a, 0xe8, 0x19, 0xaa}, EndHeaders: true})
	ofr.WriteData(3, true, bytes.Repeat([]byte("x"), 512))
	resp := out.Bytes()

	lc := &loopConn{in: append([]byte(http2.ClientPreface), first...)}
	g := newConn(lc, Options{})
	buf := make([]byte, MaxFrameSize)
	frame := func() {
		if _, err := io.ReadFull(g, buf[:9]); err != nil {
			b.Fatal(err)
		}
		n := int(buf[0])<<16 | int(buf[1])<<8 | int(buf[2])
		if _, err := io.ReadFull(g, buf[:n]); err != nil {
			b.Fatal(err)
		}
	}
	io.ReadFull(g, buf[:len(http2.ClientPreface)])
	frame()
	lc.in, lc.off = again, 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		frame()
		g.Write(resp)
	}
}
