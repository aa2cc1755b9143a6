// Package forwardauth implements the forwardAuth middleware: before a request
// goes on, usher asks an authentication server about it (Traefik's
// forwardAuth, nginx's auth_request). A 2xx answer lets the request through,
// with headers of the answer set on it; any other answer goes back to the
// client as the auth server sent it (a 302 to a login page, a 401 with its
// WWW-Authenticate); an auth server that cannot be reached, fails or is slow
// fails closed, with a 503.
//
// What lasts across reloads, kept by the middleware's name (env.Keep): the
// connections to the auth server (a bounded pool) and the decision cache.
package forwardauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/observe"
)

// kind is the middleware's key in the configuration.
const kind = "forwardAuth"

type forwardAuth struct {
	next  http.Handler
	name  string
	url   *url.URL // the auth server; shared by every request to it, read-only
	shown string   // the address as logs show it
	get   bool     // ask with GET (false: with the request's method)
	trust bool     // trustForwardHeader

	reqHeaders  []string // authRequestHeaders, canonical; nil: all
	respHeaders []string // authResponseHeaders, canonical
	respRegex   *regexp.Regexp
	cookies     []string // addAuthCookiesToResponse
	userField   string   // headerField, canonical
	maxBody     int64
	timeout     time.Duration

	port   atomic.Pointer[portMemo]
	client *client
	cache  *cache // nil: no cache
	dec    *env.Decisions
	log    *slog.Logger
}

// New returns the forwardAuth middleware named name around next.
//
// For each request it asks the auth server at cfg.Address (see ask for what
// the auth server gets) within cfg.Timeout (default 5s), over at most
// cfg.MaxConns connections (default 64), then:
//   - on a 2xx, removes from the request the client's own copies of the
//     headers of cfg.AuthResponseHeaders and of those whose names match
//     cfg.AuthResponseHeadersRegex, sets them from the answer, puts the user
//     named by cfg.HeaderField in the request's Record (rec.Identity) and
//     passes the request to next; the cookies of cfg.AddAuthCookiesToResponse
//     the answer set are added to the response, replacing the server's of the
//     same names;
//   - on any other answer, sends it to the client: its status, its headers
//     but the hop-by-hop ones, its body (up to maxAnswerBody);
//   - when the auth server cannot be reached, breaks the exchange, answers
//     101 or a body over maxAnswerBody, or has not answered in time: 503,
//     never the request let through, the reason logged (at most every
//     logEvery, with a count of the ones not logged).
//
// With cfg.Cache, answers are kept as their Cache-Control allows (see the
// cache type and cacheFor).
func New(ctx context.Context, next http.Handler, cfg *config.ForwardAuth, name string) (http.Handler, error) {
	if cfg == nil {
		return nil, errors.New("forwardAuth: no configuration")
	}
	u, err := url.Parse(cfg.Address)
	switch {
	case cfg.Address == "":
		return nil, errors.New("forwardAuth: address is required")
	case err != nil:
		return nil, fmt.Errorf("forwardAuth: address %q is not a URL", config.RedactURL(cfg.Address))
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return nil, fmt.Errorf("forwardAuth: address %q is not an http:// or https:// URL with a host", config.RedactURL(cfg.Address))
	case u.User != nil:
		return nil, fmt.Errorf("forwardAuth: address %q has a user:password@, which is not sent", config.RedactURL(cfg.Address))
	case cfg.MaxBodySize < 0, cfg.MaxConns < 0, cfg.Timeout < 0:
		return nil, errors.New("forwardAuth: maxBodySize, maxConns and timeout cannot be negative")
	}
	u.Fragment, u.RawFragment = "", ""
	e := env.From(ctx)
	fa := &forwardAuth{
		next: next, name: name, url: u, shown: u.Redacted(),
		get: !cfg.PreserveRequestMethod, trust: cfg.TrustForwardHeader,
		maxBody: int64(cfg.MaxBodySize), timeout: cfg.Timeout.D(),
		dec: e.Decisions(kind, name), log: e.Log.With("middleware", name, "kind", kind),
	}
	if fa.timeout == 0 {
		fa.timeout = config.ForwardAuthTimeout
	}
	if fa.reqHeaders, err = headerNames("authRequestHeaders", cfg.AuthRequestHeaders); err != nil {
		return nil, err
	}
	if fa.respHeaders, err = headerNames("authResponseHeaders", cfg.AuthResponseHeaders); err != nil {
		return nil, err
	}
	for _, k := range fa.respHeaders {
		if framing(k) {
			return nil, fmt.Errorf("forwardAuth: authResponseHeaders: %s cannot be copied from one message to another", k)
		}
	}
	if cfg.AuthResponseHeadersRegex != "" {
		if fa.respRegex, err = regexp.Compile(cfg.AuthResponseHeadersRegex); err != nil {
			return nil, fmt.Errorf("forwardAuth: authResponseHeadersRegex: %v", err)
		}
	}
	for _, c := range cfg.AddAuthCookiesToResponse {
		if !validName(c) {
			return nil, fmt.Errorf("forwardAuth: addAuthCookiesToResponse: %q is not a cookie name", c)
		}
	}
	fa.cookies = slices.Clone(cfg.AddAuthCookiesToResponse)
	if cfg.HeaderField != "" {
		if !validName(cfg.HeaderField) {
			return nil, fmt.Errorf("forwardAuth: headerField: %q is not a header name", cfg.HeaderField)
		}
		fa.userField = http.CanonicalHeaderKey(cfg.HeaderField)
	}

	if fa.client, err = keepClient(e, name, u.Scheme+"://"+u.Host, cfg, fa.timeout); err != nil {
		return nil, err
	}
	if cfg.Cache != nil {
		vary, err := headerNames("cache.vary", cfg.Cache.Vary)
		if err != nil {
			return nil, err
		}
		settings, _ := json.Marshal(struct {
			C *config.ForwardAuth
			T [sha256.Size]byte
		}{decisionSettings(cfg), fa.client.tlsDigest})
		sum := sha256.Sum256(settings)
		fa.cache, err = env.Keep(e, kind, name, "cache "+hex.EncodeToString(sum[:]), func() (*cache, func(), error) {
			return newCache(int64(cfg.Cache.MaxBytes), cfg.Cache.MaxTTL.D(), vary), nil, nil
		})
		if err != nil {
			return nil, err
		}
	}
	return fa, nil
}

