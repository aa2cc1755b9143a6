// Package errorpages implements the errors middleware, as Traefik's: a
// response whose status is in the configured ranges gets its body (and the
// headers that describe the body) from a page asked of another service; the
// client still gets the original status.
//
// The page request is a GET of query (its {status}, {originalStatus} and
// {url} replaced) to
// the service, with the request's Host and header fields but those of a body
// and of conditional or partial requests (the page is asked whole), on the
// request's context. The page is used when the service answers 2xx: its
// header fields and body go to the client with the original status (or the
// one statusRewrites gives it), plus
// the original's Retry-After, WWW-Authenticate, Proxy-Authenticate and Allow,
// which tell the client what to do next. Any other answer (the page does not
// exist, the service is down) and the original response goes as it was:
// held, up to 64KiB of its body, while the page is asked; a longer body is
// replaced by the status's text.
//
// What it covers: everything answered by the handlers inside it, usher's own
// answers included: the 502 and 504 of a server that failed, the 503 of a
// service without servers, the 503 of a circuitBreaker listed after it, the
// 429 and 403 of limits and filters listed after it. A request that no
// router takes gets usher's 404 without any middleware; see docs/CONFIG.md
// for the catch-all router that gives it a page.
//
// Interim responses (1xx) pass, with the fields set when they are sent; an
// upgrade (101) passes untouched. While a
// response is being decided, the handlers inside see their own header map,
// which goes to the client when the response is not caught.
package errorpages

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/observe"
)

// maxHeld is how much of a caught response's body is kept to fall back on.
const maxHeld = 64 << 10

// Errors is the middleware.
type Errors struct {
	next     http.Handler
	pages    http.Handler
	codes    [10]uint64 // bit c: status c is caught (c < 640)
	query    string
	hasURL   bool
	hasOrig  bool
	rewrites []config.StatusRange
	name     string
}

// New returns the errors middleware called name around next.
func New(ctx context.Context, next http.Handler, cfg *config.Errors, name string) (http.Handler, error) {
	e := &Errors{next: next, name: name}
	if len(cfg.Status) == 0 {
		return nil, fmt.Errorf("errors: no status")
	}
	for _, s := range cfg.Status {
		rs, err := config.ParseStatusList(s)
		if err != nil {
			return nil, fmt.Errorf("errors: status: %w", err)
		}
		for _, r := range rs {
			for c := r.Lo; c <= r.Hi; c++ {
				e.codes[c/64] |= 1 << (c % 64)
			}
		}
	}
	rw, err := config.StatusRewrites(cfg.StatusRewrites)
	if err != nil {
		return nil, fmt.Errorf("errors: statusRewrites: %w", err)
	}
	e.rewrites = rw
	if err := config.CheckErrorsQuery(cfg.Query); err != nil {
		return nil, fmt.Errorf("errors: query: %w", err)
	}
	e.query = "/" + strings.TrimPrefix(cfg.Query, "/")
	e.hasURL = strings.Contains(e.query, "{url}")
	e.hasOrig = strings.Contains(e.query, "{originalStatus}")
	ev := env.From(ctx)
	pages, err := ev.Service(cfg.Service)
	if err != nil {
		return nil, fmt.Errorf("errors: %w", err)
	}
	e.pages = pages
	return e, nil
}

func (e *Errors) caught(code int) bool {
	return code >= 0 && code < 640 && e.codes[code/64]&(1<<(code%64)) != 0
}

var catchers = sync.Pool{New: func() any { return &catcher{h: http.Header{}} }}

func (e *Errors) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var reqURL string
	if e.hasURL {
		// Before the handlers inside rewrite it (stripPrefix, replacePath).
		reqURL = r.URL.RequestURI()
	}
	c := catchers.Get().(*catcher)
	c.w, c.e = w, e
	e.next.ServeHTTP(c, r)
	if c.state == undecided {
		// Nothing written: net/http's 200 without a body.
		c.WriteHeader(http.StatusOK)
	}
	if c.state == caught {
		e.servePage(w, r, c, reqURL)
	}
	c.reset()
	catchers.Put(c)
}

// servePage answers a caught response with the page, or falls back to it.
func (e *Errors) servePage(w http.ResponseWriter, r *http.Request, c *catcher, reqURL string) {
	status := c.code
	for _, rw := range e.rewrites {
		if status >= rw.Lo && status <= rw.Hi {
			status = rw.To
			break
		}
	}
	c.pageCode = status
	q := strings.ReplaceAll(e.query, "{status}", strconv.Itoa(status))
	if e.hasOrig {
		q = strings.ReplaceAll(q, "{originalStatus}", strconv.Itoa(c.code))
	}
	if e.hasURL {
		q = strings.ReplaceAll(q, "{url}", url.QueryEscape(reqURL))
	}
	u, err := url.ParseRequestURI(q)
	if err != nil {
		c.fallBack()
		return
	}
	pr := r.Clone(r.Context())
	pr.Method = http.MethodGet
	pr.URL = u
	pr.RequestURI = u.RequestURI()
	pr.Body = http.NoBody
	pr.GetBody = nil
	pr.ContentLength = 0
	pr.TransferEncoding = nil
	pr.Trailer = nil
	pr.Close = false
	for _, k := range pageRequestDrop {
		delete(pr.Header, k)
	}
	pw := &pageWriter{w: w, c: c, h: http.Header{}}
	// The page's own Record, so that the access log keeps the service and
	// server that answered the request, not the page's; a page cut short
	// still aborts the client's exchange.
	prec := observe.NewRecorder(pw)
	e.pages.ServeHTTP(prec, pr)
	abort := prec.Rec.Abort
	prec.Release()
	if abort {
		if rec := observe.From(w); rec != nil {
			rec.Abort = true
		}
	}
	if pw.state != pageUsed {
		c.fallBack()
	}
}

