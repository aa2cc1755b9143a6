//lint:file-ignore SA1019 x/net/http2 is deprecated for net/http's HTTP/2, which (Go 1.26) cannot serve a connection handed over with an h2c upgrade's settings, nor share one dial among concurrent first requests; revisit with Go 1.27

package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/usher-lb/usher/internal/wire"
)

// Protocols a load balancer may speak to its servers (transport.protocol).
const (
	ProtocolHTTP1 = "http1" // HTTP/1.1, usher's own client (the default)
	ProtocolH2    = "h2"    // HTTP/2 over TLS (ALPN h2)
	ProtocolH2C   = "h2c"   // HTTP/2 in the clear, with prior knowledge
	ProtocolAuto  = "auto"  // over TLS, what the server picks by ALPN; in the clear, HTTP/1.1
)

// h2client is an upstream's HTTP/2 side: Go's HTTP/2 client (x/net/http2),
// whose connections are multiplexed (a stream per request, flow-controlled
// per stream, so that one slow reader does not stall the others) and pinged
// when idle, on usher's dialer and TLS config.
//
// It is used when the transport says h2 or h2c, and for auto when the
// server chose h2 by ALPN. Protocol upgrades (WebSocket) go over HTTP/1.1
// whatever the protocol.
type h2client struct {
	t      *http2.Transport
	scheme string // of the URLs given to t: https, or http for h2c
}

// errNotH2 is a TLS server that did not choose h2 by ALPN.
var errNotH2 = errors.New("server does not speak HTTP/2 (ALPN chose no h2)")

// dialError marks an error of dialing (before any byte of the request was
// sent), through the HTTP/2 client, which returns it as it is.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func newH2Client(up *Upstream, cleartext bool) *h2client {
	hc := &h2client{scheme: "https"}
	t := &http2.Transport{
		DisableCompression: true, // the client's Accept-Encoding goes as it is, and the body as the server encoded it
		AllowHTTP:          cleartext,
		IdleConnTimeout:    up.opts.IdleConnTimeout,
		// A connection silent for 30s is pinged, and dropped when the ping
		// goes unanswered for 15s: a server that vanished (no FIN) is not
		// given streams forever.
		ReadIdleTimeout: 30 * time.Second,
		PingTimeout:     15 * time.Second,
	}
	if cleartext {
		hc.scheme = "http"
		t.DialTLSContext = func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			c, err := up.dialer.DialContext(ctx, "tcp", up.addr)
			if err != nil {
				return nil, &dialError{err}
			}
			return c, nil
		}
	} else {
		t.DialTLSContext = func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return up.dialH2TLS(ctx)
		}
	}
	hc.t = t
	return hc
}

// dialH2TLS opens a TLS connection offering h2 only.
func (up *Upstream) dialH2TLS(ctx context.Context) (net.Conn, error) {
	raw, err := up.dialer.DialContext(ctx, "tcp", up.addr)
	if err != nil {
		return nil, &dialError{err}
	}
	tc := up.opts.TLS.Clone()
	tc.NextProtos = []string{"h2"}
	c := tls.Client(raw, tc)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		if strings.Contains(err.Error(), "no application protocol") {
			err = fmt.Errorf("%w: %v", errNotH2, err) // the server refused h2 in its handshake
		}
		return nil, &dialError{err}
	}
	if c.ConnectionState().NegotiatedProtocol != "h2" {
		c.Close()
		return nil, &dialError{errNotH2}
	}
	return c, nil
}

// auto modes: what an auto upstream found its server speaks.
const (
	autoUnknown int32 = iota
	autoH1
	autoH2
)

// useH2 tells whether r goes over HTTP/2. An auto upstream asks the server
// once, with a TLS handshake offering h2 and http/1.1, and keeps the answer
// until a dial fails.
func (up *Upstream) useH2(ctx context.Context) bool {
	if up.h2 == nil {
		return false
	}
	if up.opts.Protocol != ProtocolAuto {
		return true
	}
	switch up.auto.Load() {
	case autoH1:
		return false
	case autoH2:
		return true
	}
	// One question at a time: requests that come meanwhile wait for its
	// answer rather than each dial to ask.
	up.autoMu.Lock()
	defer up.autoMu.Unlock()
	switch up.auto.Load() {
	case autoH1:
		return false
	case autoH2:
		return true
	}
	raw, err := up.dialer.DialContext(ctx, "tcp", up.addr)
	if err != nil {
		return false // the HTTP/1.1 path dials again, and reports the failure
	}
	tc := up.opts.TLS.Clone()
	tc.NextProtos = []string{"h2", "http/1.1"}
	c := tls.Client(raw, tc)
	defer c.Close()
	if c.HandshakeContext(ctx) != nil {
		return false
	}
	mode := autoH1
	if c.ConnectionState().NegotiatedProtocol == "h2" {
		mode = autoH2
	}
	up.auto.Store(mode)
	return mode == autoH2
}

