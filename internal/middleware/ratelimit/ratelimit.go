// Package ratelimit implements the rateLimit middleware: each key (a client
// IP, a host, a header's value, an API key, a token's claim: see package
// reqkey) gets a bucket of burst requests, refilled at average requests per
// period (GCRA, see limit). A request the bucket has room for goes on, with
// what is left of it in the IETF RateLimit headers; one it has none for gets
// 429 with Retry-After, and goes no further.
//
// Stores: memory keeps the buckets in this usher, bounded (maxKeys, least
// recently used dropped) and sharded (no lock shared by all requests), kept
// across reloads while the middleware keeps its name; redis keeps them in the
// static redis section's Redis, one round trip per request, shared by every
// usher on it. When Redis fails, onStoreError decides: allow lets requests
// through unlimited, deny answers 503; either way the outage is logged once
// (at its start and its end) and each request it touches is counted as an
// error in usher_middleware_decisions_total.
//
// Headers (draft-ietf-httpapi-ratelimit-headers, the structured-field form
// of draft 09 and later): every answer the middleware decided carries
//
//	RateLimit-Policy: "NAME";q=AVERAGE;w=PERIOD_SECONDS
//	RateLimit: "NAME";r=REMAINING;t=SECONDS
//
// where t is, on a request let through, the seconds until the bucket is full
// again, and on a 429, the seconds until a request is let through (also in
// Retry-After). Several limits on one route each add their own list member.
package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/middleware/internal/reqkey"
)

// store decides requests on buckets.
type store interface {
	take(ctx context.Context, key []byte, l limit) (verdict, error)
}

type handler struct {
	next   http.Handler
	name   string
	key    reqkey.Func
	lim    limit
	store  store
	redis  *redisStore // the store when it is redis, for its outage state
	deny   bool        // onStoreError: deny
	dec    *env.Decisions
	log    *slog.Logger
	policy []string // the RateLimit-Policy field, shared: len == cap, so an append copies
	item   string   // the policy's name as a structured-field string
}

var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 96); return &b }}

