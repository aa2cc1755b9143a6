// Package cache implements the cache middleware: a shared HTTP cache as RFC
// 9111 defines it, in front of the router's service, with RFC 9211
// Cache-Status on every response that went through it.
//
// What is stored: final responses to GET that RFC 9111 §3 lets a shared
// cache store (see rfc9111.Storable: not no-store, not private, not to a
// request with Authorization unless public, s-maxage or must-revalidate
// allow, not Vary: *), whole (a body cut short by the server, or by the
// client going away, is not), of at most maxEntryBytes. A response with
// Set-Cookie is never stored: it is one user's. Fields named by a qualified
// private="..." are removed before storing; those named by no-cache="..."
// are only sent after a revalidation. Responses stream to the client as
// they arrive while they fill the store; interim ones (103 Early Hints)
// go to the client they answer, and are never stored.
//
// What is served from the store: a stored response whose Vary'd request
// headers (normalized: list elements trimmed, Accept-* lowercased,
// Accept-Encoding's elements sorted) match the request's, that is fresh
// (s-maxage, max-age, Expires, or 10% of its Last-Modified age capped at a
// day when it has no explicit freshness and its status allows a heuristic)
// for the request's own max-age, min-fresh, max-stale and no-cache, with
// Age. HEAD is answered from a stored GET (a HEAD forwarded for a stale one
// freshens it when its validators match, else drops it); If-None-Match and
// If-Modified-Since from the store get a 304 when they match; a single byte
// range of a stored 200 gets a 206 (416 when it cannot be satisfied;
// several ranges get the whole 200).
//
// Stale entries: with stale-while-revalidate the stale copy is served and
// one background request per URL revalidates it; otherwise the request goes
// to the server, conditional (If-None-Match / If-Modified-Since from the
// stored validators) when the entry has validators, and a 304 updates the
// stored header (RFC 9111 §3.2, §4.3.4). When the server fails (5xx, or no
// response) and stale-if-error allows, the stale copy is served.
// must-revalidate, proxy-revalidate, s-maxage and no-cache forbid every
// stale answer.
//
// Concurrent requests for a URL that is being fetched wait for that fetch
// (at most coalesceTimeout) and are answered from what it stored; when it
// stored nothing, each goes on its own, and the URL is not coalesced for
// passTTL when the server said it may not be stored. Unsafe methods that succeed (2xx,
// 3xx) invalidate the URL and the same-origin URLs of their Location and
// Content-Location.
package cache

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/cache/rfc9111"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/wire"
)

// maxBackground bounds the background revalidations running at once: past
// it, stale-while-revalidate serves the stale entry and leaves the
// revalidation to a later request.
const maxBackground = 256

// passTTL is how long a URL whose response could not be stored is not
// coalesced, and maxPass the most such URLs remembered: requests for a URL
// that is never stored (no-store, private, Set-Cookie, too large) go to the
// server at once instead of queueing behind each other's fetch (Varnish
// calls it hit-for-miss). A fetch that stores ends it.
const (
	passTTL = 30 * time.Second
	maxPass = 4096
)

// backgroundTimeout bounds a stale-while-revalidate revalidation, which no
// client waits for.
const backgroundTimeout = 30 * time.Second

// Counters are what a cache counts, for metrics and stats.
type Counters struct {
	Hits          atomic.Int64 // answered from the store, fresh
	Misses        atomic.Int64 // forwarded, nothing usable stored
	Stale         atomic.Int64 // answered with a stale entry (max-stale, stale-while-revalidate, stale-if-error)
	Revalidations atomic.Int64 // conditional requests sent to the server
	Coalesced     atomic.Int64 // requests that waited for another one's fetch
	Bypass        atomic.Int64 // not for the cache: unsafe methods, If-Match, upgrades
	StoredBytes   atomic.Int64 // body bytes put in the store
}