// h2Body is the client's request body as the HTTP/2 client reads it. Once
// stopped it reads nothing more, so that the body can be rewound for a
// retry while the stream it was sent on is still being torn down.
type h2Body struct {
	mu      sync.Mutex
	r       io.Reader
	stopped bool
	err     error // the client's body failed (a *BodyError or another read error)
}

var errBodyStopped = errors.New("request body no longer sent")

func (b *h2Body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return 0, errBodyStopped
	}
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// Close is the HTTP/2 client's: the client's body itself is its server's
// to close.
func (b *h2Body) Close() error {
	b.stop()
	return nil
}

func (b *h2Body) stop() {
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
}

func (b *h2Body) failed() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// errHeaderTimeout cancels an HTTP/2 exchange whose response headers took
// longer than ResponseHeaderTimeout.
var errHeaderTimeout = timeoutError{errors.New("timeout awaiting response headers")}

type timeoutError struct{ error }

func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// roundTripH2 is RoundTrip over HTTP/2.
func (up *Upstream) roundTripH2(w http.ResponseWriter, r *http.Request, ro RequestOptions) (*Response, error) {
	clientCtx := r.Context()
	ctx, cancel := context.WithCancelCause(clientCtx)
	var timer *time.Timer
	if d := up.opts.ResponseHeaderTimeout; d > 0 {
		timer = time.AfterFunc(d, func() { cancel(errHeaderTimeout) })
	}
	if w != nil {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
				if code == http.StatusEarlyHints {
					wh := w.Header()
					for k, vv := range h {
						if !isHop(k) {
							wh[k] = append(wh[k][:0:0], vv...)
						}
					}
					w.WriteHeader(code)
					for k := range h {
						delete(wh, k)
					}
				}
				return nil
			},
		})
	}
	out := up.outgoingH2(ctx, r, ro)
	var body *h2Body
	if out.Body != nil {
		body = out.Body.(*h2Body)
	}
	start := time.Now()
	hr, err := up.h2.t.RoundTrip(out)
	if timer != nil {
		timer.Stop()
	}
	if err != nil {
		cause := context.Cause(ctx)
		cancel(nil)
		if body != nil {
			body.stop()
			if berr := body.failed(); berr != nil {
				var be *BodyError
				if errors.As(berr, &be) {
					return nil, be
				}
			}
		}
		switch {
		case clientCtx.Err() != nil:
			return nil, ErrCanceled
		case errors.Is(cause, errHeaderTimeout):
			return nil, &Error{Op: "read", Timeout: true, Err: errHeaderTimeout}
		}
		var de *dialError
		if errors.As(err, &de) {
			var ne net.Error
			return nil, &Error{Op: "dial", NotSent: true, Timeout: errors.As(de.err, &ne) && ne.Timeout(), Err: de.err}
		}
		return nil, &Error{Op: "read", Err: err}
	}
	if hr.StatusCode == http.StatusSwitchingProtocols {
		hr.Body.Close()
		cancel(nil)
		return nil, &Error{Op: "read", Err: errUpgrade}
	}
	return &Response{Status: hr.StatusCode, up: up, ctx: ctx, Start: start, isHead: r.Method == http.MethodHead,
		h2: &h2Response{hr: hr, cancel: cancel, body: body}}, nil
}

