package h1

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/wire"
)

type nopConn struct{ net.Conn }

func (nopConn) Write(p []byte) (int, error)     { return len(p), nil }
func (nopConn) SetReadDeadline(time.Time) error { return nil }
func (nopConn) LocalAddr() net.Addr             { return &net.TCPAddr{} }

// FuzzReadRequest parses arbitrary bytes as a stream of requests and reads
// their bodies: it must never panic, and what it accepts must be sane.
func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\n\r\n3;a=b\r\nabc\r\n0\r\nX: y\r\n\r\n",
		"GET http://h/p?q HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nz",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &Server{MaxHeaderBytes: 2048}
		c := &conn{srv: s, rwc: nopConn{}, base: context.Background()}
		c.br = bufio.NewReaderSize(bytes.NewReader(data), 64)
		c.lr = lineReader{br: c.br}
		for range 4 {
			c.lr.budget = s.maxHeaderBytes()
			p, err := readRequest(&c.lr, &reqCtx{c: c})
			if err != nil {
				if se, ok := err.(*statusError); ok && (se.code < 400 || se.code > 505) {
					t.Fatalf("status %d", se.code)
				}
				return
			}
			r := p.req
			if r.URL == nil || r.Method == "" || r.Method == "CONNECT" || (r.ProtoMinor == 1 && r.Host == "" && r.URL.Host == "" && len(r.Header["Host"]) > 0) {
				t.Fatalf("accepted %+v", r)
			}
			if _, ok := r.Header["Host"]; ok {
				t.Fatal("Host left in Header")
			}
			if len(r.TransferEncoding) > 0 && r.Header.Get("Content-Length") != "" {
				t.Fatal("TE and CL")
			}
			if p.bodyLen == 0 {
				continue
			}
			b := &body{c: c, req: r, remain: p.bodyLen, total: p.bodyLen, chunked: p.bodyLen < 0, expect: p.expect}
			if b.chunked {
				b.remain = 0
			}
			n, err := io.Copy(io.Discard, b)
			if err != nil {
				return
			}
			if p.bodyLen > 0 && n != p.bodyLen {
				t.Fatalf("read %d of %d", n, p.bodyLen)
			}
			for k := range r.Trailer {
				if wire.ForbiddenTrailer(k) {
					t.Fatalf("trailer %s", k)
				}
			}
			_ = http.Header(nil)
		}
	})
}