// state is what a cache keeps across reloads: its store, its counters, the
// fetches in flight.
type state struct {
	name  string
	kind  string // memory | redis
	store Store
	c     Counters

	routers  sync.Map     // router name → *routerCounters: names come from the config
	lastWarn atomic.Int64 // unix ns of the last store failure logged

	mu      sync.Mutex
	flights map[string]*flight
	reval   map[string]bool      // URLs with a background revalidation running
	pass    map[string]time.Time // URLs not coalesced until then (see passTTL)
}

// routerCounters are the answers a cache gave to the GETs and HEADs of one
// router, for the dashboard's hit ratio.
type routerCounters struct {
	requests, hits atomic.Int64
}

// count adds a GET or HEAD of the router of w (when there is one) to its
// counters; hit: answered from the store.
func (st *state) count(w http.ResponseWriter, hit bool) {
	rec := observe.From(w)
	if rec == nil || rec.Router == "" {
		return
	}
	v, ok := st.routers.Load(rec.Router)
	if !ok {
		v, _ = st.routers.LoadOrStore(rec.Router, new(routerCounters))
	}
	rc := v.(*routerCounters)
	rc.requests.Add(1)
	if hit {
		rc.hits.Add(1)
	}
}

type flight struct {
	done   chan struct{}
	stored bool // set before done is closed
}

type handler struct {
	next            http.Handler
	st              *state
	now             func() time.Time
	maxEntry        int64
	keepStale       time.Duration
	coalesceTimeout time.Duration
	log             *slog.Logger
}

// New returns the cache middleware around next (see the package doc).
func New(ctx context.Context, next http.Handler, cfg *config.Cache, name string) (http.Handler, error) {
	e := env.From(ctx)
	maxBytes := int64(orSize(cfg.MaxBytes, config.CacheMaxBytes))
	maxEntry := int64(orSize(cfg.MaxEntryBytes, config.CacheMaxEntryBytes))
	kind := cfg.Store
	if kind == "" {
		kind = "memory"
	}
	if kind == "memory" && maxEntry > maxBytes {
		maxEntry = maxBytes
	}
	var mk func() (Store, error)
	var key string
	switch kind {
	case "memory":
		key = fmt.Sprintf("memory/%d", maxBytes)
		mk = func() (Store, error) { return NewMemory(maxBytes, time.Now), nil }
	case "redis":
		rc, err := e.Redis()
		if err != nil {
			return nil, fmt.Errorf("cache: %w", err)
		}
		prefix := cfg.KeyPrefix
		if prefix == "" {
			prefix = "usher:cache:" + name + ":"
		}
		key = "redis/" + prefix
		mk = func() (Store, error) { return NewRedis(rc, prefix, time.Now), nil }
	default:
		return nil, fmt.Errorf("cache: store %q is not one of memory, redis", cfg.Store)
	}
	st, err := env.Keep(e, "cache", name, key, func() (*state, func(), error) {
		s, err := mk()
		if err != nil {
			return nil, nil, err
		}
		st := &state{name: name, kind: kind, store: s, flights: map[string]*flight{}, reval: map[string]bool{}}
		register(st)
		return st, func() { unregister(st) }, nil
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return newHandler(next, st, time.Now, maxEntry, orDur(cfg.KeepStale, config.CacheKeepStale), orDur(cfg.CoalesceTimeout, config.CacheCoalesceTimeout), e.Log), nil
}

func newHandler(next http.Handler, st *state, now func() time.Time, maxEntry int64, keepStale, coalesce time.Duration, log *slog.Logger) *handler {
	return &handler{next: next, st: st, now: now, maxEntry: maxEntry, keepStale: keepStale, coalesceTimeout: coalesce, log: log}
}

func orSize(v config.ByteSize, d int64) config.ByteSize {
	if v <= 0 {
		return config.ByteSize(d)
	}
	return v
}

func orDur(v config.Duration, d time.Duration) time.Duration {
	if v <= 0 {
		return d
	}
	return v.D()
}

// keyOf is the primary key of a request: its absolute URL.
func keyOf(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	var b strings.Builder
	b.Grow(len(scheme) + 3 + len(host) + len(r.URL.Path) + len(r.URL.RawQuery) + 2)
	b.WriteString(scheme)
	b.WriteString("://")
	b.WriteString(strings.ToLower(host))
	p := r.URL.EscapedPath()
	if p == "" {
		p = "/"
	}
	b.WriteString(p)
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		b.WriteByte('?')
		b.WriteString(r.URL.RawQuery)
	}
	return b.String()
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions, http.MethodTrace, http.MethodConnect:
		h.bypass(w, r, "fwd=method", false)
		return
	default:
		h.bypass(w, r, "fwd=method", true)
		return
	}
	if len(r.Header["Upgrade"]) > 0 && wire.HasToken(r.Header["Connection"], "upgrade") {
		h.st.c.Bypass.Add(1)
		h.next.ServeHTTP(w, r)
		return
	}
	if len(r.Header["If-Match"]) > 0 || len(r.Header["If-Unmodified-Since"]) > 0 {
		// Preconditions for a write-like use of GET: the server's to judge.
		h.bypass(w, r, "fwd=bypass", false)
		return
	}
	h.lookup(w, r, keyOf(r), rfc9111.RequestDirectives(r.Header), true)
}

