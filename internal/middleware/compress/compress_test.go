package compress

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/h1"
	"github.com/usher-lb/usher/internal/observe"
)

// serve runs h behind compress (cfg) on usher's HTTP/1.1 server on
// 127.0.0.1, wrapped as the entrypoint wraps every request: a Recorder
// holding the request's Record, and an abort (panic) when the Record says
// the response was cut short. It returns the base URL.
func serve(t testing.TB, cfg *config.Compress, h http.HandlerFunc) string {
	t.Helper()
	return serveWith(t, cfg, h, false)
}

// eager sends each write to the client at once: what a write the server's
// buffer cannot hold does. With it, bytes written before an abort are not
// lost in a buffer: they reach the client.
type eager struct{ http.ResponseWriter }

func (e eager) Write(p []byte) (int, error) {
	n, err := e.ResponseWriter.Write(p)
	e.ResponseWriter.(http.Flusher).Flush()
	return n, err
}

func (e eager) Flush()                      { e.ResponseWriter.(http.Flusher).Flush() }
func (e eager) Unwrap() http.ResponseWriter { return e.ResponseWriter }

// serveWith is serve, with every write sent at once when eagerly.
func serveWith(t testing.TB, cfg *config.Compress, h http.HandlerFunc, eagerly bool) string {
	t.Helper()
	mw, err := New(t.Context(), h, cfg, "gz")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &h1.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if eagerly {
			w = eager{w}
		}
		rw := observe.NewRecorder(w)
		mw.ServeHTTP(rw, r)
		abort := rw.Rec.Abort
		rw.Release()
		if abort {
			panic(http.ErrAbortHandler)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// client sees the bytes as sent: no transparent decompression.
var client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableCompression: true}}

// decode reads a whole body encoded with enc.
func decode(enc string, b []byte) ([]byte, error) {
	r, err := decoder(enc, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// decoder returns a streaming reader of enc over r.
func decoder(enc string, r io.Reader) (io.Reader, error) {
	switch enc {
	case "gzip":
		return gzip.NewReader(r)
	case "br":
		return brotli.NewReader(r), nil
	case "zstd":
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	case "":
		return r, nil
	}
	return nil, fmt.Errorf("unknown encoding %q", enc)
}

// text is a compressible body of n bytes.
func text(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "<li class=\"item\">item number %d of the list</li>\n", i)
	}
	return b.Bytes()[:n]
}

// answer is what a test handler sends.
type answer struct {
	status  int
	headers map[string]string // "" value: set to an empty list
	body    []byte
	writes  int  // the body in this many writes (0: one)
	noCL    bool // no Content-Length: the body's length is unknown
	trailer map[string]string
}

func (a answer) handler() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range a.headers {
			h.Set(k, v)
		}
		if !a.noCL && a.status != http.StatusNoContent && a.status != http.StatusNotModified && a.status/100 != 1 {
			h.Set("Content-Length", fmt.Sprint(len(a.body)))
		}
		for k := range a.trailer {
			h.Add("Trailer", k)
		}
		status := a.status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		parts := max(a.writes, 1)
		step := (len(a.body) + parts - 1) / parts
		for b := a.body; len(b) > 0; {
			n := min(step, len(b))
			w.Write(b[:n])
			b = b[n:]
		}
		for k, v := range a.trailer {
			h.Set(k, v)
		}
	}
}

