// Package cors implements the cors middleware: usher answers browsers'
// cross-origin checks itself, preflights at the edge and the Access-Control
// headers of every response, so that the servers behind it need to know
// nothing of CORS.
package cors

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/origin"
	"github.com/usher-lb/usher/internal/wire"
)

// Header values, shared read-only by every response: capacity one, so that
// an Add by a later handler copies.
var (
	valTrue      = []string{"true"}[:1:1]
	valStar      = []string{"*"}[:1:1]
	valOrigin    = []string{"Origin"}[:1:1]
	valPreflight = []string{"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}[:1:1]
	valText      = []string{"text/plain; charset=utf-8"}[:1:1]
	valNosniff   = []string{"nosniff"}[:1:1]
	valZero      = []string{"0"}[:1:1]
)

const (
	hAllowOrigin      = "Access-Control-Allow-Origin"
	hAllowCredentials = "Access-Control-Allow-Credentials"
	hAllowMethods     = "Access-Control-Allow-Methods"
	hAllowHeaders     = "Access-Control-Allow-Headers"
	hExposeHeaders    = "Access-Control-Expose-Headers"
	hMaxAge           = "Access-Control-Max-Age"
	hRequestMethod    = "Access-Control-Request-Method"
	hRequestHeaders   = "Access-Control-Request-Headers"
)

// serverHeaders are the response headers of the server that cors replaces:
// what a browser may do with a response is the middleware's to say, so that
// a server's own "Access-Control-Allow-Origin: *" never reaches an origin
// the config does not allow.
var serverHeaders = []string{hAllowOrigin, hAllowCredentials, hAllowMethods, hAllowHeaders, hExposeHeaders, hMaxAge,
	"Access-Control-Allow-Private-Network"}

type cors struct {
	next        http.Handler
	origins     []origin.Pattern
	star        bool // "*" is listed and no credentials: answer "*" to origins no other pattern names
	credentials bool
	anyMethod   bool
	methods     []string // allowed on top of GET, HEAD and POST
	methodsVal  []string // Access-Control-Allow-Methods
	anyHeader   bool
	headers     []string // allowed request headers
	expose      []string // Access-Control-Expose-Headers, nil when none
	maxAge      []string // Access-Control-Max-Age, nil when none
	dec         *env.Decisions
	pool        sync.Pool
}

// New returns the cors middleware of cfg.
//
// A preflight (OPTIONS with Origin and Access-Control-Request-Method) never
// reaches next: from an allowed origin asking for an allowed method and
// headers it gets 204 with Access-Control-Allow-Origin (the origin),
// -Allow-Methods, -Allow-Headers (those asked for), -Allow-Credentials and
// -Max-Age as configured; any other gets 403 and no CORS header at all.
//
// Any other request goes to next. Its response loses the server's own
// Access-Control-* headers; when the request's Origin is allowed it gets
// Access-Control-Allow-Origin (the origin, or "*" for allowOrigins "*"
// without credentials), -Allow-Credentials and -Expose-Headers. Every
// response, whatever the origin or none, carries Vary: Origin (merged into
// the server's Vary), so that a cache never gives one origin's answer to
// another.
//
// allowCredentials with the origin "*" is refused: a config error.
func New(ctx context.Context, next http.Handler, cfg *config.CORS, name string) (http.Handler, error) {
	if len(cfg.AllowOrigins) == 0 {
		return nil, fmt.Errorf("cors: allowOrigins: at least one origin is required")
	}
	c := &cors{next: next, credentials: cfg.AllowCredentials, dec: env.From(ctx).Decisions("cors", name)}
	for i, o := range cfg.AllowOrigins {
		p, err := origin.Parse(o)
		if err != nil {
			return nil, fmt.Errorf("cors: allowOrigins[%d]: %w", i, err)
		}
		if p.Any() {
			if cfg.AllowCredentials {
				return nil, fmt.Errorf(`cors: allowCredentials is refused with allowOrigins "*"`)
			}
			c.star = true
		}
		c.origins = append(c.origins, p)
	}
	methods := cfg.AllowMethods
	if len(methods) == 0 {
		methods = []string{http.MethodGet, http.MethodHead, http.MethodPost}
	}
	for _, m := range methods {
		switch {
		case m == "*":
			c.anyMethod = true
		case !wire.ValidName(m):
			return nil, fmt.Errorf("cors: allowMethods: %q is not a method", m)
		default:
			c.methods = append(c.methods, normalizeMethod(m))
		}
	}
	if !c.anyMethod {
		c.methodsVal = []string{strings.Join(c.methods, ", ")}[:1:1]
	}
	for _, h := range cfg.AllowHeaders {
		switch {
		case h == "*":
			c.anyHeader = true
		case !wire.ValidName(h):
			return nil, fmt.Errorf("cors: allowHeaders: %q is not a header name", h)
		default:
			c.headers = append(c.headers, h)
		}
	}
	for _, h := range cfg.ExposeHeaders {
		if !wire.ValidName(h) && h != "*" {
			return nil, fmt.Errorf("cors: exposeHeaders: %q is not a header name", h)
		}
	}
	if len(cfg.ExposeHeaders) > 0 {
		c.expose = []string{strings.Join(cfg.ExposeHeaders, ", ")}[:1:1]
	}
	switch {
	case cfg.MaxAge < 0:
		return nil, fmt.Errorf("cors: maxAge %d is negative", cfg.MaxAge)
	case cfg.MaxAge > 0:
		c.maxAge = []string{strconv.Itoa(cfg.MaxAge)}[:1:1]
	}
	c.pool.New = func() any { return new(writer) }
	return c, nil
}

// allowOrigin returns the Access-Control-Allow-Origin value for origin, nil
// when it is not allowed (two Origin fields are no browser's).
func (c *cors) allowOrigin(origin []string) []string {
	if len(origin) != 1 {
		return nil
	}
	o := origin[0]
	for _, p := range c.origins {
		if p.Any() {
			continue
		}
		if p.Match(o) {
			return origin[:1:1]
		}
	}
	if c.star {
		return valStar
	}
	return nil
}

func (c *cors) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	origin := r.Header["Origin"]
	if len(origin) > 0 && r.Method == http.MethodOptions && len(r.Header[hRequestMethod]) > 0 {
		c.preflight(w, r, origin)
		return
	}
	var allow []string
	if len(origin) > 0 {
		if allow = c.allowOrigin(origin); allow != nil {
			c.dec.Allow()
		} else {
			c.dec.Deny()
		}
	}
	cw := c.pool.Get().(*writer)
	*cw = writer{ResponseWriter: w, c: c, allow: allow}
	c.next.ServeHTTP(cw, r)
	// A handler that writes nothing gets its 200 written by the server after
	// it returns, with the header map as it is then.
	cw.before()
	// Not deferred: a writer that a panicking handler may still hold is left
	// to the garbage collector rather than put back.
	*cw = writer{}
	c.pool.Put(cw)
}