// decisionSettings is cfg without what does not change the auth server's
// answers: a cache made for other settings is not taken over.
func decisionSettings(cfg *config.ForwardAuth) *config.ForwardAuth {
	c := *cfg
	c.Timeout, c.MaxConns = 0, 0
	return &c
}

// headerNames checks and canonicalises a list of header names.
func headerNames(key string, names []string) ([]string, error) {
	var out []string
	for _, k := range names {
		if !validName(k) {
			return nil, fmt.Errorf("forwardAuth: %s: %q is not a header name", key, k)
		}
		ck := http.CanonicalHeaderKey(k)
		if !slices.Contains(out, ck) {
			out = append(out, ck)
		}
	}
	return out, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// framing tells whether the canonical name k belongs to one connection or
// one message's framing.
func framing(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding",
		"Upgrade", "Content-Length", "Expect", "Host":
		return true
	}
	return false
}

func (fa *forwardAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header == nil {
		r.Header = http.Header{}
	}
	var body []byte
	truncated := false
	if fa.maxBody > 0 {
		var status int
		if body, truncated, status = fa.takeBody(w, r); status != 0 {
			return
		}
	}
	var fwd forwarded
	fa.forwarded(r, &fwd)

	// No cache for a request whose body the auth server reads: the body is
	// not in the key.
	if fa.cache == nil || len(body) > 0 {
		fa.decide(w, r, &fwd, body, truncated, nil)
		return
	}
	key, credentialed := fa.cache.key(fa, r, &fwd)
	now := fa.cache.now()
	if d := fa.cache.get(&key, now); d != nil {
		fa.apply(w, r, d)
		return
	}
	f, leader := fa.cache.join(&key)
	if leader {
		fa.decide(w, r, &fwd, nil, false, &lead{c: fa.cache, key: &key, f: f, credentialed: credentialed})
		return
	}
	// Another request with the same key is asking: wait for its answer, as
	// long as this request may wait for the auth server.
	f.waiting.Add(1)
	t := time.NewTimer(fa.timeout)
	select {
	case <-f.done:
		t.Stop()
		switch {
		case f.d != nil:
			fa.apply(w, r, f.d)
		case f.err != nil: // the auth server just failed this question
			fa.fail(w, r, f.err)
		default: // its answer may not be kept: ask for this one
			fa.decide(w, r, &fwd, nil, false, nil)
		}
	case <-t.C:
		fa.fail(w, r, errTimeout)
	case <-r.Context().Done():
		t.Stop()
		fa.gone(w)
	}
}