func TestWhatIsCompressed(t *testing.T) {
	html := map[string]string{"Content-Type": "text/html; charset=utf-8"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"Content-Type": "text/html"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	big, small := text(20000), text(500)
	for _, c := range []struct {
		name   string
		cfg    config.Compress
		method string
		req    map[string]string // request headers; Accept-Encoding is gzip unless set
		ans    answer
		enc    string // Content-Encoding the client must see
		vary   string // the Vary it must see
		check  func(t *testing.T, resp *http.Response)
	}{
		{name: "gzip", ans: answer{headers: html, body: big}, enc: "gzip", vary: "Accept-Encoding"},
		{name: "browser gets zstd", req: map[string]string{"Accept-Encoding": "gzip, deflate, br, zstd"}, ans: answer{headers: html, body: big}, enc: "zstd", vary: "Accept-Encoding"},
		{name: "br", req: map[string]string{"Accept-Encoding": "br;q=0.5, gzip"}, ans: answer{headers: html, body: big}, enc: "br", vary: "Accept-Encoding"},
		{name: "usher's order", cfg: config.Compress{Encodings: []string{"gzip", "br"}}, req: map[string]string{"Accept-Encoding": "br, gzip"}, ans: answer{headers: html, body: big}, enc: "gzip", vary: "Accept-Encoding"},
		{name: "no Accept-Encoding", req: map[string]string{"Accept-Encoding": "-"}, ans: answer{headers: html, body: big}, vary: "Accept-Encoding"},
		{name: "refused", req: map[string]string{"Accept-Encoding": "gzip;q=0, identity"}, ans: answer{headers: html, body: big}, vary: "Accept-Encoding"},
		{name: "short by Content-Length", ans: answer{headers: html, body: small}, vary: "Accept-Encoding"},
		{name: "short, length unknown", ans: answer{headers: html, body: small, noCL: true, writes: 5}, vary: "Accept-Encoding"},
		{name: "long, length unknown, small writes", ans: answer{headers: html, body: big, noCL: true, writes: 200}, enc: "gzip", vary: "Accept-Encoding"},
		{name: "just the minimum", ans: answer{headers: html, body: text(1024), noCL: true, writes: 4}, enc: "gzip", vary: "Accept-Encoding"},
		{name: "one byte under", ans: answer{headers: html, body: text(1023), noCL: true, writes: 4}, vary: "Accept-Encoding"},
		{name: "minimum 0", cfg: config.Compress{MinResponseBodyBytes: size(0)}, ans: answer{headers: html, body: []byte("hi")}, enc: "gzip", vary: "Accept-Encoding"},
		{name: "empty body", cfg: config.Compress{MinResponseBodyBytes: size(0)}, ans: answer{headers: html}, vary: "Accept-Encoding"},
		{name: "minimum 64KiB", cfg: config.Compress{MinResponseBodyBytes: size(64 << 10)}, ans: answer{headers: html, body: big, noCL: true, writes: 10}, vary: "Accept-Encoding"},
		{name: "image", ans: answer{headers: map[string]string{"Content-Type": "image/png"}, body: big}, vary: "Accept-Encoding"},
		{name: "svg", ans: answer{headers: map[string]string{"Content-Type": "image/svg+xml"}, body: big}, enc: "gzip", vary: "Accept-Encoding"},
		{name: "woff2", ans: answer{headers: map[string]string{"Content-Type": "font/woff2"}, body: big}, vary: "Accept-Encoding"},
		{name: "octet-stream", ans: answer{headers: map[string]string{"Content-Type": "application/octet-stream"}, body: big}, vary: "Accept-Encoding"},
		{name: "no Content-Type", ans: answer{body: big}, vary: "Accept-Encoding"},
		{name: "json", ans: answer{headers: map[string]string{"Content-Type": "application/json"}, body: big}, enc: "gzip", vary: "Accept-Encoding"},
		{name: "included only", cfg: config.Compress{IncludedContentTypes: []string{"application/json"}}, ans: answer{headers: html, body: big}, vary: "Accept-Encoding"},
		{name: "excluded", cfg: config.Compress{ExcludedContentTypes: []string{"text/html"}}, ans: answer{headers: html, body: big}, vary: "Accept-Encoding"},
		{name: "already encoded", ans: answer{headers: with("Content-Encoding", "br"), body: big}},
		{name: "no-transform", ans: answer{headers: with("Cache-Control", "public, No-Transform"), body: big}},
		{name: "client's no-transform", req: map[string]string{"Cache-Control": "no-transform"}, ans: answer{headers: html, body: big}, vary: "Accept-Encoding"},
		{name: "HEAD", method: http.MethodHead, ans: answer{headers: html, body: big}, vary: "Accept-Encoding", check: func(t *testing.T, resp *http.Response) {
			if resp.ContentLength != int64(len(big)) {
				t.Errorf("HEAD Content-Length %d, want the server's %d", resp.ContentLength, len(big))
			}
		}},
		{name: "range request", req: map[string]string{"Range": "bytes=0-10"}, ans: answer{headers: html, body: big}, vary: "Accept-Encoding"},
		{name: "206", ans: answer{status: http.StatusPartialContent, headers: with("Content-Range", "bytes 0-19999/40000"), body: big}, vary: "Accept-Encoding"},
		{name: "204", ans: answer{status: http.StatusNoContent, headers: html}},
		{name: "304 keeps the client's weak tag", req: map[string]string{"If-None-Match": `W/"v1"`}, ans: answer{status: http.StatusNotModified, headers: map[string]string{"Etag": `"v1"`}}, vary: "Accept-Encoding",
			check: func(t *testing.T, resp *http.Response) {
				if et := resp.Header.Get("Etag"); et != `W/"v1"` {
					t.Errorf("304 ETag %q, want W/\"v1\", the one the client holds", et)
				}
			}},
		{name: "304 to a strong tag", req: map[string]string{"If-None-Match": `"v1"`}, ans: answer{status: http.StatusNotModified, headers: map[string]string{"Etag": `"v1"`}}, vary: "Accept-Encoding",
			check: func(t *testing.T, resp *http.Response) {
				if et := resp.Header.Get("Etag"); et != `"v1"` {
					t.Errorf("304 ETag %q, want \"v1\"", et)
				}
			}},
		{name: "404 page", ans: answer{status: http.StatusNotFound, headers: html, body: big}, enc: "gzip", vary: "Accept-Encoding"},
		{name: "the server's Vary", ans: answer{headers: with("Vary", "Origin"), body: big}, enc: "gzip", vary: "Origin, Accept-Encoding"},
		{name: "Vary already has it", ans: answer{headers: with("Vary", "accept-encoding, Origin"), body: big}, enc: "gzip", vary: "accept-encoding, Origin"},
		{name: "Vary *", ans: answer{headers: with("Vary", "*"), body: big}, enc: "gzip", vary: "*"},
		{name: "headers of an encoded body", ans: answer{headers: with("Etag", `"abc"`, "Accept-Ranges", "bytes", "Content-Md5", "x", "Repr-Digest", "sha-256=:x:"), body: big}, enc: "gzip", vary: "Accept-Encoding",
			check: func(t *testing.T, resp *http.Response) {
				for _, k := range []string{"Accept-Ranges", "Content-Md5", "Repr-Digest"} {
					if v, ok := resp.Header[k]; ok {
						t.Errorf("%s: %q on an encoded body", k, v)
					}
				}
				// usher's server gives a short body, whole when the handler
				// returns, its own length; never the server's.
				if resp.ContentLength == int64(len(big)) {
					t.Errorf("the server's Content-Length on an encoded body")
				}
				if et := resp.Header.Get("Etag"); et != `W/"abc"` {
					t.Errorf("ETag %q, want W/\"abc\"", et)
				}
			}},
		{name: "weak ETag stays", ans: answer{headers: with("Etag", `W/"abc"`), body: big}, enc: "gzip", vary: "Accept-Encoding",
			check: func(t *testing.T, resp *http.Response) {
				if et := resp.Header.Get("Etag"); et != `W/"abc"` {
					t.Errorf("ETag %q, want W/\"abc\"", et)
				}
			}},
		{name: "uncompressed keeps its headers", ans: answer{headers: with("Etag", `"abc"`, "Accept-Ranges", "bytes"), body: small}, vary: "Accept-Encoding",
			check: func(t *testing.T, resp *http.Response) {
				if resp.Header.Get("Etag") != `"abc"` || resp.Header.Get("Accept-Ranges") != "bytes" || resp.ContentLength != int64(len(small)) {
					t.Errorf("headers of an uncompressed body changed: %v", resp.Header)
				}
			}},
		{name: "trailers", ans: answer{headers: html, body: big, noCL: true, trailer: map[string]string{"X-Checksum": "42"}}, enc: "gzip", vary: "Accept-Encoding",
			check: func(t *testing.T, resp *http.Response) {
				if v := resp.Trailer.Get("X-Checksum"); v != "42" {
					t.Errorf("trailer X-Checksum %q, want 42", v)
				}
			}},
		{name: "zstd level", cfg: config.Compress{Level: &config.CompressLevel{Zstd: 19}}, req: map[string]string{"Accept-Encoding": "zstd"}, ans: answer{headers: html, body: big}, enc: "zstd", vary: "Accept-Encoding"},
		{name: "br level", cfg: config.Compress{Level: &config.CompressLevel{Br: 9}}, req: map[string]string{"Accept-Encoding": "br"}, ans: answer{headers: html, body: big}, enc: "br", vary: "Accept-Encoding"},
		{name: "gzip level", cfg: config.Compress{Level: &config.CompressLevel{Gzip: 9}}, ans: answer{headers: html, body: big}, enc: "gzip", vary: "Accept-Encoding"},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := serve(t, &c.cfg, c.ans.handler())
			method := c.method
			if method == "" {
				method = http.MethodGet
			}
			req, _ := http.NewRequest(method, url+"/", nil)
			req.Header.Set("Accept-Encoding", "gzip")
			for k, v := range c.req {
				req.Header.Set(k, v)
				if v == "-" {
					req.Header.Del(k)
				}
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("body: %v", err)
			}
			if got := resp.Header.Get("Content-Encoding"); got != c.enc && c.ans.headers["Content-Encoding"] == "" {
				t.Errorf("Content-Encoding %q, want %q", got, c.enc)
			}
			if got := resp.Header.Values("Vary"); strings.Join(got, "|") != c.vary {
				t.Errorf("Vary %q, want %q", got, c.vary)
			}
			if method == http.MethodHead || c.ans.status == http.StatusNoContent || c.ans.status == http.StatusNotModified {
				if len(b) != 0 {
					t.Errorf("a body of %d bytes", len(b))
				}
			} else {
				enc := c.enc
				if e := c.ans.headers["Content-Encoding"]; e != "" {
					enc = "" // the server's bytes, as they are
				}
				body, err := decode(enc, b)
				if err != nil || !bytes.Equal(body, c.ans.body) {
					t.Errorf("decoded body: %d bytes (%v), want the server's %d", len(body), err, len(c.ans.body))
				}
				if enc != "" && len(b) >= len(c.ans.body) && len(c.ans.body) > 100 {
					t.Errorf("encoded %d bytes into %d", len(c.ans.body), len(b))
				}
			}
			if c.check != nil {
				c.check(t, resp)
			}
		})
	}
}