// preflight answers a preflight request: 204 and the CORS headers when the
// origin, the method and every header asked for are allowed, 403 without
// any CORS header when not.
func (c *cors) preflight(w http.ResponseWriter, r *http.Request, origin []string) {
	h := w.Header()
	for _, k := range serverHeaders {
		delete(h, k)
	}
	h["Vary"] = valPreflight
	allow := c.allowOrigin(origin)
	reason := ""
	switch {
	case allow == nil:
		reason = "origin not allowed"
	case !c.methodAllowed(r.Header[hRequestMethod][0]):
		reason = "method not allowed"
	case !c.headersAllowed(r.Header[hRequestHeaders]):
		reason = "request header not allowed"
	}
	if reason != "" {
		c.dec.Deny()
		h["Content-Type"] = valText
		h["X-Content-Type-Options"] = valNosniff
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "CORS preflight refused: %s\n", reason)
		return
	}
	c.dec.Allow()
	h[hAllowOrigin] = allow
	if c.credentials {
		h[hAllowCredentials] = valTrue
	}
	if c.anyMethod {
		h[hAllowMethods] = r.Header[hRequestMethod][:1:1]
	} else {
		h[hAllowMethods] = c.methodsVal
	}
	if rh := r.Header[hRequestHeaders]; len(rh) > 0 && !emptyList(rh) {
		h[hAllowHeaders] = []string{strings.Join(rh, ", ")}
	}
	if c.maxAge != nil {
		h[hMaxAge] = c.maxAge
	}
	h["Content-Length"] = valZero
	w.WriteHeader(http.StatusNoContent)
}

