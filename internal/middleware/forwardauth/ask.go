package forwardauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/wire"
)

// The fields usher sets on the request to the auth server, whatever the
// client sent: what it asked for and where from.
const (
	iFor = iota
	iProto
	iHost
	iPort
	iMethod
	iURI
	iRealIP
	nForwarded
)

var forwardedNames = [nForwarded]string{
	"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port",
	"X-Forwarded-Method", "X-Forwarded-Uri", "X-Real-Ip",
}

// truncatedField tells the auth server that the body it got is the first
// maxBodySize bytes of a longer one.
const truncatedField = "X-Forwarded-Body-Truncated"

var truncatedTrue = []string{"true"}[:1:1]

// forwarded holds the values of forwardedNames for one request; "" is not
// sent (an X-Real-Ip left to the request's own).
type forwarded struct {
	vals [nForwarded]string
}

// forwarded fills f for r. With trustForwardHeader, the values are those the
// entrypoint set or kept from a trusted proxy (X-Forwarded-Method and -Uri
// reach a middleware only from a trusted proxy: the entrypoint removes them
// from anyone else), else this request's own. Without, they describe this
// hop only: the peer's address, the connection's scheme and port, the Host,
// the method and the request target (in normal form, after the middlewares
// before this one).
func (fa *forwardAuth) forwarded(r *http.Request, f *forwarded) {
	peer := r.RemoteAddr
	if host, _, err := net.SplitHostPort(peer); err == nil {
		peer = host
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	uri := "/"
	if r.URL != nil {
		uri = r.URL.RequestURI()
	}
	h := r.Header
	if fa.trust {
		f.vals[iFor] = joined(h["X-Forwarded-For"], peer)
		f.vals[iProto] = first(h["X-Forwarded-Proto"], scheme)
		f.vals[iHost] = first(h["X-Forwarded-Host"], r.Host)
		f.vals[iPort] = first(h["X-Forwarded-Port"], fa.localPort(r))
		f.vals[iMethod] = first(h["X-Forwarded-Method"], r.Method)
		f.vals[iURI] = first(h["X-Forwarded-Uri"], uri)
		return
	}
	f.vals = [nForwarded]string{peer, scheme, r.Host, fa.localPort(r), r.Method, uri, ""}
	// X-Real-Ip goes as the request has it (the entrypoint sets it), when
	// authRequestHeaders lets it: this hop's value.
	if _, ok := h["X-Real-Ip"]; ok && (fa.reqHeaders == nil || slices.Contains(fa.reqHeaders, "X-Real-Ip")) {
		f.vals[iRealIP] = peer
	}
	if f.vals[iPort] == "" {
		f.vals[iPort] = first(h["X-Forwarded-Port"], "")
	}
}

func first(vv []string, or string) string {
	if len(vv) > 0 && vv[0] != "" {
		return vv[0]
	}
	return or
}

func joined(vv []string, or string) string {
	switch len(vv) {
	case 0:
		return or
	case 1:
		return vv[0]
	}
	return strings.Join(vv, ", ")
}

// portMemo is the text of the last local port seen, so that finding it
// allocates nothing on a steady entrypoint.
type portMemo struct {
	n int
	s string
}

// localPort is the port of the connection's local end, "" when unknown.
func (fa *forwardAuth) localPort(r *http.Request) string {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr)
	if !ok {
		return ""
	}
	if m := fa.port.Load(); m != nil && m.n == a.Port {
		return m.s
	}
	m := &portMemo{n: a.Port, s: strconv.Itoa(a.Port)}
	fa.port.Store(m)
	return m.s
}

// sendable tells whether the client's field k (canonical) goes to the auth
// server as it is. Never the hop-by-hop and framing fields, nor those usher
// sets itself. With authRequestHeaders, only those listed; without, all but
// Accept-Encoding and the conditional and range fields, which are about the
// response to the client, not about who may have one (an auth server that
// honoured If-None-Match would answer 304, and that is no permission).
func (fa *forwardAuth) sendable(k string) bool {
	if wire.IsHopByHop(k) || k == truncatedField || fa.ours(k) {
		return false
	}
	if fa.reqHeaders != nil {
		return slices.Contains(fa.reqHeaders, k)
	}
	switch k {
	case "Accept-Encoding", "Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since":
		return false
	}
	return true
}

// ours tells whether k is one of the fields usher sets on the request to the
// auth server (X-Real-Ip only without trustForwardHeader).
func (fa *forwardAuth) ours(k string) bool {
	if len(k) < 9 || (k[0] != 'X' && k[0] != 'x') {
		return false
	}
	for i, n := range forwardedNames {
		if k == n {
			return i != iRealIP || !fa.trust
		}
	}
	return false
}