// TestEventsAreFlushedThroughTheEncoder: each event of a stream reaches the
// client, decodable, before the server sends the next; the server waits for
// the client to have read it.
func TestEventsAreFlushedThroughTheEncoder(t *testing.T) {
	for _, enc := range []string{"gzip", "br", "zstd"} {
		for _, kind := range []string{"event-stream", "flushed"} {
			t.Run(enc+"/"+kind, func(t *testing.T) {
				read := make(chan struct{})
				url := serve(t, &config.Compress{}, func(w http.ResponseWriter, r *http.Request) {
					if kind == "event-stream" {
						w.Header().Set("Content-Type", "text/event-stream")
					} else {
						w.Header().Set("Content-Type", "application/x-ndjson")
					}
					for i := range 3 {
						fmt.Fprintf(w, "data: event %d\n\n", i)
						if kind == "flushed" {
							w.(http.Flusher).Flush()
						}
						select {
						case <-read:
						case <-time.After(5 * time.Second):
							return // the client never got it: it fails
						case <-r.Context().Done():
							return
						}
					}
				})
				req, _ := http.NewRequest(http.MethodGet, url+"/", nil)
				req.Header.Set("Accept-Encoding", enc)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if got := resp.Header.Get("Content-Encoding"); got != enc {
					t.Fatalf("Content-Encoding %q, want %q", got, enc)
				}
				dr, err := decoder(enc, resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(dr)
				for i := range 3 {
					start := time.Now()
					line, err := br.ReadString('\n')
					if want := fmt.Sprintf("data: event %d\n", i); line != want || err != nil {
						t.Fatalf("read %q, %v; want %q", line, err, want)
					}
					br.ReadString('\n')
					if d := time.Since(start); d > time.Second {
						t.Errorf("event %d took %v", i, d)
					}
					read <- struct{}{}
				}
				if rest, err := io.ReadAll(br); err != nil || len(rest) > 0 {
					t.Errorf("after the events: %q, %v; want a clean end", rest, err)
				}
			})
		}
	}
}

// TestCutResponseIsNotEndedCleanly: the server's body ends before its
// framing said (the load balancer sets Record.Abort): the client gets no
// end of the encoded stream and an error, never a valid whole body.
func TestCutResponseIsNotEndedCleanly(t *testing.T) {
	for _, enc := range []string{"gzip", "br", "zstd"} {
		for _, lengthKnown := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/length known %v", enc, lengthKnown), func(t *testing.T) {
				body := text(40000)
				url := serveWith(t, &config.Compress{}, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/plain")
					if lengthKnown {
						w.Header().Set("Content-Length", fmt.Sprint(len(body)))
					}
					w.Write(body[:len(body)/2])
					// What the proxy does when the server's body is cut.
					http.NewResponseController(w).Flush()
					observe.From(w).Abort = true
				}, true)
				req, _ := http.NewRequest(http.MethodGet, url+"/", nil)
				req.Header.Set("Accept-Encoding", enc)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if got := resp.Header.Get("Content-Encoding"); got != enc {
					t.Fatalf("Content-Encoding %q, want %q", got, enc)
				}
				raw, err := io.ReadAll(resp.Body)
				if err == nil {
					t.Errorf("the client read %d bytes as a whole response", len(raw))
				}
				got, err := decode(enc, raw)
				if err == nil {
					t.Errorf("what the client got decodes cleanly (%d bytes): the stream was ended", len(got))
				}
				if !bytes.HasPrefix(body, got) {
					t.Errorf("decoded %d bytes that are not the server's", len(got))
				}
			})
		}
	}
}