// outgoingH2 is the request that goes to the server: r's method, path and
// query under the server URL's prefix, its header without the hop-by-hop
// fields (but `TE: trailers`, which gRPC needs and HTTP/2 allows), its body.
func (up *Upstream) outgoingH2(ctx context.Context, r *http.Request, ro RequestOptions) *http.Request {
	p := up.prefix + r.URL.EscapedPath()
	if p == "" {
		p = "/"
	}
	u := &url.URL{Scheme: up.h2.scheme, Host: up.addr, RawPath: p, RawQuery: r.URL.RawQuery, ForceQuery: r.URL.ForceQuery}
	u.Path, _ = url.PathUnescape(p)
	var extraHop map[string]bool
	if conn := r.Header["Connection"]; len(conn) > 0 {
		wire.ConnectionTokens(conn, func(k string) {
			if extraHop == nil {
				extraHop = map[string]bool{}
			}
			extraHop[k] = true
		})
	}
	h := make(http.Header, len(r.Header))
	for k, vv := range r.Header {
		if isHop(k) || extraHop[k] || k == "Host" {
			continue
		}
		h[k] = vv
	}
	if wire.HasToken(r.Header["Te"], "trailers") {
		h["Te"] = teTrailers
	}
	out := (&http.Request{
		Method:        r.Method,
		URL:           u,
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		Header:        h,
		ContentLength: r.ContentLength,
		Host:          up.host,
		Trailer:       r.Trailer,
	}).WithContext(ctx)
	if ro.PassHost && r.Host != "" {
		out.Host = r.Host
	}
	if r.Body != nil && r.Body != http.NoBody {
		out.Body = &h2Body{r: r.Body}
		if r.GetBody != nil {
			// The HTTP/2 client sends the request again by itself only when
			// the server refused its stream unprocessed (REFUSED_STREAM, a
			// GOAWAY before it): never after the server took it.
			out.GetBody = func() (io.ReadCloser, error) {
				rc, err := r.GetBody()
				if err != nil {
					return nil, err
				}
				return &h2Body{r: rc}, nil
			}
		}
	} else {
		out.ContentLength = 0
	}
	return out
}

var teTrailers = []string{"trailers"}

// h2Response is the HTTP/2 side of a Response.
type h2Response struct {
	hr     *http.Response
	cancel context.CancelCauseFunc
	body   *h2Body // the request's, nil when it had none
	done   atomic.Bool
}

// end ends the exchange: the stream is reset if the response was not read to
// its end, and the request body is no longer read.
func (x *h2Response) end() {
	if x.done.Swap(true) {
		return
	}
	x.hr.Body.Close()
	x.cancel(nil)
	if x.body != nil {
		x.body.stop()
	}
}

// writeH2 is WriteTo for a response that came over HTTP/2: its header and
// body go to w as they come (each read of the body flushed when its length
// is unknown: gRPC and event streams), then its trailers, the forbidden
// ones dropped. A stream the server reset, or that ended before its
// Content-Length, is a body cut short.
func (resp *Response) writeH2(w http.ResponseWriter) (int64, error) {
	x := resp.h2
	defer x.end()
	hr := x.hr
	h := w.Header()
	var extraHop map[string]bool
	if conn := hr.Header["Connection"]; len(conn) > 0 {
		wire.ConnectionTokens(conn, func(k string) {
			if extraHop == nil {
				extraHop = map[string]bool{}
			}
			extraHop[k] = true
		})
	}
	for k, vv := range hr.Header {
		if isHop(k) || extraHop[k] {
			continue
		}
		h[k] = append(h[k], vv...)
	}
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil
	}
	bodyless := resp.Status < 200 || resp.Status == http.StatusNoContent || resp.Status == http.StatusNotModified
	// A response with trailers goes without its length: HTTP/1.1 can carry
	// trailers only after a chunked body.
	if hr.ContentLength >= 0 && (!bodyless || resp.isHead) && len(hr.Trailer) == 0 {
		h["Content-Length"] = []string{strconv.FormatInt(hr.ContentLength, 10)}
	}
	for k := range hr.Trailer {
		if !wire.ForbiddenTrailer(k) && !isHop(k) {
			h.Add("Trailer", k)
		}
	}
	w.WriteHeader(resp.Status)
	if bodyless || resp.isHead {
		return 0, nil
	}
	stream := hr.ContentLength < 0
	rc := http.NewResponseController(w)
	bp := getCopyBuf()
	defer putCopyBuf(bp)
	buf := *bp
	var n int64
	for {
		m, err := hr.Body.Read(buf)
		if m > 0 {
			if _, werr := w.Write(buf[:m]); werr != nil {
				return n, &clientError{werr}
			}
			n += int64(m)
			if stream {
				if ferr := rc.Flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
					return n, &clientError{ferr}
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			_ = rc.Flush()
			return n, &truncatedError{err}
		}
	}
	for k, vv := range hr.Trailer {
		if wire.ForbiddenTrailer(k) || isHop(k) {
			continue
		}
		for _, v := range vv {
			h.Add(http.TrailerPrefix+k, v)
		}
	}
	return n, nil
}

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func getCopyBuf() *[]byte  { return copyBufPool.Get().(*[]byte) }
func putCopyBuf(b *[]byte) { copyBufPool.Put(b) }