// pageRequestDrop are the fields of the request that the page request goes
// without: it has no body, and asks for the whole page.
var pageRequestDrop = []string{
	"Content-Length", "Content-Type", "Content-Encoding", "Transfer-Encoding", "Expect",
	"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range", "Range",
	"Upgrade",
}

// keptFromOriginal are the fields of the original response that still go
// with the page: they tell the client what to do next.
var keptFromOriginal = []string{"Retry-After", "Www-Authenticate", "Proxy-Authenticate", "Allow"}

type catchState uint8

const (
	undecided catchState = iota
	passing              // not caught: writes go to the client
	caught               // held for a page
)

// catcher is the writer the handlers inside write to.
type catcher struct {
	w        http.ResponseWriter
	e        *Errors
	h        http.Header // theirs until decided
	state    catchState
	code     int    // the status the handlers inside answered
	pageCode int    // the status the client gets with the page (statusRewrites)
	body     []byte // held, up to maxHeld
	over     bool   // the body went past maxHeld
}

func (c *catcher) reset() {
	clear(c.h)
	c.w, c.e, c.state, c.code, c.pageCode, c.body, c.over = nil, nil, undecided, 0, 0, nil, false
}

func (c *catcher) Header() http.Header {
	if c.state == passing {
		return c.w.Header()
	}
	return c.h
}

func (c *catcher) WriteHeader(code int) {
	if c.state != undecided {
		if c.state == passing {
			c.w.WriteHeader(code) // net/http says what is wrong with it
		}
		return
	}
	switch {
	case code == http.StatusSwitchingProtocols:
		c.pass(code)
	case code < 200:
		// An interim response goes with the fields set so far, which are
		// then taken back: the final response may still be caught.
		dst := c.w.Header()
		var added []string
		for k, v := range c.h {
			if _, ok := dst[k]; !ok {
				added = append(added, k)
			}
			dst[k] = v
		}
		c.w.WriteHeader(code)
		for _, k := range added {
			delete(dst, k)
		}
	case c.e.caught(code):
		c.state, c.code = caught, code
	default:
		c.pass(code)
	}
}

func (c *catcher) pass(code int) {
	copyHeader(c.w.Header(), c.h)
	c.state = passing
	c.w.WriteHeader(code)
}

func (c *catcher) Write(p []byte) (int, error) {
	if c.state == undecided {
		c.WriteHeader(http.StatusOK)
	}
	if c.state == passing {
		return c.w.Write(p)
	}
	if len(c.body)+len(p) > maxHeld {
		c.over = true
	}
	if room := maxHeld - len(c.body); room > 0 {
		c.body = append(c.body, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (c *catcher) Flush() {
	if c.state == undecided {
		c.WriteHeader(http.StatusOK)
	}
	if c.state == passing {
		if f, ok := c.w.(http.Flusher); ok {
			f.Flush()
		}
	}
}

// Hijack hands the connection over (an upgrade): nothing is caught.
func (c *catcher) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if c.state == undecided {
		copyHeader(c.w.Header(), c.h)
		c.state = passing
	}
	return http.NewResponseController(c.w).Hijack()
}

// Unwrap lets http.ResponseController (Hijack, deadlines) and observe.From
// reach the writers below. Flush stays this writer's.
func (c *catcher) Unwrap() http.ResponseWriter { return c.w }

// fallBack sends the caught response as the handlers inside made it (its
// body replaced by the status's text when it was too long to hold).
func (c *catcher) fallBack() {
	dst := c.w.Header()
	copyHeader(dst, c.h)
	body := c.body
	if c.over {
		for _, k := range []string{"Content-Length", "Content-Encoding", "Content-Range", "Etag", "Last-Modified", "Digest", "Content-Md5", "Content-Digest", "Repr-Digest"} {
			delete(dst, k)
		}
		dst["Content-Type"] = []string{"text/plain; charset=utf-8"}
		dst["X-Content-Type-Options"] = []string{"nosniff"}
		body = []byte(http.StatusText(c.code) + "\n")
		dst["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	c.w.WriteHeader(c.code)
	c.w.Write(body)
}

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		dst[k] = v
	}
}

type pageState uint8

const (
	pageUndecided pageState = iota
	pageUsed
	pageRefused
)

// pageWriter is the writer the page's service writes to: a 2xx page goes to
// the client with the caught status; anything else is dropped.
type pageWriter struct {
	w     http.ResponseWriter
	c     *catcher
	h     http.Header
	state pageState
}

func (p *pageWriter) Header() http.Header {
	if p.state == pageUsed {
		return p.w.Header()
	}
	return p.h
}

func (p *pageWriter) WriteHeader(code int) {
	if p.state != pageUndecided || code < 200 {
		return
	}
	if code > 299 {
		p.state = pageRefused
		return
	}
	p.state = pageUsed
	dst := p.w.Header()
	copyHeader(dst, p.h)
	for _, k := range keptFromOriginal {
		if v, ok := p.c.h[k]; ok {
			if _, set := dst[k]; !set {
				dst[k] = v
			}
		}
	}
	p.w.WriteHeader(p.c.pageCode)
}

func (p *pageWriter) Write(b []byte) (int, error) {
	if p.state == pageUndecided {
		p.WriteHeader(http.StatusOK)
	}
	if p.state == pageUsed {
		return p.w.Write(b)
	}
	return len(b), nil
}

func (p *pageWriter) Flush() {
	if p.state == pageUsed {
		if f, ok := p.w.(http.Flusher); ok {
			f.Flush()
		}
	}
}