// authHeader is the header of the request to the auth server.
func (fa *forwardAuth) authHeader(r *http.Request, fwd *forwarded, truncated bool) http.Header {
	h := make(http.Header, len(r.Header)+nForwarded+1)
	if fa.reqHeaders == nil {
		for k, vv := range r.Header {
			if fa.sendable(k) {
				h[k] = vv
			}
		}
	} else {
		for _, k := range fa.reqHeaders {
			if vv, ok := r.Header[k]; ok && fa.sendable(k) {
				h[k] = vv
			}
		}
	}
	for i, k := range forwardedNames {
		if v := fwd.vals[i]; v != "" {
			h[k] = []string{v}
		}
	}
	if truncated {
		h[truncatedField] = truncatedTrue
	}
	return h
}

// maxAnswerBody bounds the body of an auth server's refusal that usher
// passes on (a login page, an error); a longer one is a failure.
const maxAnswerBody = 1 << 20

// maxDrain is the longest body of an allowing answer that is read, so that
// its connection can be used again; a longer one, or one of unknown length,
// is not waited for: its connection is closed.
const maxDrain = 64 << 10

var errAnswerTooLarge = fmt.Errorf("answer body over %d bytes", maxAnswerBody)

// ask sends r's auth request and reads the answer: the decision and the
// answer's header (for the cache).
func (fa *forwardAuth) ask(ctx context.Context, r *http.Request, fwd *forwarded, body []byte, truncated bool) (*decision, http.Header, error) {
	method := r.Method
	if fa.get {
		method = http.MethodGet
	}
	req := &http.Request{
		Method: method, URL: fa.url, Host: fa.url.Host,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: fa.authHeader(r, fwd, truncated),
	}
	if len(body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	resp, err := fa.client.rt.RoundTrip(req.WithContext(ctx))
	if err != nil {
		return nil, nil, fa.client.failed(err)
	}
	defer resp.Body.Close()
	fa.client.reached()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return nil, nil, errors.New("answered 101 Switching Protocols")
	}
	d, err := fa.decision(resp)
	if err != nil {
		return nil, nil, err
	}
	return d, resp.Header, nil
}

// unwrapURL drops the url.Error around a transport's error: its URL is the
// address, which the log line names already.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// decision reads the auth server's answer into a decision.
func (fa *forwardAuth) decision(resp *http.Response) (*decision, error) {
	d := &decision{status: resp.StatusCode}
	if d.allow() {
		if resp.ContentLength >= 0 && resp.ContentLength <= maxDrain {
			io.Copy(io.Discard, resp.Body)
		}
		h := resp.Header
		for _, k := range fa.respHeaders {
			if vv := h[k]; len(vv) > 0 {
				d.set = append(d.set, field{k, slices.Clip(vv)})
			}
		}
		if fa.respRegex != nil {
			for k, vv := range h {
				if fa.respRegex.MatchString(k) && !framing(k) && !slices.Contains(fa.respHeaders, k) {
					d.set = append(d.set, field{k, slices.Clip(vv)})
				}
			}
		}
		if len(fa.cookies) > 0 {
			for _, line := range h["Set-Cookie"] {
				if n := cookieName(line); slices.Contains(fa.cookies, n) {
					d.cookies = append(d.cookies, line)
					if !slices.Contains(d.cookieNames, n) {
						d.cookieNames = append(d.cookieNames, n)
					}
				}
			}
		}
		id := &observe.Identity{Middleware: fa.name}
		if fa.userField != "" {
			id.User = first(h[fa.userField], "")
		}
		d.identity = id
		return d, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBody+1))
	if err != nil {
		return nil, fmt.Errorf("answer body: %w", err)
	}
	if len(body) > maxAnswerBody {
		return nil, errAnswerTooLarge
	}
	d.body = body
	d.header = make(http.Header, len(resp.Header)+1)
	for k, vv := range resp.Header {
		if !wire.IsHopByHop(k) {
			d.header[k] = slices.Clip(vv)
		}
	}
	wire.ConnectionTokens(resp.Header["Connection"], func(k string) { delete(d.header, k) })
	if bodyAllowed(d.status) {
		d.header["Content-Length"] = []string{strconv.Itoa(len(body))}
	} else {
		d.body = nil
	}
	return d, nil
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// cookieName is the name of the cookie a Set-Cookie value sets.
func cookieName(line string) string {
	if i := strings.IndexByte(line, '='); i >= 0 {
		line = line[:i]
	}
	return strings.TrimSpace(line)
}

// field is a header field and its values, read-only (capacity = length, so
// that an append copies).
type field struct {
	key  string
	vals []string
}

