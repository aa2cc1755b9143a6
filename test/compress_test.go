package test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/gorilla/websocket"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// compressTpl routes everything through a compress middleware (with the
// design's own settings) to the servers of {{servers}}; {{tls}} adds a TLS
// entrypoint.
const compressTpl = `
entrypoints:
  web: { address: "127.0.0.1:0" }
{{tls}}
http:
  routers:
    all: { rule: "PathPrefix(` + "`/`" + `)", middlewares: [gz], service: app }
  middlewares:
    gz: { compress: { encodings: [zstd, br, gzip], minResponseBodyBytes: 1024 } }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`

// rawClient sends requests as they are and shows bodies as they came: no
// transparent decompression.
var rawClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true}}

// decompressor reads a body encoded with enc as it comes.
func decompressor(t *testing.T, enc string, r io.Reader) io.Reader {
	t.Helper()
	switch enc {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatalf("gzip header: %v", err)
		}
		return zr
	case "br":
		return brotli.NewReader(r)
	case "zstd":
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Close)
		return d
	}
	return r
}

func page(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "<tr><td>%d</td><td>row %d of the table</td></tr>\n", i, i)
	}
	return b.Bytes()[:n]
}

// TestCompressedThroughUsher: a client gets the encoding of usher's
// preference that it accepts, with the headers of an encoded body; one that
// accepts none gets the server's bytes, and a cache between them is told
// to tell them apart.
func TestCompressedThroughUsher(t *testing.T) {
	body := page(50000)
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Etag", `"v7"`)
		h.Set("Vary", "Origin")
		h.Set("Accept-Ranges", "bytes")
		switch r.URL.Path {
		case "/small":
			w.Write(body[:200])
		case "/logo.png":
			h.Set("Content-Type", "image/png")
			w.Write(body)
		case "/trailers":
			h.Set("Trailer", "X-Rows")
			w.Write(body[:20000])
			w.(http.Flusher).Flush() // chunked to usher
			w.Write(body[20000:])
			h.Set("X-Rows", "1234")
		default:
			w.Write(body)
		}
	})
	u := startUsher(t, config(compressTpl, "be", be.URL, "tls", ""))
	for _, c := range []struct {
		path, ae, enc string
	}{
		{"/", "gzip, deflate, br, zstd", "zstd"},
		{"/", "gzip, deflate, br", "br"},
		{"/", "gzip", "gzip"},
		{"/", "br;q=0, gzip;q=0.5", "gzip"},
		{"/", "", ""},
		{"/", "zstd;q=0, br;q=0, gzip;q=0, *;q=0", ""},
		{"/small", "gzip, br, zstd", ""},
		{"/logo.png", "gzip, br, zstd", ""},
		{"/trailers", "gzip, br, zstd", "zstd"},
	} {
		req, _ := http.NewRequest(http.MethodGet, u.url("web")+c.path, nil)
		if c.ae != "" {
			req.Header.Set("Accept-Encoding", c.ae)
		}
		resp, err := rawClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s %q: %v", c.path, c.ae, err)
		}
		h := resp.Header
		what := fmt.Sprintf("%s with Accept-Encoding %q", c.path, c.ae)
		if got := h.Get("Content-Encoding"); got != c.enc {
			t.Errorf("%s: Content-Encoding %q, want %q", what, got, c.enc)
		}
		if got := h.Values("Vary"); len(got) != 1 || got[0] != "Origin, Accept-Encoding" {
			t.Errorf("%s: Vary %q, want one line \"Origin, Accept-Encoding\"", what, got)
		}
		got, err := io.ReadAll(decompressor(t, c.enc, bytes.NewReader(raw)))
		want := body
		switch c.path {
		case "/small":
			want = body[:200]
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: decoded %d bytes (%v), want the server's %d", what, len(got), err, len(want))
		}
		if c.enc == "" {
			if h.Get("Etag") != `"v7"` || h.Get("Accept-Ranges") != "bytes" {
				t.Errorf("%s: the server's headers changed on an unencoded body: %v", what, h)
			}
			continue
		}
		if len(raw)*3 > len(body) {
			t.Errorf("%s: %d bytes sent for %d", what, len(raw), len(body))
		}
		if resp.ContentLength == int64(len(body)) || h.Get("Accept-Ranges") != "" || h.Get("Etag") != `W/"v7"` {
			t.Errorf("%s: length %d, Accept-Ranges %q, ETag %q: want no server length, no ranges, a weak tag",
				what, resp.ContentLength, h.Get("Accept-Ranges"), h.Get("Etag"))
		}
		if c.path == "/trailers" && resp.Trailer.Get("X-Rows") != "1234" {
			t.Errorf("%s: trailer X-Rows %q, want 1234", what, resp.Trailer.Get("X-Rows"))
		}
	}

	// A HEAD and a range request get the server's representation.
	for _, hdr := range []string{"HEAD", "Range: bytes=0-99"} {
		method, rng := http.MethodGet, ""
		if hdr == "HEAD" {
			method = http.MethodHead
		} else {
			rng = strings.TrimPrefix(hdr, "Range: ")
		}
		req, _ := http.NewRequest(method, u.url("web")+"/", nil)
		req.Header.Set("Accept-Encoding", "gzip, br, zstd")
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := rawClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if ce := resp.Header.Get("Content-Encoding"); ce != "" {
			t.Errorf("%s: Content-Encoding %q", hdr, ce)
		}
	}
}

