// Package observe is the one place where a finished request is recorded: the
// access log line, the metrics and the trace span all read the same Record.
package observe

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Record is what usher knows of one request once it is over. The entrypoint
// fills the request's side; the router, the service and the proxy fill theirs
// through From(w).
type Record struct {
	Start      time.Time
	Entrypoint string
	Router     string // "" when no router matched
	Service    string // the load balancer's service that answered
	Server     string // the server's URL
	RequestID  string
	ClientIP   netip.Addr
	Status     int
	BytesIn    int64 // request body bytes read
	BytesOut   int64 // response body bytes written
	TTFB       time.Duration
	Duration   time.Duration
	Retries    int
	// Error says what went wrong, when something did, in a fixed vocabulary
	// (the Err* constants): whose failure it was, the server's or the
	// client's, and what. "" when nothing did.
	Error string
	// Abort: the response was cut short after it began (its server's body
	// ended before its framing said), or the client went away before it.
	// The entrypoint then aborts the exchange once the request is recorded:
	// the HTTP/1.1 connection is closed without the response's end, an
	// HTTP/2 stream is reset, so that the client never takes a part for the
	// whole. A middleware that keeps responses (a cache) must not keep one
	// with Abort set.
	Abort bool
	// Identity is who an auth middleware found the client to be; nil when
	// none ran or none let it through. Rate limits and later middlewares key
	// on it; the access log shows its User or KeyID, nothing else of it.
	Identity *Identity
	// Attempts are the tries on servers, in order (the first MaxAttempts).
	Attempts  [MaxAttempts]Attempt
	NAttempts int
	Trace     TraceContext // usher's hop of the W3C trace (StartTrace); zero when not started
}

// The values of Record.Error.
const (
	// ErrUpstreamTruncated: the server's response body ended (or broke)
	// before its framing said: EOF before Content-Length, a chunked body cut
	// or malformed. The client got part of a response, then an abort.
	ErrUpstreamTruncated = "upstream: body cut short"
	// ErrUpstream: the server gave no usable response (connection refused or
	// reset, a malformed response): the client got a 502.
	ErrUpstream = "upstream: no response"
	// ErrUpstreamTimeout: the server did not answer in time: a 504.
	ErrUpstreamTimeout = "upstream: timeout"
	// ErrClientBody: the client's request body was malformed or short, or
	// a limit stopped it: a 400 (413) and its connection closed.
	ErrClientBody = "client: bad request body"
	// ErrClientBodyTimeout: the client's request body did not come in time:
	// a 408 and its connection closed.
	ErrClientBodyTimeout = "client: request body timeout"
	// ErrClientGone: the client went away before its response was whole
	// (logged as 499 when it had got nothing yet).
	ErrClientGone = "client: went away"
)

// Identity is what an auth middleware established about the client. It is
// set once, by the middleware that let the request through, and read-only
// afterwards.
type Identity struct {
	// Middleware is the name of the middleware that established it.
	Middleware string
	// User is the user name (basicAuth, digestAuth, portal, forwardAuth's
	// user header, the subject of a JWT or an OIDC login), "" when none.
	User string
	// KeyID is the id of the API key (apiKey), never the key itself.
	KeyID string
	// Groups the user is in, when the middleware knows them.
	Groups []string
	// Claims of a verified token (jwt, oidc), nil otherwise. Never a
	// credential: a token's claims, not the token.
	Claims map[string]any
}

// Name is what the access log shows of the identity: the user, else the key
// id; "" for nil.
func (id *Identity) Name() string {
	switch {
	case id == nil:
		return ""
	case id.User != "":
		return id.User
	}
	return id.KeyID
}

// MaxAttempts is how many tries of one request a Record keeps.
const MaxAttempts = 4

// Attempt is one try of a request on a server.
type Attempt struct {
	Server   string // URL
	Start    time.Time
	Duration time.Duration // to the end of the response, or of the failure
	Status   int           // 0 when the server gave no response
	Failed   bool          // no usable response: connect error, reset, timeout
}

// AddAttempt records a try; tries past MaxAttempts are not kept.
func (r *Record) AddAttempt(a Attempt) {
	if r.NAttempts < MaxAttempts {
		r.Attempts[r.NAttempts] = a
		r.NAttempts++
	}
}

// Observer receives every finished request. Implementations must not block:
// they are called on the request's goroutine.
type Observer interface {
	Observe(r *http.Request, rec *Record)
}

// Recorder is the ResponseWriter the entrypoint wraps each response in, to
// learn the status and size the client got. It keeps Flush and Hijack reachable
// (through Unwrap and its own methods), so streams and upgrades work through it.
type Recorder struct {
	w   http.ResponseWriter
	Rec Record
}

var recorders = sync.Pool{New: func() any { return new(Recorder) }}

// NewRecorder returns a pooled Recorder around w; Release returns it.
func NewRecorder(w http.ResponseWriter) *Recorder {
	r := recorders.Get().(*Recorder)
	r.w = w
	return r
}

// Release puts the recorder back for reuse; it must not be used afterwards.
func (r *Recorder) Release() {
	r.w = nil
	r.Rec = Record{}
	recorders.Put(r)
}

func (r *Recorder) Header() http.Header { return r.w.Header() }

func (r *Recorder) WriteHeader(code int) {
	if r.Rec.Status == 0 || (r.Rec.Status < 200 && code >= 200) {
		r.Rec.Status = code
	}
	r.w.WriteHeader(code)
}

func (r *Recorder) Write(b []byte) (int, error) {
	if r.Rec.Status == 0 {
		r.Rec.Status = http.StatusOK
	}
	n, err := r.w.Write(b)
	r.Rec.BytesOut += int64(n)
	return n, err
}

// Flush sends buffered data to the client.
func (r *Recorder) Flush() {
	if f, ok := r.w.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack hands the connection over (protocol upgrades).
func (r *Recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := r.w.(http.Hijacker); ok {
		if r.Rec.Status == 0 {
			r.Rec.Status = http.StatusSwitchingProtocols
		}
		return h.Hijack()
	}
	return nil, nil, errors.New("hijack not supported")
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *Recorder) Unwrap() http.ResponseWriter { return r.w }

// From finds the Record of the request that w answers, looking through the
// writers middlewares wrapped around it; nil when there is none.
func From(w http.ResponseWriter) *Record {
	for i := 0; i < 16; i++ {
		switch x := w.(type) {
		case *Recorder:
			return &x.Rec
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
	return nil
}
