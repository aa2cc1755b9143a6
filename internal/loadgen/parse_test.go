package loadgen

import (
	"strings"
	"testing"
)

// parseAll feeds raw in pieces of at most step bytes (0: at once), then
// the close of the connection when eof.
func parseAll(p *respParser, raw string, step int, eof bool) (used int, done bool, err error) {
	b := []byte(raw)
	for len(b) > 0 && !done {
		n := len(b)
		if step > 0 {
			n = min(step, n)
		}
		var u int
		u, done, err = p.feed(b[:n])
		used += u
		if err != nil {
			return used, false, err
		}
		if u < n && !done {
			return used, false, errMalformed // the parser must take all it is given until done
		}
		b = b[u:]
		if done {
			break
		}
	}
	if !done && eof && p.eof() {
		done = true
	}
	return used, done, nil
}

func TestRespParserFraming(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		head, eof bool
		status    int
		keep      bool
		rest      string // bytes past the response
		bad       bool
		notDone   bool // the response is not over
	}{
		{name: "length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", status: 200, keep: true},
		{name: "length with bytes past it", raw: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP", status: 200, keep: true, rest: "HTTP"},
		{name: "no reason", raw: "HTTP/1.1 404\r\ncontent-length:0\r\n\r\n", status: 404, keep: true},
		{name: "bare LF", raw: "HTTP/1.1 200 OK\nContent-Length: 1\n\nx", status: 200, keep: true},
		{name: "case and spaces", raw: "HTTP/1.1 500 Oops\r\nCONTENT-LENGTH: \t3 \r\nX-A: b\r\n\r\nabc", status: 500, keep: true},
		{name: "chunked", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n", status: 200, keep: true},
		{name: "chunked with trailers", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n", status: 200, keep: true},
		{name: "chunked beats length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", status: 200, keep: true},
		{name: "chunk without CRLF after", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n", bad: true},
		{name: "chunk size not hex", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", bad: true},
		{name: "until close", raw: "HTTP/1.1 200 OK\r\n\r\nall of it", eof: true, status: 200, keep: false},
		{name: "until close, not closed", raw: "HTTP/1.1 200 OK\r\n\r\nall of it", status: 200, notDone: true},
		{name: "other coding: until close", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabcdef", eof: true, status: 200},
		{name: "close", raw: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", status: 200, keep: false},
		{name: "HTTP/1.0", raw: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", status: 200, keep: false},
		{name: "HTTP/1.0 keep-alive", raw: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok", status: 200, keep: true},
		{name: "interim", raw: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", status: 201, keep: true},
		{name: "204 with a length", raw: "HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", status: 204, keep: true},
		{name: "304", raw: "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", status: 304, keep: true},
		{name: "HEAD", raw: "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", head: true, status: 200, keep: true},
		{name: "switching", raw: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", status: 101, keep: false},
		{name: "two lengths", raw: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", bad: true},
		{name: "same length twice", raw: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", status: 200, keep: true},
		{name: "negative length", raw: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", bad: true},
		{name: "huge length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", bad: true},
		{name: "not HTTP", raw: "SSH-2.0-OpenSSH\r\n", bad: true},
		{name: "status not digits", raw: "HTTP/1.1 2x0 OK\r\n\r\n", bad: true},
		{name: "status too long", raw: "HTTP/1.1 2000 OK\r\n\r\n", bad: true},
		{name: "field without colon", raw: "HTTP/1.1 200 OK\r\nnocolon\r\n\r\n", bad: true},
		{name: "line too long", raw: "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", maxLine+10) + "\r\n\r\n", bad: true},
	} {
		for _, step := range []int{0, 1, 2, 7} {
			var p respParser
			p.reset()
			p.head = tc.head
			used, done, err := parseAll(&p, tc.raw, step, tc.eof)
			if tc.bad {
				if err == nil {
					t.Errorf("%s (pieces of %d): no error", tc.name, step)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s (pieces of %d): %v", tc.name, step, err)
				continue
			}
			if done == tc.notDone {
				t.Errorf("%s (pieces of %d): done %v", tc.name, step, done)
				continue
			}
			if tc.notDone {
				continue
			}
			if p.status != tc.status || p.keep != tc.keep {
				t.Errorf("%s (pieces of %d): status %d keep %v, want %d %v", tc.name, step, p.status, p.keep, tc.status, tc.keep)
			}
			if !tc.eof && tc.raw[used:] != tc.rest {
				t.Errorf("%s (pieces of %d): left %q, want %q", tc.name, step, tc.raw[used:], tc.rest)
			}
		}
	}
}

// TestRespParserReuse: one parser reads response after response, and a line
// cut in two does not leak into the next.
func TestRespParserReuse(t *testing.T) {
	var p respParser
	raw := "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("v", 300) + "\r\nContent-Length: 3\r\n\r\nabc"
	for i := range 3 {
		p.reset()
		if _, done, err := parseAll(&p, raw, 50, false); err != nil || !done || p.status != 200 {
			t.Fatalf("response %d: done %v err %v status %d", i, done, err, p.status)
		}
	}
}

var nginxResponse = []byte("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 00:15:28 GMT\r\n" +
	"Content-Type: text/plain\r\nContent-Length: 64\r\nConnection: keep-alive\r\n\r\n" + strings.Repeat("x", 64))

// BenchmarkRespParser: one nginx response, as one read brings it.
func BenchmarkRespParser(b *testing.B) {
	var p respParser
	b.ReportAllocs()
	b.SetBytes(int64(len(nginxResponse)))
	for b.Loop() {
		p.reset()
		if _, done, err := p.feed(nginxResponse); !done || err != nil {
			b.Fatal(done, err)
		}
	}
}