// verdict is what may be done with a stored entry for a request.
type verdict int

const (
	useFresh    verdict = iota // fresh for this request
	useStale                   // stale, and the request's max-stale takes it
	useSWR                     // stale within stale-while-revalidate: serve it, revalidate in the background
	mustForward                // revalidate (or fetch)
)

// judged is a stored entry with its freshness at the time of the request.
type judged struct {
	e         *Entry
	resp      rfc9111.Response
	age       time.Duration
	lifetime  time.Duration
	v         verdict
	forced    bool // the request's own directives made it go forward
	staleOK   bool // stale-if-error may serve it when the server fails
	stripped  []string
	validator bool
}

func (j *judged) ttl() int64 { return int64((j.lifetime - j.age) / time.Second) }

// judge returns the judgement by value: a hit, the common case, then makes
// no allocation for it.
func (h *handler) judge(e *Entry, req rfc9111.Directives, now time.Time) judged {
	j := judged{e: e, resp: rfc9111.Response{Status: e.Status, Header: e.Header,
		CC: e.directives(), RequestTime: e.RequestTime, ResponseTime: e.ResponseTime}}
	if f := e.fixed; f != nil {
		j.age = rfc9111.Aged(f.initialAge, e.ResponseTime, now)
		j.lifetime = f.lifetime
	} else {
		j.age = j.resp.CurrentAge(now)
		j.lifetime, _ = j.resp.Lifetime()
	}
	j.stripped = j.resp.CC.NoCacheFields
	j.validator = len(e.Header["Etag"]) > 0 || len(e.Header["Last-Modified"]) > 0
	staleness := j.age - j.lifetime
	prohibited := j.resp.StaleProhibited()
	if !prohibited {
		sie := j.resp.CC.StaleIfError
		if req.StaleIfError >= 0 {
			sie = max(sie, req.StaleIfError)
		}
		j.staleOK = sie >= 0 && staleness <= time.Duration(sie)*time.Second
	}
	ageSec := int64(j.age / time.Second)
	switch {
	case req.NoCache || j.resp.CC.NoCache:
		j.v, j.forced = mustForward, req.NoCache
	case req.MaxAge == 0 || req.MaxAge == rfc9111.Invalid || (req.MaxAge > 0 && ageSec > req.MaxAge):
		j.v, j.forced = mustForward, true
	case req.MinFresh >= 0 && j.lifetime-j.age < time.Duration(req.MinFresh)*time.Second:
		j.v, j.forced = mustForward, true
	case j.age < j.lifetime:
		j.v = useFresh
	case !prohibited && req.MaxStale >= 0 && (req.MaxStale == rfc9111.AnyStale || staleness <= time.Duration(req.MaxStale)*time.Second):
		j.v = useStale
	case !prohibited && j.resp.CC.StaleWhileRevalidate >= 0 && staleness <= time.Duration(j.resp.CC.StaleWhileRevalidate)*time.Second:
		j.v = useSWR
	default:
		j.v = mustForward
	}
	return j
}