// lead is what a request that asks on behalf of others with the same key
// must do with the answer: keep it if it may, then let them have it.
type lead struct {
	c            *cache
	key          *[sha256.Size]byte
	f            *flight
	credentialed bool
}

// decide asks the auth server and applies its answer. With l, the answer is
// kept in the cache when it may be, and handed to the requests waiting for
// it before this request goes on (they do not wait for its server): the
// answer kept, or the auth server's failure (they fail too, rather than each
// wait out another timeout), or nothing (they ask for themselves).
func (fa *forwardAuth) decide(w http.ResponseWriter, r *http.Request, fwd *forwarded, body []byte, truncated bool, l *lead) {
	d, h, err := fa.askWithin(r, fwd, body, truncated)
	if l != nil {
		var kept *decision
		var failed error
		switch {
		case err == nil:
			if ttl := l.c.cacheFor(d.status, h, l.credentialed); ttl > 0 {
				l.c.put(l.key, d, ttl)
				kept = d
			}
		case r.Context().Err() == nil: // not this client gone: the auth server failed
			failed = err
		}
		l.c.land(l.key, l.f, kept, failed)
	}
	switch {
	case err == nil:
		fa.apply(w, r, d)
	case r.Context().Err() != nil:
		fa.gone(w)
	default:
		fa.fail(w, r, err)
	}
}

// askWithin asks the auth server within the timeout, or not at all while
// it is unreachable.
func (fa *forwardAuth) askWithin(r *http.Request, fwd *forwarded, body []byte, truncated bool) (*decision, http.Header, error) {
	if !fa.client.admit() {
		return nil, nil, fa.client.downErr()
	}
	ctx, cancel := context.WithTimeout(r.Context(), fa.timeout)
	defer cancel()
	d, h, err := fa.ask(ctx, r, fwd, body, truncated)
	if err != nil && ctx.Err() == context.DeadlineExceeded && r.Context().Err() == nil {
		err = errTimeout
	}
	return d, h, err
}

var errTimeout = errors.New("no answer within the timeout")

// apply lets the request through on an allowing decision, or sends the
// auth server's answer to the client.
func (fa *forwardAuth) apply(w http.ResponseWriter, r *http.Request, d *decision) {
	if !d.allow() {
		if d.status >= 500 {
			fa.dec.Fail()
		} else {
			fa.dec.Deny()
		}
		d.write(w)
		return
	}
	fa.dec.Allow()
	h := r.Header
	for _, k := range fa.respHeaders {
		delete(h, k)
	}
	if fa.respRegex != nil {
		for k := range h {
			if fa.respRegex.MatchString(k) {
				delete(h, k)
			}
		}
	}
	for _, f := range d.set {
		h[f.key] = f.vals
	}
	if rec := observe.From(w); rec != nil {
		rec.Identity = d.identity
	}
	if len(d.cookies) == 0 {
		fa.next.ServeHTTP(w, r)
		return
	}
	cw := &cookieWriter{ResponseWriter: w, d: d}
	fa.next.ServeHTTP(cw, r)
	cw.before()
}

// unavailable is usher's answer when it cannot learn the auth server's.
var unavailable = []byte("503 Service Unavailable: the authentication service did not answer\n")

// fail answers 503 for an auth server that could not decide, and logs why.
func (fa *forwardAuth) fail(w http.ResponseWriter, r *http.Request, err error) {
	fa.dec.Fail()
	fa.client.report(fa.log, fa.shown, err)
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	h["Cache-Control"] = []string{"no-store"}
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write(unavailable)
}

// gone records a client that went away while usher was asking about it.
func (fa *forwardAuth) gone(w http.ResponseWriter) {
	if rec := observe.From(w); rec != nil && rec.Error == "" {
		rec.Error = observe.ErrClientGone
	}
}