// TestEventStreamIsCompressedAsItComes: a real SSE server sends an event,
// then waits until the client, reading through usher with a streaming
// decoder, has it; each event arrives within milliseconds, compressed.
func TestEventStreamIsCompressedAsItComes(t *testing.T) {
	const events = 5
	got := make(chan struct{})
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		for i := range events {
			fmt.Fprintf(w, "id: %d\nevent: tick\ndata: {\"n\":%d,\"sent\":%d}\n\n", i, i, time.Now().UnixNano())
			w.(http.Flusher).Flush()
			select {
			case <-got:
			case <-r.Context().Done():
				return
			case <-time.After(5 * time.Second):
				return // never read: the client's wait fails the test
			}
		}
	})
	u := startUsher(t, config(compressTpl, "be", be.URL, "tls", ""))
	for _, enc := range []string{"gzip", "br", "zstd"} {
		req, _ := http.NewRequest(http.MethodGet, u.url("web")+"/events", nil)
		req.Header.Set("Accept-Encoding", enc)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := rawClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if ce := resp.Header.Get("Content-Encoding"); ce != enc {
			t.Fatalf("%s: Content-Encoding %q", enc, ce)
		}
		sr := bufio.NewReader(decompressor(t, enc, resp.Body))
		var worst time.Duration
		for i := range events {
			var lines []string
			for {
				line, err := sr.ReadString('\n')
				if err != nil {
					t.Fatalf("%s: event %d: %v after %q", enc, i, err, lines)
				}
				if line == "\n" {
					break
				}
				lines = append(lines, line)
			}
			var n int
			var sent int64
			if len(lines) != 3 || lines[0] != fmt.Sprintf("id: %d\n", i) {
				t.Fatalf("%s: event %d is %q", enc, i, lines)
			}
			fmt.Sscanf(lines[2], "data: {\"n\":%d,\"sent\":%d}", &n, &sent)
			lag := time.Since(time.Unix(0, sent))
			worst = max(worst, lag)
			if n != i || lag > time.Second {
				t.Errorf("%s: event %d (n=%d) reached the client %v after it was sent", enc, i, n, lag)
			}
			got <- struct{}{}
		}
		t.Logf("%s: %d events, the slowest reached the client %v after it was sent", enc, events, worst)
		if rest, err := io.ReadAll(sr); err != nil || len(rest) != 0 {
			t.Errorf("%s: the stream ended with %q, %v; want a clean end", enc, rest, err)
		}
		resp.Body.Close()
	}
}

// TestCutBodyIsNotCompressedWhole: a server sends half its Content-Length
// and closes. Through compress, over HTTP/1.1 and HTTP/2, the client's read
// fails, and what it got is no complete compressed stream: the gzip footer,
// the zstd or brotli end never came.
func TestCutBodyIsNotCompressedWhole(t *testing.T) {
	body := page(200000)
	be := rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n", len(body))
		c.Write(body[:len(body)/2])
	})
	certFile, keyFile, roots := selfSigned(t, t.TempDir(), "gz.test")
	u := startUsher(t, config(compressTpl, "be", be, "tls", `  websecure: { address: "127.0.0.1:0", tls: {} }
tls:
  certificates: [ { certFile: "`+certFile+`", keyFile: "`+keyFile+`" } ]`))
	addr := u.addrs["websecure"]
	h2 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableCompression: true,
		TLSClientConfig:    &tls.Config{RootCAs: roots, ServerName: "gz.test"},
		ForceAttemptHTTP2:  true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	for _, enc := range []string{"gzip", "br", "zstd"} {
		for _, c := range []struct {
			client *http.Client
			url    string
			proto  int
		}{{rawClient, u.url("web"), 1}, {h2, "https://gz.test", 2}} {
			req, _ := http.NewRequest(http.MethodGet, c.url+"/cut", nil)
			req.Header.Set("Accept-Encoding", enc)
			resp, err := c.client.Do(req)
			if err != nil {
				t.Fatalf("%s HTTP/%d: %v", enc, c.proto, err)
			}
			if resp.ProtoMajor != c.proto || resp.Header.Get("Content-Encoding") != enc {
				t.Fatalf("%s: %s, Content-Encoding %q", enc, resp.Proto, resp.Header.Get("Content-Encoding"))
			}
			raw, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				t.Errorf("%s HTTP/%d: the client read %d bytes as a whole response", enc, c.proto, len(raw))
			}
			got, err := io.ReadAll(decompressor(t, enc, bytes.NewReader(raw)))
			if err == nil {
				t.Errorf("%s HTTP/%d: the %d bytes received decode to a whole body of %d bytes", enc, c.proto, len(raw), len(got))
			}
			if !bytes.HasPrefix(body, got) {
				t.Errorf("%s HTTP/%d: decoded bytes are not the server's", enc, c.proto)
			}
		}
	}
}

// TestWebSocketThroughCompress: an upgrade passes compress untouched.
func TestWebSocketThroughCompress(t *testing.T) {
	upgrader := websocket.Upgrader{}
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		mt, msg, err := c.ReadMessage()
		if err == nil {
			c.WriteMessage(mt, bytes.Repeat(msg, 1000))
		}
	})
	u := startUsher(t, config(compressTpl, "be", be.URL, "tls", ""))
	hdr := http.Header{"Accept-Encoding": {"gzip, br, zstd"}}
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+u.addrs["web"]+"/ws", hdr)
	if err != nil {
		t.Fatalf("dial through usher: %v (%v)", err, resp)
	}
	defer ws.Close()
	if ce := resp.Header.Get("Content-Encoding"); ce != "" {
		t.Errorf("101 with Content-Encoding %q", ce)
	}
	ws.WriteMessage(websocket.TextMessage, []byte("ping "))
	_, got, err := ws.ReadMessage()
	if err != nil || string(got) != strings.Repeat("ping ", 1000) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
}