// normalizeMethod writes the methods browsers write in capitals (Fetch's
// "normalize": DELETE, GET, HEAD, OPTIONS, POST, PUT) in capitals, whatever
// the config's case, and leaves the others as written: a script's "patch"
// is sent as "patch".
func normalizeMethod(m string) string {
	for _, n := range []string{"DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"} {
		if strings.EqualFold(m, n) {
			return n
		}
	}
	return m
}

// methodAllowed tells whether a preflight may ask for m. GET, HEAD and POST
// always may: browsers never need a server's leave for them.
func (c *cors) methodAllowed(m string) bool {
	switch {
	case m == http.MethodGet || m == http.MethodHead || m == http.MethodPost:
		return true
	case !wire.ValidName(m):
		return false
	case c.anyMethod:
		return true
	}
	for _, a := range c.methods {
		if a == m {
			return true
		}
	}
	return false
}

// headersAllowed tells whether every name of Access-Control-Request-Headers
// (comma-separated, on one or more lines) is allowed, without regard to case.
func (c *cors) headersAllowed(lines []string) bool {
	for _, line := range lines {
		for line != "" {
			var name string
			name, line, _ = strings.Cut(line, ",")
			name = wire.TrimOWSString(name)
			if name == "" {
				continue
			}
			if !wire.ValidName(name) {
				return false
			}
			if c.anyHeader {
				continue
			}
			ok := false
			for _, a := range c.headers {
				if strings.EqualFold(a, name) {
					ok = true
					break
				}
			}
			if !ok {
				return false
			}
		}
	}
	return true
}

func emptyList(lines []string) bool {
	for _, l := range lines {
		if strings.Trim(l, " \t,") != "" {
			return false
		}
	}
	return true
}

// addVaryOrigin adds Origin to the response's Vary, once, in one line with
// the server's own values.
func addVaryOrigin(h http.Header) {
	vv := h["Vary"]
	if wire.HasToken(vv, "Origin") || wire.HasToken(vv, "*") {
		return
	}
	var b strings.Builder
	for _, v := range vv {
		if v = wire.TrimOWSString(v); v != "" {
			b.WriteString(v)
			b.WriteString(", ")
		}
	}
	if b.Len() == 0 {
		h["Vary"] = valOrigin
		return
	}
	b.WriteString("Origin")
	h["Vary"] = []string{b.String()}
}

// writer sets the CORS headers of a response when they are about to be
// written. It is valid only until the handler it was passed to returns.
type writer struct {
	http.ResponseWriter
	c     *cors
	allow []string // Access-Control-Allow-Origin; nil: none
	wrote bool
}

func (w *writer) before() {
	if w.wrote {
		return
	}
	w.wrote = true
	h := w.ResponseWriter.Header()
	for _, k := range serverHeaders {
		delete(h, k)
	}
	addVaryOrigin(h)
	if w.allow == nil {
		return
	}
	h[hAllowOrigin] = w.allow
	if w.c.credentials {
		h[hAllowCredentials] = valTrue
	}
	if w.c.expose != nil {
		h[hExposeHeaders] = w.c.expose
	}
}

// WriteHeader sets the headers before a final status (101, or 200 and up);
// interim 1xx responses go out as they are.
func (w *writer) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.before()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *writer) Write(p []byte) (int, error) {
	w.before()
	return w.ResponseWriter.Write(p)
}

// Flush writes the headers, if they are not yet, and flushes the underlying
// writer when it can.
func (w *writer) Flush() { _ = w.FlushError() }

// FlushError is Flush with the underlying writer's error, for
// http.ResponseController.
func (w *writer) FlushError() error {
	w.before()
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
