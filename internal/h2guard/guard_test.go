//lint:file-ignore SA1019 the server under test is x/net's, as usher's entrypoints use it

package h2guard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// server is Go's HTTP/2 server behind the guard on a loopback port, in the
// clear (prior knowledge), as usher's entrypoints run it.
type server struct {
	addr  string
	calls atomic.Int64 // handler calls
	flood chan string  // OnFlood's reasons
	wg    sync.WaitGroup
}

func startServer(t testing.TB, opts Options, h http.HandlerFunc) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{addr: ln.Addr().String(), flood: make(chan string, 16)}
	opts.OnFlood = func(_ net.Conn, reason string) { s.flood <- reason }
	h2 := &http2.Server{MaxReadFrameSize: MaxFrameSize}
	// Go's transport dials a few connections it then drops unused.
	base := &http.Server{ErrorLog: log.New(io.Discard, "", 0)}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		h(w, r)
	})
	var mu sync.Mutex
	var conns []net.Conn
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				h2.ServeConn(Wrap(c, opts), &http2.ServeConnOpts{Handler: handler, BaseConfig: base})
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func hello(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	fmt.Fprintf(w, "hello %s", r.URL.Path)
}

// client is a raw HTTP/2 client: frames as the test writes them.
type client struct {
	t   testing.TB
	c   net.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	buf bytes.Buffer
}

// dial connects and does the handshake: preface, SETTINGS both ways, acks.
func dial(t testing.TB, addr string, settings ...http2.Setting) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, c: c, fr: http2.NewFramer(c, c)}
	cl.enc = hpack.NewEncoder(&cl.buf)
	cl.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	io.WriteString(c, http2.ClientPreface)
	cl.fr.WriteSettings(settings...)
	for acked, got := false, false; !acked || !got; {
		f := cl.read()
		if _, ok := f.(*http2.WindowUpdateFrame); ok {
			continue
		}
		sf, ok := f.(*http2.SettingsFrame)
		if !ok {
			t.Fatalf("handshake: got %v", f)
		}
		if sf.IsAck() {
			acked = true
		} else {
			got = true
			if v, ok := sf.Value(http2.SettingMaxFrameSize); ok && v != MaxFrameSize {
				t.Errorf("server advertises SETTINGS_MAX_FRAME_SIZE %d, want %d", v, MaxFrameSize)
			}
			cl.fr.WriteSettingsAck()
		}
	}
	return cl
}

// block HPACK-encodes a request's fields (with indexing, as clients do, so
// that a guard whose table lost step with the server's shows).
func (cl *client) block(path string, extra ...string) []byte {
	cl.buf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "guard.test"}, {":path", path}} {
		cl.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	for i := 0; i+1 < len(extra); i += 2 {
		cl.enc.WriteField(hpack.HeaderField{Name: extra[i], Value: extra[i+1]})
	}
	return bytes.Clone(cl.buf.Bytes())
}

func (cl *client) get(stream uint32, path string, extra ...string) {
	cl.t.Helper()
	if err := cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: cl.block(path, extra...), EndStream: true, EndHeaders: true}); err != nil {
		cl.t.Fatal(err)
	}
}

// read returns the next frame, or nil when the connection is closed.
func (cl *client) read() http2.Frame {
	cl.t.Helper()
	cl.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := cl.fr.ReadFrame()
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "reset by peer") {
			return nil
		}
		cl.t.Fatalf("read: %v", err)
	}
	return f
}

