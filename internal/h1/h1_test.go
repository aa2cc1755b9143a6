package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// start serves h on a loopback listener; the server is shut down at the end
// of the test.
func start(t testing.TB, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if s.ErrorLog == nil {
		s.ErrorLog = log.New(io.Discard, "", 0)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != http.ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// echo answers with a description of the request it got.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(599)
		return
	}
	fmt.Fprintf(w, "%s %s host=%s len=%d body=%q te=%v close=%v trailer=%v",
		r.Method, r.URL, r.Host, r.ContentLength, b, r.TransferEncoding, r.Close, r.Trailer)
})

// roundTrip writes raw and reads one response.
func roundTrip(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	c := dial(t, addr)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestParse(t *testing.T) {
	addr := start(t, &Server{Handler: echo, MaxHeaderBytes: 4096})
	big := strings.Repeat("a", 5000)
	tests := []struct {
		name, raw string
		code      int
		body      string // substring of the echo
	}{
		{"get", "GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n", 200, "GET /a?b=c host=x len=0"},
		{"http10 no host", "GET / HTTP/1.0\r\n\r\n", 200, "close=true"},
		{"leading crlf", "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 200, ""},
		{"absolute form", "GET http://example.com:81/p?q HTTP/1.1\r\nHost: other\r\n\r\n", 200, "host=example.com:81"},
		{"options star", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 200, "OPTIONS *"},
		{"star not options", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 200, `len=3 body="abc"`},
		{"same cls", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 200, `body="abc"`},
		{"cl list agreeing", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", 200, `body="abc"`},
		{"chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: v\r\n\r\n", 200, `len=-1 body="abcde" te=[chunked] close=false trailer=map[X-T:[v]]`},
		{"chunked upper", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n", 200, `body=""`},
		{"custom method", "PURGE / HTTP/1.1\r\nHost: x\r\n\r\n", 200, "PURGE /"},
		{"ows value", "GET / HTTP/1.1\r\nHost:   x  \r\n\r\n", 200, "host=x "},

		{"no host", "GET / HTTP/1.1\r\n\r\n", 400, ""},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, ""},
		{"bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, ""},
		{"version 2", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, ""},
		{"version 1.2", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505, ""},
		{"bad version", "GET / HTTP/1\r\nHost: x\r\n\r\n", 400, ""},
		{"lower version", "GET / http/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"no version", "GET /\r\nHost: x\r\n\r\n", 400, ""},
		{"double space", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"trailing space", "GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400, ""},
		{"bad method", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"connect", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405, ""},
		{"bad target", "GET a/b HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"fragment", "GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"ctl in target", "GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"bad scheme", "GET ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, ""},
		{"space before colon 2", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nabc", 400, ""},
		{"no colon", "GET / HTTP/1.1\r\nHost: x\r\nFoo\r\n\r\n", 400, ""},
		{"empty name", "GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", 400, ""},
		{"bad name", "GET / HTTP/1.1\r\nHost: x\r\nF(o: v\r\n\r\n", 400, ""},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nFoo: a\r\n b\r\n\r\n", 400, ""},
		{"obs-fold first", "GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400, ""},
		{"nul in value", "GET / HTTP/1.1\r\nHost: x\r\nFoo: a\x00b\r\n\r\n", 400, ""},
		{"cr in value", "GET / HTTP/1.1\r\nHost: x\r\nFoo: a\rb\r\n\r\n", 400, ""},
		{"bare lf", "GET / HTTP/1.1\nHost: x\n\n", 400, ""},
		{"bare lf header", "GET / HTTP/1.1\r\nHost: x\nFoo: b\r\n\r\n", 400, ""},
		{"cl and te", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, ""},
		{"te and cl", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400, ""},
		{"two cls", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, ""},
		{"cl list differing", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\nabcd", 400, ""},
		{"cl sign", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", 400, ""},
		{"cl hex", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\nabc", 400, ""},
		{"cl empty", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n", 400, ""},
		{"cl huge", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, ""},
		{"te chunked identity", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 501, ""},
		{"te identity", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", 501, ""},
		{"te gzip chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, ""},
		{"te twice", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501, ""},
		{"te empty", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\n\r\n", 400, ""},
		{"te http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, ""},
		{"te space", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, ""},
		{"expect other", "POST / HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: 1\r\n\r\na", 417, ""},
		{"too large line", "GET /" + big + " HTTP/1.1\r\nHost: x\r\n\r\n", 431, ""},
		{"too large header", "GET / HTTP/1.1\r\nHost: x\r\nFoo: " + big + "\r\n\r\n", 431, ""},
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 599, ""},
		{"chunk no crlf", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", 599, ""},
		{"chunk bare lf", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 599, ""},
		{"chunk size overflow", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n", 599, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := roundTrip(t, addr, tt.raw)
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tt.code, body)
			}
			if tt.code >= 400 && tt.code != 599 && !resp.Close {
				t.Errorf("error without Connection: close")
			}
			if !strings.Contains(body, tt.body) {
				t.Errorf("body %q, want it to hold %q", body, tt.body)
			}
		})
	}
}

// TestSmugglingNextRequest checks that a refused request is not followed by a
// smuggled one on the same connection.
func TestSmugglingNextRequest(t *testing.T) {
	var n atomic.Int32
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1) })})
	c := dial(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
	b, _ := io.ReadAll(c)
	if !bytes.HasPrefix(b, []byte("HTTP/1.1 400 ")) || bytes.Count(b, []byte("HTTP/1.1")) != 1 || n.Load() != 0 {
		t.Fatalf("got %q, %d handler calls", b, n.Load())
	}
}

func TestKeepAlive1000(t *testing.T) {
	var conns sync.Map
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conns.Store(r.RemoteAddr, true)
		io.WriteString(w, r.URL.Path)
	}), IdleTimeout: 5 * time.Second, ReadHeaderTimeout: time.Second})
	c := dial(t, addr)
	br := bufio.NewReader(c)
	for i := range 1000 {
		fmt.Fprintf(c, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != "/"+strconv.Itoa(i) || resp.ContentLength != int64(len(b)) || resp.Close {
			t.Fatalf("%d: %q %d %v", i, b, resp.ContentLength, resp.Close)
		}
	}
	n := 0
	conns.Range(func(any, any) bool { n++; return true })
	if n != 1 {
		t.Fatalf("%d connections", n)
	}
}

func TestPipelining(t *testing.T) {
	addr := start(t, &Server{Handler: echo})
	c := dial(t, addr)
	io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiPOST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\nGET /4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	br := bufio.NewReader(c)
	for i, want := range []string{"GET /1", `POST /2 host=x len=2 body="hi"`, `POST /3 host=x len=-1 body="z"`, "GET /4"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if !strings.HasPrefix(string(b), want) {
			t.Fatalf("%d: %q, want %q", i, b, want)
		}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection not closed: %v", err)
	}
}

func TestUnreadBody(t *testing.T) {
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})})
	for _, tt := range []struct {
		size  int
		close bool
	}{{1000, false}, {maxDrain, false}, {maxDrain + 1, true}} {
		c := dial(t, addr)
		go func() {
			fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", tt.size, strings.Repeat("a", tt.size))
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		}()
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Close != tt.close {
			t.Errorf("size %d: close %v", tt.size, resp.Close)
		}
		if !tt.close {
			if _, err := http.ReadResponse(br, nil); err != nil {
				t.Errorf("size %d: second request: %v", tt.size, err)
			}
		}
	}
}

func TestExpectContinue(t *testing.T) {
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/noread" {
			w.WriteHeader(403)
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})})
	c := dial(t, addr)
	br := bufio.NewReader(c)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("%q %v", line, err)
	}
	br.ReadString('\n')
	io.WriteString(c, "hello")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "hello" {
		t.Fatalf("%q", b)
	}
	// Not read: no 100, and the connection closes.
	io.WriteString(c, "POST /noread HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	resp, err = http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 403 || !resp.Close {
		t.Fatalf("%v %v", resp, err)
	}
}