// lookup answers a GET or HEAD: from the store when it can, else by going
// forward. coalesce says whether it may wait for another request's fetch.
func (h *handler) lookup(w http.ResponseWriter, r *http.Request, key string, req rfc9111.Directives, coalesce bool) {
	var buf [2]*Entry
	entries, err := h.get(r.Context(), key, buf[:0])
	if err != nil {
		h.storeFailed("lookup", err)
	}
	e, fwd := selectEntry(entries, r)
	now := h.now()
	var j *judged
	if e != nil {
		jv := h.judge(e, req, now)
		switch jv.v {
		case useFresh:
			h.st.c.Hits.Add(1)
			h.st.count(w, true)
			h.serve(w, r, e, jv.age, cacheStatus("hit", jv.ttl()), jv.stripped)
			return
		case useStale:
			h.st.c.Stale.Add(1)
			h.st.count(w, true)
			h.serve(w, r, e, jv.age, cacheStatus("hit", jv.ttl()), jv.stripped)
			return
		case useSWR:
			h.st.c.Stale.Add(1)
			h.st.count(w, true)
			h.serve(w, r, e, jv.age, cacheStatus("hit", jv.ttl())+"; detail=stale-while-revalidate", jv.stripped)
			h.revalidateInBackground(r, key, e)
			return
		}
		j = new(judged) // the slow path keeps it: the hit above allocated none
		*j = jv
		fwd = "fwd=stale"
		if j.forced {
			fwd = "fwd=request"
		}
	}
	if req.OnlyIfCached {
		h.st.c.Misses.Add(1)
		h.st.count(w, false)
		w.Header()["Cache-Status"] = append(w.Header()["Cache-Status"], "usher; "+fwd+"; detail=only-if-cached")
		http.Error(w, "Gateway Timeout: not in the cache", http.StatusGatewayTimeout)
		return
	}
	ranged := len(r.Header["Range"]) > 0
	if r.Method == http.MethodHead {
		// A HEAD that the store cannot answer goes as it is, and fills
		// nothing: it has no body to keep. Its 200 freshens the stored
		// GET it was forwarded for, or invalidates it (RFC 9111 §4.3.5).
		h.st.c.Misses.Add(1)
		h.st.count(w, false)
		f := h.newFiller(w, r, key, req, nil, fwd)
		f.noStore = true
		if j != nil {
			f.freshen = j.e
		}
		h.next.ServeHTTP(f, r)
		f.finish()
		return
	}
	// An event stream never ends: nobody should wait for its fetch.
	stream := strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	if coalesce && !ranged && !stream && h.coalesceTimeout > 0 {
		fl, leader := h.join(key)
		if !leader {
			h.st.c.Coalesced.Add(1)
			t := time.NewTimer(h.coalesceTimeout)
			select {
			case <-fl.done:
				t.Stop()
				if fl.stored {
					h.lookupAfterWait(w, r, key, req)
					return
				}
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
			h.lookup(w, r, key, req, false)
			return
		}
		defer h.leave(key, fl)
		h.forward(w, r, key, req, j, fwd, fl)
		return
	}
	h.forward(w, r, key, req, j, fwd, nil)
}

// get is the store's Get, into dst when the store is the memory store:
// its hits then allocate no slice.
func (h *handler) get(ctx context.Context, key string, dst []*Entry) ([]*Entry, error) {
	if m, ok := h.st.store.(*Memory); ok {
		return m.appendGet(dst, key), nil
	}
	return h.st.store.Get(ctx, key)
}

// lookupAfterWait answers a request that waited for another's fetch: from
// what that fetch stored when it fits the request, else forward.
func (h *handler) lookupAfterWait(w http.ResponseWriter, r *http.Request, key string, req rfc9111.Directives) {
	entries, _ := h.st.store.Get(r.Context(), key)
	if e, _ := selectEntry(entries, r); e != nil {
		// The entry was fetched after this request came: it is as fresh as
		// a forwarded request would get, whatever the request's no-cache
		// or max-age said.
		relaxed := req
		relaxed.NoCache, relaxed.MaxAge, relaxed.MinFresh = false, rfc9111.Absent, rfc9111.Absent
		if j := h.judge(e, relaxed, h.now()); j.v == useFresh {
			h.st.c.Hits.Add(1)
			h.st.count(w, true)
			h.serve(w, r, e, j.age, cacheStatus("hit", j.ttl())+"; collapsed", j.stripped)
			return
		}
	}
	h.lookup(w, r, key, req, false)
}

// storeFailed logs a store failure at warn, at most every 10 seconds per
// cache: an operator must know that Redis is away, but not once a request.
func (h *handler) storeFailed(op string, err error) {
	now := h.now().UnixNano()
	last := h.st.lastWarn.Load()
	if now-last < int64(10*time.Second) || !h.st.lastWarn.CompareAndSwap(last, now) {
		return
	}
	h.log.Warn("cache: store failed; requests go to the server", "middleware", h.st.name, "op", op, "error", err.Error())
}

// join makes the request the leader of a fetch for key, or returns the
// fetch it may wait for; nil and true when key is not coalesced (passTTL).
func (h *handler) join(key string) (*flight, bool) {
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	if until, ok := h.st.pass[key]; ok {
		if h.now().Before(until) {
			return nil, true
		}
		delete(h.st.pass, key)
	}
	if fl := h.st.flights[key]; fl != nil {
		return fl, false
	}
	fl := &flight{done: make(chan struct{})}
	h.st.flights[key] = fl
	return fl, true
}

func (h *handler) leave(key string, fl *flight) {
	if fl == nil {
		return
	}
	h.st.mu.Lock()
	if h.st.flights[key] == fl {
		delete(h.st.flights, key)
	}
	h.st.mu.Unlock()
	close(fl.done)
}

// settle remembers whether key's fetches are worth coalescing, after a
// fetch that stored (they are) or whose response the server said not to
// store (they are not, for passTTL).
func (h *handler) settle(key string, stored, pass bool) {
	if !stored && !pass {
		return
	}
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	if stored {
		delete(h.st.pass, key)
		return
	}
	now := h.now()
	if len(h.st.pass) >= maxPass {
		for k, until := range h.st.pass {
			if !now.Before(until) {
				delete(h.st.pass, k)
			}
		}
		if len(h.st.pass) >= maxPass {
			return
		}
	}
	if h.st.pass == nil {
		h.st.pass = map[string]time.Time{}
	}
	h.st.pass[key] = now.Add(passTTL)
}

// forward sends the request on: a revalidation of j's entry when there is
// one with validators, else a plain fetch that fills the store.
func (h *handler) forward(w http.ResponseWriter, r *http.Request, key string, req rfc9111.Directives, j *judged, fwd string, fl *flight) {
	f := h.newFiller(w, r, key, req, j, fwd)
	h.st.count(w, false)
	out := r
	if len(r.Header["Range"]) == 0 {
		// The store wants the whole representation, not the client's 304:
		// the client's conditions are judged here, on the response.
		if hasAny(r.Header, conditionalHeaders) || (j != nil && j.validator) {
			out = r.Clone(r.Context())
			for _, k := range conditionalHeaders {
				delete(out.Header, k)
			}
		}
		f.judgeConditions = true
		if j != nil && j.validator {
			if et := j.e.Header["Etag"]; len(et) > 0 {
				out.Header["If-None-Match"] = []string{et[0]}
			}
			if lm := j.e.Header["Last-Modified"]; len(lm) > 0 {
				out.Header["If-Modified-Since"] = []string{lm[0]}
			}
			f.revalidating = true
			h.st.c.Revalidations.Add(1)
		} else {
			h.st.c.Misses.Add(1)
		}
	} else {
		h.st.c.Misses.Add(1)
	}
	defer func() {
		if fl != nil {
			fl.stored = f.stored
		}
	}()
	h.next.ServeHTTP(f, out)
	f.finish()
	h.settle(key, f.stored, f.pass)
}

var conditionalHeaders = []string{"If-None-Match", "If-Modified-Since", "If-Range"}

func hasAny(h http.Header, names []string) bool {
	for _, k := range names {
		if len(h[k]) > 0 {
			return true
		}
	}
	return false
}

// revalidateInBackground revalidates the entry of key, once at a time per
// key, with no client waiting: what it gets updates or replaces the entry.
func (h *handler) revalidateInBackground(r *http.Request, key string, e *Entry) {
	h.st.mu.Lock()
	if h.st.reval[key] || len(h.st.reval) >= maxBackground {
		h.st.mu.Unlock()
		return
	}
	h.st.reval[key] = true
	h.st.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), backgroundTimeout)
	out := r.Clone(ctx)
	out.Method = http.MethodGet
	out.Body = http.NoBody
	out.ContentLength = 0
	for _, k := range append(conditionalHeaders, "Range") {
		delete(out.Header, k)
	}
	go func() {
		defer func() {
			cancel()
			h.st.mu.Lock()
			delete(h.st.reval, key)
			h.st.mu.Unlock()
			if v := recover(); v != nil && v != http.ErrAbortHandler {
				h.log.Warn("cache: background revalidation panicked", "middleware", h.st.name, "panic", fmt.Sprint(v))
			}
		}()
		// A request that judged the entry stale just before another
		// revalidation stored its answer gets here once that one is done:
		// the entry is fresh again, and the server is not asked twice.
		if cur, err := h.st.store.Get(ctx, e.URL); err == nil {
			for _, c := range cur {
				if c.Variant == e.Variant && c.ResponseTime.After(e.ResponseTime) {
					return
				}
			}
		}
		req := rfc9111.RequestDirectives(out.Header)
		j := h.judge(e, req, h.now())
		j.staleOK = false
		bw := newBackgroundWriter()
		defer bw.Release()
		h.forward(bw, out, key, req, &j, "fwd=stale", nil)
	}()
}