// response reads frames until stream's response ends, and returns its
// status and body; a RST_STREAM or GOAWAY ends it with an error.
func (cl *client) response(stream uint32) (status string, body string, err error) {
	cl.t.Helper()
	for {
		f := cl.read()
		switch f := f.(type) {
		case nil:
			return status, body, io.EOF
		case *http2.MetaHeadersFrame:
			if f.StreamID == stream {
				status = f.PseudoValue("status")
				if f.StreamEnded() {
					return status, body, nil
				}
			}
		case *http2.DataFrame:
			if f.StreamID == stream {
				body += string(f.Data())
				if f.StreamEnded() {
					return status, body, nil
				}
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == stream {
				return status, body, http2.StreamError{StreamID: stream, Code: f.ErrCode}
			}
		case *http2.GoAwayFrame:
			return status, body, http2.ConnectionError(f.ErrCode)
		}
	}
}

// TestMalformedFields: connection-specific fields and a TE other than
// "trailers" reset the stream with PROTOCOL_ERROR (RFC 9113 §8.2.2), the
// handler never sees them, and the connection goes on: the next request,
// whose fields come from the dynamic table the malformed one filled, works.
func TestMalformedFields(t *testing.T) {
	s := startServer(t, Options{}, hello)
	cl := dial(t, s.addr)
	stream := uint32(1)
	for _, bad := range [][]string{
		{"connection", "keep-alive"},
		{"proxy-connection", "keep-alive"},
		{"keep-alive", "timeout=5"},
		{"transfer-encoding", "chunked"},
		{"upgrade", "websocket"},
		{"te", "trailers, deflate"},
		{"te", "gzip"},
		{"x-fine", "1", "connection", "close"},
	} {
		cl.get(stream, "/bad", bad...)
		_, _, err := cl.response(stream)
		var se http2.StreamError
		if !errors.As(err, &se) || se.Code != http2.ErrCodeProtocol {
			t.Errorf("%v: got %v, want RST_STREAM(PROTOCOL_ERROR)", bad, err)
		}
		stream += 2
		cl.get(stream, "/bad", "x-fine", "1")
		if st, body, err := cl.response(stream); err != nil || st != "200" || body != "hello /bad" {
			t.Fatalf("after %v: %s %q %v, want 200 \"hello /bad\"", bad, st, body, err)
		}
		stream += 2
	}
	cl.get(stream, "/te", "te", "trailers")
	if st, _, err := cl.response(stream); err != nil || st != "200" {
		t.Errorf("te: trailers: %s %v, want 200", st, err)
	}
	if n := s.calls.Load(); n != 9 {
		t.Errorf("the handler ran %d times, want 9 (the well-formed requests)", n)
	}
}

// TestMalformedAcrossContinuation: the bad field in a CONTINUATION frame,
// after a HEADERS frame without END_HEADERS, is caught too.
func TestMalformedAcrossContinuation(t *testing.T) {
	s := startServer(t, Options{}, hello)
	cl := dial(t, s.addr)
	b := cl.block("/split", "connection", "close")
	cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:3], EndStream: true})
	cl.fr.WriteContinuation(1, false, b[3:6])
	cl.fr.WriteContinuation(1, true, b[6:])
	_, _, err := cl.response(1)
	var se http2.StreamError
	if !errors.As(err, &se) || se.Code != http2.ErrCodeProtocol {
		t.Fatalf("got %v, want RST_STREAM(PROTOCOL_ERROR)", err)
	}
	cl.get(3, "/next")
	if st, body, err := cl.response(3); err != nil || st != "200" || body != "hello /next" {
		t.Fatalf("next request: %s %q %v", st, body, err)
	}
}

// TestRepeatedSettings: SETTINGS_INITIAL_WINDOW_SIZE twice in one frame is
// processed in order (RFC 9113 §6.5.3): acked, and the last value, 1, is the
// stream window the server sends its response in.
func TestRepeatedSettings(t *testing.T) {
	s := startServer(t, Options{}, hello)
	cl := dial(t, s.addr)
	cl.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
	// The server's connection WINDOW_UPDATE may come after the handshake.
	f := cl.read()
	for _, ok := f.(*http2.WindowUpdateFrame); ok; _, ok = f.(*http2.WindowUpdateFrame) {
		f = cl.read()
	}
	if sf, ok := f.(*http2.SettingsFrame); !ok || !sf.IsAck() {
		t.Fatalf("got %v, want a SETTINGS ack", f)
	}
	cl.get(1, "/w")
	for {
		f := cl.read()
		if d, ok := f.(*http2.DataFrame); ok {
			if len(d.Data()) != 1 {
				t.Fatalf("first DATA frame of %d bytes, want 1 (the window)", len(d.Data()))
			}
			return
		}
		if f == nil {
			t.Fatal("connection closed")
		}
		if _, ok := f.(*http2.GoAwayFrame); ok {
			t.Fatalf("got %v", f)
		}
	}
}