func TestFraming(t *testing.T) {
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/small":
			io.WriteString(w, "hello")
		case "/large":
			w.Write(bytes.Repeat([]byte("x"), 10000))
		case "/cl":
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello world")
		case "/short":
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "hello")
		case "/204":
			w.WriteHeader(204)
			if _, err := io.WriteString(w, "x"); err != http.ErrBodyNotAllowed {
				panic("body allowed")
			}
		case "/304":
			w.WriteHeader(304)
		case "/trailer":
			w.Header().Set("Trailer", "X-Sum")
			io.WriteString(w, "abc")
			w.Header().Set("X-Sum", "42")
			w.Header().Set(http.TrailerPrefix+"X-Late", "late")
		case "/empty":
		case "/103":
			w.Header().Set("Link", "</a>; rel=preload")
			w.WriteHeader(103)
			io.WriteString(w, "final")
		}
	})})
	tests := []struct {
		raw, head string
		body      string
		cl        int64
		chunked   bool
		close     bool
	}{
		{raw: "GET /small HTTP/1.1\r\nHost: x\r\n\r\n", body: "hello", cl: 5},
		{raw: "GET /empty HTTP/1.1\r\nHost: x\r\n\r\n", body: "", cl: 0},
		{raw: "HEAD /small HTTP/1.1\r\nHost: x\r\n\r\n", body: "", cl: 5},
		{raw: "GET /large HTTP/1.1\r\nHost: x\r\n\r\n", body: strings.Repeat("x", 10000), cl: -1, chunked: true},
		{raw: "GET /large HTTP/1.0\r\n\r\n", body: strings.Repeat("x", 10000), cl: -1, close: true},
		{raw: "GET /small HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", body: "hello", cl: 5},
		{raw: "GET /cl HTTP/1.1\r\nHost: x\r\n\r\n", body: "hello", cl: 5},
		{raw: "GET /short HTTP/1.1\r\nHost: x\r\n\r\n", cl: 10}, // the connection closes, unannounced
		{raw: "GET /204 HTTP/1.1\r\nHost: x\r\n\r\n", cl: 0},    // (ReadResponse says 0)
		{raw: "GET /304 HTTP/1.1\r\nHost: x\r\n\r\n", cl: 0},
		{raw: "GET /trailer HTTP/1.1\r\nHost: x\r\n\r\n", body: "abc", cl: -1, chunked: true},
		{raw: "GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", body: "hello", cl: 5, close: true},
	}
	for _, tt := range tests {
		c := dial(t, addr)
		io.WriteString(c, tt.raw)
		br := bufio.NewReader(c)
		req, _ := http.ReadRequest(bufio.NewReader(strings.NewReader(tt.raw)))
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("%q: %v", tt.raw, err)
		}
		b, err := io.ReadAll(resp.Body)
		if tt.raw == tests[7].raw {
			if err == nil {
				t.Errorf("short body: no error")
			}
		} else if err != nil || string(b) != tt.body {
			t.Errorf("%q: body %.20q %v", tt.raw, b, err)
		}
		if resp.ContentLength != tt.cl || (len(resp.TransferEncoding) > 0) != tt.chunked || resp.Close != tt.close {
			t.Errorf("%q: cl %d te %v close %v", tt.raw, resp.ContentLength, resp.TransferEncoding, resp.Close)
		}
		if resp.Header.Get("Date") == "" || resp.Header.Get("Content-Type") != "" {
			t.Errorf("%q: header %v", tt.raw, resp.Header)
		}
		if strings.Contains(tt.raw, "trailer") && (resp.Trailer.Get("X-Sum") != "42" || resp.Trailer.Get("X-Late") != "late") {
			t.Errorf("trailer %v", resp.Trailer)
		}
	}
	// 103 then the final response.
	c := dial(t, addr)
	io.WriteString(c, "GET /103 HTTP/1.1\r\nHost: x\r\n\r\n")
	b := make([]byte, 4096)
	var got []byte
	for !bytes.HasSuffix(got, []byte("final")) {
		n, err := c.Read(b)
		if err != nil {
			t.Fatalf("%q %v", got, err)
		}
		got = append(got, b[:n]...)
	}
	if !bytes.HasPrefix(got, []byte("HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n")) {
		t.Fatalf("%q", got)
	}
}

