package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// answer is a raw server that reads requests one by one and answers each
// with resp.
func answer(t *testing.T, resp string) string {
	return rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, _, err := readRequest(br); err != nil {
				return
			}
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
	})
}

// frontWith is front with a middleware that sets X-Mw on every response
// before the proxy runs, as usher's headers middleware would.
func frontWith(t *testing.T, back string) *httptest.Server {
	u := upstreamFor(t, back, Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Mw", "usher")
		if out := u.Serve(w, r, RequestOptions{}); out.Abort {
			panic(http.ErrAbortHandler)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestResponseHopByHopFieldsStayBehind: what a server says for its own hop
// (Keep-Alive, Connection and the fields it names, Proxy-*, Te, Upgrade on a
// final response) never reaches the client; fields usher or a middleware set
// are kept even when the server names them in its Connection.
func TestResponseHopByHopFieldsStayBehind(t *testing.T) {
	back := answer(t, "HTTP/1.1 200 OK\r\n"+
		"Connection: keep-alive, X-Internal, X-Mw\r\n"+
		"Keep-Alive: timeout=5, max=100\r\n"+
		"Proxy-Connection: keep-alive\r\n"+
		"Proxy-Authenticate: Basic realm=x\r\n"+
		"Te: trailers\r\n"+
		"Upgrade: h2c\r\n"+
		"X-Internal: secret-hop\r\n"+
		"X-Mw: from-the-server\r\n"+
		"X-Kept: yes\r\n"+
		"Content-Length: 2\r\n\r\nok")
	f := frontWith(t, back)
	resp, err := http.Get(f.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok" {
		t.Fatalf("%d %q", resp.StatusCode, b)
	}
	for _, k := range []string{"Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Te", "Upgrade", "X-Internal"} {
		if v, ok := resp.Header[k]; ok {
			t.Errorf("the client got the server's %s: %q", k, v)
		}
	}
	if got := resp.Header["X-Mw"]; len(got) != 1 || got[0] != "usher" {
		t.Errorf("X-Mw = %q, want the middleware's alone", got)
	}
	if got := resp.Header.Get("X-Kept"); got != "yes" {
		t.Errorf("an end-to-end field was dropped: X-Kept = %q", got)
	}
}

// TestForbiddenTrailersAreDropped: a trailer may carry what describes the
// content after the fact (a checksum), never framing, routing, cookies or
// what describes the content's type.
func TestForbiddenTrailersAreDropped(t *testing.T) {
	back := answer(t, "HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"4\r\nbody\r\n0\r\n"+
		"X-Sum: 42\r\n"+
		"Content-Length: 999\r\n"+
		"Transfer-Encoding: chunked\r\n"+
		"Host: evil.example\r\n"+
		"Set-Cookie: session=stolen\r\n"+
		"Content-Type: text/html\r\n"+
		"Location: http://evil.example/\r\n"+
		"Connection: close\r\n"+
		"\r\n")
	f := frontWith(t, back)
	resp, err := http.Get(f.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "body" {
		t.Fatalf("body %q %v", b, err)
	}
	if got := resp.Trailer.Get("X-Sum"); got != "42" {
		t.Errorf("trailer X-Sum = %q, want 42", got)
	}
	for k := range resp.Trailer {
		if k != "X-Sum" {
			t.Errorf("a forbidden trailer reached the client: %s: %q", k, resp.Trailer[k])
		}
	}
	if resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("Location") != "" {
		t.Errorf("a trailer was merged into the headers: %v", resp.Header)
	}
}

// TestUnaskedUpgradeIsABadGateway: a 101 to a request that did not ask to
// switch protocols is no answer a client can use.
func TestUnaskedUpgradeIsABadGateway(t *testing.T) {
	back := answer(t, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nraw bytes of another protocol")
	f := frontWith(t, back)
	status, body := fetch(t, "GET", f.URL)
	if status != 502 || body != "Bad Gateway\n" {
		t.Fatalf("got %d %q, want 502", status, body)
	}
}

// TestEarlyHintsAreForwarded: a 103 reaches the client with the server's
// fields (and only those); a 100 Continue, which answered usher's request
// and not the client's, does not.
func TestEarlyHintsAreForwarded(t *testing.T) {
	back := answer(t, "HTTP/1.1 100 Continue\r\n\r\n"+
		"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"+
		"HTTP/1.1 200 OK\r\nLink: </style.css>; rel=preload; as=style\r\nContent-Length: 2\r\n\r\nok")
	f := frontWith(t, back)
	var interim []int
	var hints textproto.MIMEHeader
	trace := &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			interim = append(interim, code)
			if code == 103 {
				hints = h
			}
			return nil
		},
		Got100Continue: func() { interim = append(interim, 100) },
	}
	req, _ := http.NewRequest("GET", f.URL, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok" || resp.Header.Get("X-Mw") != "usher" {
		t.Fatalf("final: %d %q %v", resp.StatusCode, b, resp.Header)
	}
	if len(interim) != 1 || interim[0] != 103 {
		t.Fatalf("interim responses the client got: %v, want [103]", interim)
	}
	if got := hints.Get("Link"); !strings.Contains(got, "style.css") {
		t.Errorf("103 Link = %q", got)
	}
	if hints.Get("X-Mw") != "" {
		t.Errorf("the 103 carried a field the server did not send: %v", hints)
	}
}

// TestSlowChunkedBodyIsWhole: a server that pauses inside the chunked
// framing (between a chunk's data and its CRLF, inside a chunk-size line)
// longer than the client-watch interval still has its body passed on whole.
func TestSlowChunkedBodyIsWhole(t *testing.T) {
	pause := watchEvery + watchEvery/5
	back := rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, _, err := readRequest(br); err != nil {
			return
		}
		for i, part := range []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello", "\r\n1", "\r\n!\r\n0\r\n\r\n"} {
			if i > 0 {
				time.Sleep(pause) // the server's own slowness, not a wait for the test
			}
			io.WriteString(c, part)
		}
	})
	f := frontWith(t, back)
	resp, err := http.Get(f.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "hello!" {
		t.Fatalf("body %q, %v; want it whole", b, err)
	}
}

// TestAmbiguousResponseFramingIsRefused: a response whose length two readers
// could read two ways is refused (502), or, when Transfer-Encoding settles it
// (RFC 9112 6.3), read that way and its connection not used again.
func TestAmbiguousResponseFramingIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		head   string
		status int
		body   string
		reuse  bool
	}{
		{"plain", "Content-Length: 2\r\n\r\nok", 200, "ok", true},
		{"signed length", "Content-Length: +2\r\n\r\nok", 502, "", false},
		{"two lengths", "Content-Length: 2\r\nContent-Length: 3\r\n\r\nok", 502, "", false},
		{"a list of lengths", "Content-Length: 2, 2\r\n\r\nok", 502, "", false},
		{"chunked not last", "Transfer-Encoding: chunked, gzip\r\n\r\n2\r\nok\r\n0\r\n\r\n", 502, "", false},
		{"chunked twice", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 502, "", false},
		{"empty coding", "Transfer-Encoding: \r\n\r\n", 502, "", false},
		{"length and chunked", "Content-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 200, "ok", false},
		{"another coding", "Transfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 502, "", false},
		{"another coding alone", "Transfer-Encoding: gzip\r\n\r\nok", 502, "", false},
		{"chunked, any case", "Transfer-Encoding:  Chunked \r\n\r\n2\r\nok\r\n0\r\n\r\n", 200, "ok", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var conns atomic.Int32
			back := rawServer(t, func(c net.Conn) {
				conns.Add(1)
				br := bufio.NewReader(c)
				for {
					if _, _, err := readRequest(br); err != nil {
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\n"+tc.head)
				}
			})
			f := frontWith(t, back)
			for range 2 {
				status, body := fetch(t, "GET", f.URL)
				if status != tc.status || (status == 200 && body != tc.body) {
					t.Fatalf("got %d %q, want %d %q", status, body, tc.status, tc.body)
				}
			}
			if want := int32(2); tc.reuse {
				if n := conns.Load(); n != 1 {
					t.Errorf("%d connections for 2 requests, want 1", n)
				}
			} else if n := conns.Load(); n != want {
				t.Errorf("%d connections for 2 requests, want %d (not reused)", n, want)
			}
		})
	}
}