// TestRepeatedSettingsInvalid: a repeated setting whose first value is
// invalid is still an error of the RFC's type.
func TestRepeatedSettingsInvalid(t *testing.T) {
	s := startServer(t, Options{}, hello)
	cl := dial(t, s.addr)
	cl.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
	for {
		switch f := cl.read().(type) {
		case nil:
			t.Fatal("closed without GOAWAY")
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeFlowControl {
				t.Fatalf("GOAWAY %v, want FLOW_CONTROL_ERROR", f.ErrCode)
			}
			return
		}
	}
}

func TestDedupSettings(t *testing.T) {
	enc := func(kv ...uint32) []byte {
		var b []byte
		for i := 0; i+1 < len(kv); i += 2 {
			b = binary.BigEndian.AppendUint16(b, uint16(kv[i]))
			b = binary.BigEndian.AppendUint32(b, kv[i+1])
		}
		return b
	}
	for _, tc := range []struct {
		name    string
		in, out []byte
	}{
		{"no repeats", enc(4, 100, 3, 10), enc(4, 100, 3, 10)},
		{"last wins", enc(4, 100, 3, 10, 4, 1), enc(4, 1, 3, 10)},
		{"three", enc(1, 0, 1, 4096, 1, 10), enc(1, 10)},
		{"first invalid kept", enc(4, 1<<31, 4, 1), enc(4, 1<<31)},
		{"later invalid kept", enc(2, 1, 2, 7, 2, 0), enc(2, 7)},
	} {
		got := DedupSettings(bytes.Clone(tc.in))
		if !bytes.Equal(got, tc.out) {
			t.Errorf("%s: %x, want %x", tc.name, got, tc.out)
		}
	}
}

// TestRapidReset (CVE-2023-44487): a client that opens streams and resets
// them at once, thousands in a row, gets GOAWAY(ENHANCE_YOUR_CALM) and a
// closed connection after about the reset budget; the handlers it got
// started are bounded by the budget, and no goroutine is left behind.
func TestRapidReset(t *testing.T) {
	before := runtime.NumGoroutine()
	const burst = 200
	s := startServer(t, Options{ResetBurst: burst, ResetRate: 1}, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // a slow backend: work that a reset wastes
	})
	cl := dial(t, s.addr)
	closed, goawayOf := cl.untilClosed()
	sent := 0
	for stream := uint32(1); stream < 2*100000; stream += 2 {
		if cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: cl.block("/r"), EndStream: true, EndHeaders: true}) != nil {
			break
		}
		if cl.fr.WriteRSTStream(stream, http2.ErrCodeCancel) != nil {
			break
		}
		sent++
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection stayed open")
	}
	goaway := goawayOf()
	if goaway == nil || goaway.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Errorf("got GOAWAY %v, want ENHANCE_YOUR_CALM", goaway)
	}
	if reason := <-s.flood; reason != "rapid reset" {
		t.Errorf("flood reason %q", reason)
	}
	if n := s.calls.Load(); n > burst+50 {
		t.Errorf("%d handlers started for %d resets sent, want about the budget (%d)", n, sent, burst)
	}
	t.Logf("%d streams opened and reset before the close; %d handlers ran", sent, s.calls.Load())
	waitGoroutines(t, before+4)
}