// TestPanickingHandlerIsNotEndedCleanly: a handler that panics mid-body
// leaves an encoded stream without its end.
func TestPanickingHandlerIsNotEndedCleanly(t *testing.T) {
	body := text(40000)
	url := serveWith(t, &config.Compress{}, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}, true)
	req, _ := http.NewRequest(http.MethodGet, url+"/", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Errorf("the client read %d bytes as a whole response", len(raw))
	}
	if _, err := decode("gzip", raw); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("decoding what the client got: %v, want unexpected EOF", err)
	}
}

// TestEarlyHintsAndUpgradesPass: a 103 goes at once and the final response
// is still judged; an upgrade request's writer is not wrapped (it can be
// hijacked).
func TestEarlyHintsAndUpgradesPass(t *testing.T) {
	body := text(5000)
	url := serve(t, &config.Compress{}, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			if _, ok := w.(*writer); ok {
				t.Error("an upgrade went through the compressing writer")
			}
			w.WriteHeader(http.StatusSwitchingProtocols)
			return
		}
		w.Header().Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Content-Type", "text/html")
		w.Write(body)
	})
	req, _ := http.NewRequest(http.MethodGet, url+"/", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got, err := decode("gzip", b); resp.Header.Get("Content-Encoding") != "gzip" || err != nil || !bytes.Equal(got, body) {
		t.Errorf("after a 103: %q, %d bytes (%v)", resp.Header.Get("Content-Encoding"), len(got), err)
	}
	req, _ = http.NewRequest(http.MethodGet, url+"/", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Vary") != "" {
		t.Errorf("upgrade: %d, Vary %q", resp.StatusCode, resp.Header.Get("Vary"))
	}
}

// TestOneFlushPerEvent: an event written and flushed (as the proxy does
// after the middleware flushed it already) costs one flush of the encoder,
// not two: each is a few bytes on the wire.
func TestOneFlushPerEvent(t *testing.T) {
	url := serve(t, &config.Compress{}, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			w.(http.Flusher).Flush()
		}
	})
	req, _ := http.NewRequest(http.MethodGet, url+"/", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// A deflate flush ends with an empty stored block: 00 00 ff ff.
	if n := bytes.Count(raw, []byte{0, 0, 0xff, 0xff}); n != 3 {
		t.Errorf("%d flushes of the encoder for 3 events", n)
	}
	if got, err := decode("gzip", raw); err != nil || string(got) != "data: 0\n\ndata: 1\n\ndata: 2\n\n" {
		t.Errorf("decoded %q, %v", got, err)
	}
}