// decision is an auth server's answer, as usher applies it; read-only once
// made, shared by the requests a cached one answers.
type decision struct {
	status int
	// A 2xx: what goes on the request, and the cookies for the response.
	set         []field
	cookies     []string // Set-Cookie values
	cookieNames []string // the names they set
	identity    *observe.Identity
	// Any other status: what goes to the client.
	header http.Header
	body   []byte
}

func (d *decision) allow() bool { return d.status >= 200 && d.status < 300 }

// write sends a refusal to the client.
func (d *decision) write(w http.ResponseWriter) {
	h := w.Header()
	for k, vv := range d.header {
		h[k] = vv
	}
	w.WriteHeader(d.status)
	if len(d.body) > 0 {
		w.Write(d.body)
	}
}

// size is about what d takes in memory, for the cache's bound.
func (d *decision) size() int64 {
	n := 256 + len(d.body)
	for _, f := range d.set {
		n += len(f.key) + 32
		for _, v := range f.vals {
			n += len(v) + 16
		}
	}
	for k, vv := range d.header {
		n += len(k) + 32
		for _, v := range vv {
			n += len(v) + 16
		}
	}
	if d.identity != nil {
		n += len(d.identity.User) + 64
	}
	return int64(n)
}

// cookieWriter adds the auth server's cookies to the final response,
// replacing the server's cookies of the same names. It keeps Flush and
// reaches the underlying writer through Unwrap (http.ResponseController).
type cookieWriter struct {
	http.ResponseWriter
	d    *decision
	done bool
}

func (w *cookieWriter) before() {
	if w.done {
		return
	}
	w.done = true
	h := w.ResponseWriter.Header()
	old := h["Set-Cookie"]
	out := make([]string, 0, len(old)+len(w.d.cookies))
	for _, c := range old {
		if !slices.Contains(w.d.cookieNames, cookieName(c)) {
			out = append(out, c)
		}
	}
	h["Set-Cookie"] = append(out, w.d.cookies...)
}

func (w *cookieWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.before()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *cookieWriter) Write(p []byte) (int, error) {
	w.before()
	return w.ResponseWriter.Write(p)
}

func (w *cookieWriter) Flush() { _ = w.FlushError() }

// FlushError is Flush with the underlying writer's error, for http.ResponseController.
func (w *cookieWriter) FlushError() error {
	w.before()
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the underlying writer, for http.ResponseController and observe.From.
func (w *cookieWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// takeBody reads the first maxBodySize bytes of r's body, for the auth
// server, and puts them back in front of the rest for the server: the
// server gets the whole body, as the client sent it. truncated: the body is
// longer than maxBodySize. A body the client breaks gets 400 (408 when it
// stalls) and status is not 0.
func (fa *forwardAuth) takeBody(w http.ResponseWriter, r *http.Request) (body []byte, truncated bool, status int) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, false, 0
	}
	size := fa.maxBody + 1 // one more: is there more?
	if r.ContentLength > 0 && r.ContentLength <= fa.maxBody {
		size = r.ContentLength
	}
	buf := make([]byte, size)
	n, err := io.ReadFull(r.Body, buf)
	switch {
	case err == nil:
	case err == io.EOF || err == io.ErrUnexpectedEOF: // shorter: the whole of it
		buf = buf[:n]
	default:
		clientBodyError(w, err)
		return nil, false, http.StatusBadRequest
	}
	orig := r.Body
	if int64(len(buf)) <= fa.maxBody {
		// All of it: the server gets it from memory, and may get it again.
		r.Body = bodyReader{bytes.NewReader(buf), orig}
		r.ContentLength = int64(len(buf))
		r.TransferEncoding = nil
		if r.GetBody == nil {
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
		}
		return buf, false, 0
	}
	r.Body = bodyReader{io.MultiReader(bytes.NewReader(buf), orig), orig}
	return buf[:fa.maxBody], true, 0
}

// bodyReader reads a body that was partly read already; Close closes the
// client's.
type bodyReader struct {
	io.Reader
	orig io.Closer
}

func (b bodyReader) Close() error { return b.orig.Close() }

// clientBodyError answers a body the client broke, as the proxy does.
func clientBodyError(w http.ResponseWriter, err error) {
	rec := observe.From(w)
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		http.Error(w, "413 Request Entity Too Large", http.StatusRequestEntityTooLarge)
	case errors.As(err, &ne) && ne.Timeout():
		if rec != nil {
			rec.Error = observe.ErrClientBodyTimeout
		}
		http.Error(w, "408 Request Timeout: the request body did not come in time", http.StatusRequestTimeout)
	default:
		if rec != nil {
			rec.Error = observe.ErrClientBody
		}
		http.Error(w, "400 Bad Request: the request body could not be read", http.StatusBadRequest)
	}
}