// bypass forwards a request the cache does not answer. invalidate: an
// unsafe method, whose success invalidates what it names (RFC 9111 §4.4).
func (h *handler) bypass(w http.ResponseWriter, r *http.Request, status string, invalidate bool) {
	h.st.c.Bypass.Add(1)
	iw := &invalidator{ResponseWriter: w, h: h, r: r, status: status, invalidate: invalidate}
	h.next.ServeHTTP(iw, r)
	if invalidate && iw.code >= 200 && iw.code < 400 {
		// Again, for a fill that raced with the write.
		iw.purge()
	}
}

// invalidator adds Cache-Status to a bypassed response and, for an unsafe
// method, invalidates before the client sees the success.
type invalidator struct {
	http.ResponseWriter
	h          *handler
	r          *http.Request
	status     string
	invalidate bool
	code       int
	urls       []string
}

func (iw *invalidator) WriteHeader(code int) {
	if code < 200 {
		iw.ResponseWriter.WriteHeader(code)
		return
	}
	if iw.code == 0 {
		iw.code = code
		hd := iw.Header()
		hd["Cache-Status"] = append(hd["Cache-Status"], "usher; "+iw.status)
		if iw.invalidate && code < 400 {
			iw.urls = append(iw.urls, keyOf(iw.r))
			for _, k := range []string{"Location", "Content-Location"} {
				if u := sameOrigin(iw.r, hd.Get(k)); u != "" {
					iw.urls = append(iw.urls, u)
				}
			}
			iw.purge()
		}
	}
	iw.ResponseWriter.WriteHeader(code)
}

