// Package inflightreq implements the inFlightReq middleware: at most amount
// requests of one key (a client IP, a host, a header's value, an API key, a
// token's claim: see package reqkey) in progress at once; the next gets 429
// until one of them ends.
//
// A request counts from when it reaches the middleware to when the handler
// after it returns: its response sent whole, cut short, its client gone, or
// a panic (the count is released on the way out, whatever the way). A
// WebSocket or other upgrade counts for as long as its tunnel is open.
//
// The counts are kept across reloads while the middleware keeps its name, so
// that requests still running on the old configuration count against the new
// one. Only keys with a request in progress take memory: at most as many as
// there are requests in flight.
package inflightreq

import (
	"context"
	"fmt"
	"hash/maphash"
	"net/http"
	"strconv"
	"sync"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/middleware/internal/reqkey"
)

const nShards = 32

// counts are the requests in progress per key, sharded by a hash of the key
// so that clients seldom wait for each other's lock.
type counts struct {
	seed   maphash.Seed
	shards [nShards]shard
}

type shard struct {
	mu sync.Mutex
	m  map[string]int64
	_  [64]byte
}

func newCounts() *counts {
	c := &counts{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = map[string]int64{}
	}
	return c
}

// acquire counts one more request of key, unless amount are in progress.
// It returns the shard to release on, nil when refused.
func (c *counts) acquire(key []byte, amount int64) *shard {
	sh := &c.shards[maphash.Bytes(c.seed, key)%nShards]
	sh.mu.Lock()
	n := sh.m[string(key)]
	if n >= amount {
		sh.mu.Unlock()
		return nil
	}
	sh.m[string(key)] = n + 1
	sh.mu.Unlock()
	return sh
}

func (sh *shard) release(key string) {
	sh.mu.Lock()
	if n := sh.m[key]; n <= 1 {
		delete(sh.m, key)
	} else {
		sh.m[key] = n - 1
	}
	sh.mu.Unlock()
}

// inFlight is the number of requests of key in progress (tests).
func (c *counts) inFlight(key []byte) int64 {
	sh := &c.shards[maphash.Bytes(c.seed, key)%nShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.m[string(key)]
}

type handler struct {
	next   http.Handler
	key    reqkey.Func
	amount int64
	counts *counts
	dec    *env.Decisions
}

// New returns the inFlightReq middleware around next (see the package doc).
func New(ctx context.Context, next http.Handler, cfg *config.InFlightReq, name string) (http.Handler, error) {
	e := env.From(ctx)
	if cfg.Amount <= 0 {
		return nil, fmt.Errorf("inFlightReq: amount must be 1 or more, got %d", cfg.Amount)
	}
	key, err := reqkey.Parse(cfg.Key, cfg.IPv6Subnet)
	if err != nil {
		return nil, fmt.Errorf("inFlightReq: %w", err)
	}
	c, err := env.Keep(e, "inFlightReq", name, "", func() (*counts, func(), error) { return newCounts(), nil, nil })
	if err != nil {
		return nil, fmt.Errorf("inFlightReq: %w", err)
	}
	return &handler{next: next, key: key, amount: cfg.Amount, counts: c, dec: e.Decisions("inFlightReq", name)}, nil
}

var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 96); return &b }}

const tooMany = "429 Too Many Requests: too many requests of yours in progress on this route; retry when one has ended\n"

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bp := keyBufs.Get().(*[]byte)
	k := h.key((*bp)[:0], w, r)
	sh := h.counts.acquire(k, h.amount)
	if sh == nil {
		*bp = k[:0]
		keyBufs.Put(bp)
		h.dec.Deny()
		hd := w.Header()
		hd["Content-Type"] = []string{"text/plain; charset=utf-8"}
		hd["X-Content-Type-Options"] = []string{"nosniff"}
		hd["Retry-After"] = []string{"1"}
		hd["Content-Length"] = []string{strconv.Itoa(len(tooMany))}
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte(tooMany))
		return
	}
	key := string(k) // the map's key outlives the buffer
	*bp = k[:0]
	keyBufs.Put(bp)
	defer sh.release(key)
	h.dec.Allow()
	h.next.ServeHTTP(w, r)
}