func TestFlushStreams(t *testing.T) {
	step := make(chan struct{})
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		<-step
		io.WriteString(w, "second")
	})})
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.TransferEncoding) == 0 {
		t.Fatal("not chunked")
	}
	b := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, b); err != nil || string(b) != "first" {
		t.Fatalf("%q %v", b, err)
	}
	close(step)
	if rest, _ := io.ReadAll(resp.Body); string(rest) != "second" {
		t.Fatalf("%q", rest)
	}
}

func TestHijack(t *testing.T) {
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo " + line)
		brw.Flush()
	}), IdleTimeout: 50 * time.Millisecond, ReadTimeout: 50 * time.Millisecond})
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatal(resp, err)
	}
	time.Sleep(100 * time.Millisecond) // beyond the server's timeouts
	io.WriteString(c, "ping\n")
	if line, err := br.ReadString('\n'); line != "echo ping\n" {
		t.Fatalf("%q %v", line, err)
	}
}

func TestTimeouts(t *testing.T) {
	addr := start(t, &Server{Handler: echo, IdleTimeout: 100 * time.Millisecond, ReadHeaderTimeout: 100 * time.Millisecond})
	// Idle connection closed.
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err != nil {
		t.Fatal(err)
	} else {
		io.ReadAll(resp.Body)
	}
	t0 := time.Now()
	if _, err := br.ReadByte(); err != io.EOF || time.Since(t0) > 2*time.Second {
		t.Fatalf("idle: %v after %v", err, time.Since(t0))
	}
	// Slowloris: headers dribbled in.
	c = dial(t, addr)
	t0 = time.Now()
	var werr error
	for i := 0; i < 50 && werr == nil; i++ {
		_, werr = io.WriteString(c, "GET / HTTP/1.1\r\nX: "[min(i, 20):min(i+1, 21)])
		if i >= 21 {
			_, werr = io.WriteString(c, "a")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF && !errors.Is(err, net.ErrClosed) && !strings.Contains(fmt.Sprint(err), "reset") {
		t.Fatalf("slowloris: %v", err)
	}
	if d := time.Since(t0); d > 1500*time.Millisecond {
		t.Fatalf("slowloris closed after %v", d)
	}
}

func TestPanic(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/abort" {
			panic(http.ErrAbortHandler)
		}
		panic("boom")
	}), ErrorLog: log.New(writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) }), "", 0)})
	for _, path := range []string{"/boom", "/abort"} {
		c := dial(t, addr)
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
		if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
			t.Fatalf("%q %v", b, err)
		}
	}
	time.Sleep(10 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if s := logs.String(); !strings.Contains(s, "boom") || strings.Contains(s, "abort") {
		t.Fatalf("log %q", s)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var states sync.Map
	wentIdle := make(chan struct{}, 1)
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "ok")
	}), ConnState: func(c net.Conn, st http.ConnState) {
		states.Store(st, true)
		if st == http.StateIdle {
			select {
			case wentIdle <- struct{}{}:
			default:
			}
		}
	}}
	addr := start(t, s)
	idle := dial(t, addr)
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	ibr := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(ibr, nil); err != nil {
		t.Fatal(err)
	} else {
		io.ReadAll(resp.Body)
	}
	<-wentIdle // the client reads its response before the server's goroutine goes idle
	active := dial(t, addr)
	io.WriteString(active, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-entered
	done := make(chan error)
	go func() { done <- s.Shutdown(context.Background()) }()
	if _, err := ibr.ReadByte(); err != io.EOF {
		t.Fatalf("idle conn: %v", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with an active request", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(active), nil)
	if err != nil || !resp.Close {
		t.Fatal(resp, err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "ok" {
		t.Fatalf("%q", b)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, st := range []http.ConnState{http.StateNew, http.StateActive, http.StateIdle, http.StateClosed} {
		if _, ok := states.Load(st); !ok {
			t.Errorf("no %v", st)
		}
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("still accepting")
	}
}

func TestContextCanceledWhenClientGoes(t *testing.T) {
	got := make(chan error, 1)
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if ctx.Value(http.LocalAddrContextKey) == nil {
			panic("no local address")
		}
		vctx := context.WithValue(ctx, ctxKey{}, 1)
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if err := vctx.Err(); err != nil {
				got <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		got <- nil
	})})
	c := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(300 * time.Millisecond) // alive meanwhile
	select {
	case err := <-got:
		t.Fatalf("canceled while the client is there: %v", err)
	default:
	}
	c.Close()
	select {
	case err := <-got:
		if err != context.Canceled {
			t.Fatal(err)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("no cancellation")
	}
}

// TestContextPipelinedAlive: a pipelined request is not a client gone, and
// it is served afterwards.
func TestContextPipelinedAlive(t *testing.T) {
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/1" {
			for range 5 {
				if err := r.Context().Err(); err != nil {
					panic(err)
				}
				time.Sleep(110 * time.Millisecond)
			}
		}
		io.WriteString(w, r.URL.Path)
	})})
	c := dial(t, addr)
	io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	for _, want := range []string{"/1", "/2"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := io.ReadAll(resp.Body); string(b) != want {
			t.Fatalf("%q", b)
		}
	}
}