func (iw *invalidator) purge() {
	for _, u := range iw.urls {
		if _, err := iw.h.st.store.Purge(iw.r.Context(), Selector{URL: u}); err != nil {
			iw.h.log.Warn("cache: invalidation failed", "middleware", iw.h.st.name, "error", err.Error())
		}
	}
}

func (iw *invalidator) Write(b []byte) (int, error) {
	if iw.code == 0 {
		iw.WriteHeader(http.StatusOK)
	}
	return iw.ResponseWriter.Write(b)
}

func (iw *invalidator) Flush() {
	if iw.code == 0 {
		iw.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(iw.ResponseWriter).Flush()
}

func (iw *invalidator) Unwrap() http.ResponseWriter { return iw.ResponseWriter }

// sameOrigin resolves ref against the request's URL and returns its key
// when it has the request's scheme and host; "" otherwise (RFC 9111 §4.4:
// a cache must not invalidate on another origin's behalf).
func sameOrigin(r *http.Request, ref string) string {
	if ref == "" {
		return ""
	}
	u, err := url.Parse(ref)
	if err != nil {
		return ""
	}
	base := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath}
	if r.TLS != nil {
		base.Scheme = "https"
	}
	abs := base.ResolveReference(u)
	if abs.Scheme != base.Scheme || !strings.EqualFold(abs.Host, base.Host) {
		return ""
	}
	return keyOf(&http.Request{TLS: r.TLS, Host: abs.Host, URL: abs})
}