// New returns the rateLimit middleware around next (see the package doc).
func New(ctx context.Context, next http.Handler, cfg *config.RateLimit, name string) (http.Handler, error) {
	e := env.From(ctx)
	if cfg.Average <= 0 {
		return nil, fmt.Errorf("rateLimit: average must be 1 or more, got %d", cfg.Average)
	}
	period := cfg.Period.D()
	if period == 0 {
		period = config.RateLimitPeriod
	}
	if period < 0 {
		return nil, fmt.Errorf("rateLimit: period cannot be negative")
	}
	burst := cfg.Burst
	if burst == 0 {
		burst = config.RateLimitBurst
	}
	if burst < 0 {
		return nil, fmt.Errorf("rateLimit: burst cannot be negative")
	}
	key, err := reqkey.Parse(cfg.Key, cfg.IPv6Subnet)
	if err != nil {
		return nil, fmt.Errorf("rateLimit: %w", err)
	}
	h := &handler{
		next: next, name: name, key: key,
		lim: newLimit(cfg.Average, int64(period), burst),
		dec: e.Decisions("rateLimit", name),
		log: e.Log,
	}
	switch cfg.OnStoreError {
	case "", "allow":
	case "deny":
		h.deny = true
	default:
		return nil, fmt.Errorf("rateLimit: onStoreError is allow or deny, not %q", cfg.OnStoreError)
	}
	switch cfg.Store {
	case "", "memory":
		maxKeys := cfg.MaxKeys
		if maxKeys <= 0 {
			maxKeys = config.RateLimitMaxKeys
		}
		// Kept by name and size: a reload that keeps both keeps the
		// buckets; the key kind is in each key, so a change of key kind
		// starts afresh without a clash.
		ms, err := env.Keep(e, "rateLimit", name, "memory/"+strconv.Itoa(maxKeys), func() (*memStore, func(), error) {
			return newMemStore(maxKeys), nil, nil
		})
		if err != nil {
			return nil, fmt.Errorf("rateLimit: %w", err)
		}
		h.store = ms
	case "redis":
		rc, err := e.Redis()
		if err != nil {
			return nil, fmt.Errorf("rateLimit: %w", err)
		}
		rs, err := env.Keep(e, "rateLimit", name, "redis", func() (*redisStore, func(), error) {
			return newRedisStore(rc, name), nil, nil
		})
		if err != nil {
			return nil, fmt.Errorf("rateLimit: %w", err)
		}
		h.store, h.redis = rs, rs
	default:
		return nil, fmt.Errorf("rateLimit: store is memory or redis, not %q", cfg.Store)
	}
	h.item = sfString(name)
	p := h.item + ";q=" + strconv.FormatInt(cfg.Average, 10) + ";w=" + strconv.FormatInt(ceilSeconds(int64(period)), 10)
	h.policy = []string{p}[:1:1]
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bp := keyBufs.Get().(*[]byte)
	k := h.key((*bp)[:0], w, r)
	v, err := h.store.take(r.Context(), k, h.lim)
	*bp = k[:0]
	keyBufs.Put(bp)
	if err != nil {
		h.storeFailed(w, r, err)
		return
	}
	if h.redis != nil && h.redis.down.Load() && h.redis.down.CompareAndSwap(true, false) {
		h.log.Info("rateLimit: Redis answers again; limiting", "middleware", h.name)
	}
	hd := w.Header()
	if old := hd["Ratelimit-Policy"]; len(old) == 0 {
		hd["Ratelimit-Policy"] = h.policy
	} else {
		hd["Ratelimit-Policy"] = append(old, h.policy[0])
	}
	if !v.ok {
		secs := max(ceilSeconds(v.wait), 1)
		hd["Ratelimit"] = append(hd["Ratelimit"], h.item+";r=0;t="+strconv.FormatInt(secs, 10))
		hd["Retry-After"] = []string{strconv.FormatInt(secs, 10)}
		h.dec.Deny()
		plain(w, http.StatusTooManyRequests, "429 Too Many Requests: over this route's rate limit; retry after the time in Retry-After\n")
		return
	}
	var b [96]byte
	f := append(append(b[:0], h.item...), ";r="...)
	f = strconv.AppendInt(f, v.remaining, 10)
	f = append(f, ";t="...)
	f = strconv.AppendInt(f, ceilSeconds(v.wait), 10)
	hd["Ratelimit"] = append(hd["Ratelimit"], string(f))
	h.dec.Allow()
	h.next.ServeHTTP(w, r)
}

// storeFailed handles a request whose bucket Redis did not answer for.
func (h *handler) storeFailed(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		// The client went away while Redis was asked: not an outage, and
		// nobody to answer.
		return
	}
	h.dec.Fail()
	if h.redis != nil && h.redis.down.CompareAndSwap(false, true) {
		what := "letting requests through unlimited (onStoreError: allow)"
		if h.deny {
			what = "answering 503 (onStoreError: deny)"
		}
		h.log.Warn("rateLimit: Redis fails; "+what+" until it answers again", "middleware", h.name, "error", err)
	}
	if h.deny {
		w.Header()["Retry-After"] = []string{"1"}
		plain(w, http.StatusServiceUnavailable, "503 Service Unavailable: the rate limit's store does not answer\n")
		return
	}
	h.next.ServeHTTP(w, r)
}

func plain(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	w.Write([]byte(body))
}

// ceilSeconds is ns in whole seconds, rounded up.
func ceilSeconds(ns int64) int64 {
	if ns <= 0 {
		return 0
	}
	return (ns + int64(time.Second) - 1) / int64(time.Second)
}

// sfString writes s as a structured-field string (RFC 8941 §3.3.3):
// quoted, with '"' and '\' escaped; bytes outside printable ASCII, which a
// string cannot hold, become '_'.
func sfString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('_')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