// TestResetsWithinBudget: a client that resets streams at a human rate, and
// one whose streams complete between its resets, keep their connection.
func TestResetsWithinBudget(t *testing.T) {
	s := startServer(t, Options{ResetBurst: 10, ResetRate: 1}, hello)
	cl := dial(t, s.addr)
	stream := uint32(1)
	for range 100 {
		// A completed response refills one reset.
		cl.get(stream, "/ok")
		if _, _, err := cl.response(stream); err != nil {
			t.Fatal(err)
		}
		cl.fr.WriteRSTStream(stream, http2.ErrCodeCancel) // late, as some clients do
		stream += 2
	}
	cl.get(stream, "/last")
	if st, _, err := cl.response(stream); err != nil || st != "200" {
		t.Fatalf("after 100 resets each after a response: %s %v", st, err)
	}
}

// TestContinuationFlood (CVE-2024-27316 class): endless empty CONTINUATION
// frames, which cost Go's server nothing but CPU and never end, get
// GOAWAY(ENHANCE_YOUR_CALM) and a close; so do endless full ones, which Go's
// header size bound ends. Memory stays bounded either way.
func TestContinuationFlood(t *testing.T) {
	for _, size := range []int{0, MaxFrameSize} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			s := startServer(t, Options{}, hello)
			cl := dial(t, s.addr)
			closed, goawayOf := cl.untilClosed()
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			heap := ms.HeapInuse
			cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: cl.block("/c")})
			frag := bytes.Repeat([]byte{0x00, 0x01, 'x', 0x01, 'y'}, size/5) // x: y, again and again
			sent := 0
			for sent < 1<<30 && cl.fr.WriteContinuation(1, false, frag) == nil {
				sent += len(frag) + 9
			}
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("the connection stayed open")
			}
			goaway := goawayOf()
			runtime.ReadMemStats(&ms)
			if grew := int64(ms.HeapInuse) - int64(heap); grew > 32<<20 {
				t.Errorf("the heap grew by %d bytes", grew)
			}
			if size == 0 && (goaway == nil || goaway.ErrCode != http2.ErrCodeEnhanceYourCalm) {
				t.Errorf("got GOAWAY %v, want ENHANCE_YOUR_CALM", goaway)
			}
			if size > 0 && goaway == nil {
				t.Error("closed without a GOAWAY")
			}
			if n := s.calls.Load(); n != 0 {
				t.Errorf("the handler ran %d times", n)
			}
			t.Logf("%d bytes sent before the close; GOAWAY %v", sent, goaway)
		})
	}
}

// untilClosed reads the server's frames until the connection ends; closed
// is closed then, and goaway, called after it, returns the last GOAWAY.
func (cl *client) untilClosed() (closed chan struct{}, goaway func() *http2.GoAwayFrame) {
	var last *http2.GoAwayFrame
	closed = make(chan struct{})
	go func() {
		defer close(closed)
		for {
			f, err := cl.fr.ReadFrame()
			if err != nil {
				return
			}
			if g, ok := f.(*http2.GoAwayFrame); ok {
				last = g
			}
		}
	}()
	return closed, func() *http2.GoAwayFrame { <-closed; return last }
}

func waitGoroutines(t *testing.T, max int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > max {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, want at most %d", runtime.NumGoroutine(), max)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRealClient: Go's HTTP/2 client, many concurrent requests with bodies
// of every size, through the guard.
func TestRealClient(t *testing.T) {
	s := startServer(t, Options{}, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Len")
		fmt.Fprintf(w, "%s %d", r.URL.Path, len(b))
		w.Header().Set("X-Len", fmt.Sprint(len(b)))
	})
	c := h2cClient()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := i * 7919
			req, _ := http.NewRequest("POST", fmt.Sprintf("http://%s/p/%d", s.addr, i), strings.NewReader(strings.Repeat("b", n)))
			req.Header.Set("Te", "trailers")
			resp, err := c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := fmt.Sprintf("/p/%d %d", i, n); string(b) != want || resp.Trailer.Get("X-Len") != fmt.Sprint(n) {
				t.Errorf("got %q trailer %q, want %q", b, resp.Trailer.Get("X-Len"), want)
			}
		}()
	}
	wg.Wait()
}

func h2cClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p}, Timeout: 10 * time.Second}
}