// cacheStatus is the Cache-Status member of usher for a response.
func cacheStatus(what string, ttl int64) string {
	var b [48]byte // one allocation, the string's: a hit's Cache-Status
	s := append(b[:0], "usher; "...)
	s = append(s, what...)
	s = append(s, "; ttl="...)
	return string(strconv.AppendInt(s, ttl, 10))
}

// selectEntry picks the stored response for r among the variants of its
// URL (RFC 9111 §4.1): one whose Vary'd headers match, the most recent when
// several do. fwd says why none did.
func selectEntry(entries []*Entry, r *http.Request) (*Entry, string) {
	if len(entries) == 0 {
		return nil, "fwd=uri-miss"
	}
	var best *Entry
	for _, e := range entries {
		names, star := varyNames(e.Header)
		if star || variantOf(names, r.Header) != e.Variant {
			continue
		}
		if best == nil || e.ResponseTime.After(best.ResponseTime) {
			best = e
		}
	}
	if best == nil {
		return nil, "fwd=vary-miss"
	}
	return best, ""
}

// varyNames are the canonical field names of a response's Vary, sorted and
// once each; star when Vary has "*".
func varyNames(h http.Header) (names []string, star bool) {
	vv := h["Vary"]
	if len(vv) == 0 {
		return nil, false
	}
	for _, v := range vv {
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			switch {
			case f == "":
			case f == "*":
				star = true
			default:
				names = append(names, http.CanonicalHeaderKey(f))
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), star
}

// variantOf is the secondary key of a request for the Vary names: the
// normalized value of each (RFC 9111 §4.1), absent told from empty.
func variantOf(names []string, h http.Header) string {
	if len(names) == 0 {
		return ""
	}
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		vv, ok := h[n]
		if !ok {
			b.WriteString("\x01\n")
			continue
		}
		b.WriteByte(':')
		var elems []string
		for _, v := range vv {
			for _, el := range strings.Split(v, ",") {
				if el = strings.TrimSpace(el); el != "" {
					elems = append(elems, el)
				}
			}
		}
		switch n {
		case "Accept-Encoding":
			for i := range elems {
				elems[i] = strings.ToLower(strings.ReplaceAll(elems[i], " ", ""))
			}
			slices.Sort(elems)
		case "Accept", "Accept-Language", "Accept-Charset":
			for i := range elems {
				elems[i] = strings.ToLower(strings.ReplaceAll(elems[i], " ", ""))
			}
		}
		b.WriteString(strings.Join(elems, ","))
		b.WriteByte('\n')
	}
	return b.String()
}