// TestContextConcurrentErr: Err from other goroutines while the body
// streams (as a proxy does) is safe.
func TestContextConcurrentErr(t *testing.T) {
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					_ = r.Context().Err()
					time.Sleep(time.Millisecond)
				}
			}()
		}
		n, _ := io.Copy(io.Discard, r.Body)
		close(stop)
		wg.Wait()
		fmt.Fprint(w, n)
	})})
	c := dial(t, addr)
	go func() {
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
		for range 30 {
			io.WriteString(c, "a\r\n0123456789\r\n")
			time.Sleep(10 * time.Millisecond)
		}
		io.WriteString(c, "0\r\n\r\n")
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "300" {
		t.Fatalf("%q", b)
	}
}

// TestNetHTTPClient drives the server with net/http's client.
func TestNetHTTPClient(t *testing.T) {
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Trailer", r.Trailer.Get("X-T"))
		if r.URL.Query().Get("big") != "" {
			for range 100 {
				w.Write(bytes.Repeat([]byte("b"), 1000))
			}
			return
		}
		w.Write(b)
	})})
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	url := "http://" + addr
	for i := range 50 {
		var resp *http.Response
		var err error
		var want string
		switch i % 5 {
		case 0:
			resp, err = cl.Get(url + "/x")
		case 1:
			want = "posted"
			resp, err = cl.Post(url, "text/plain", strings.NewReader(want))
		case 2:
			want = strings.Repeat("c", 100000)
			req, _ := http.NewRequest("PUT", url, io.MultiReader(strings.NewReader(want))) // chunked
			req.Trailer = http.Header{"X-T": nil}
			req.Body = &trailerBody{Reader: strings.NewReader(want), req: req}
			resp, err = cl.Do(req)
		case 3:
			want = strings.Repeat("b", 100000)
			resp, err = cl.Get(url + "?big=1")
		case 4:
			resp, err = cl.Head(url)
		}
		if err != nil {
			t.Fatal(i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want || resp.StatusCode != 200 {
			t.Fatalf("%d: %d %.30q", i, resp.StatusCode, b)
		}
		if i%5 == 2 && resp.Header.Get("X-Trailer") != "tv" {
			t.Fatalf("trailer not received: %v", resp.Header)
		}
	}
}

type trailerBody struct {
	io.Reader
	req *http.Request
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err == io.EOF {
		b.req.Trailer.Set("X-T", "tv")
	}
	return n, err
}
func (b *trailerBody) Close() error { return nil }

type ctxKey struct{}
