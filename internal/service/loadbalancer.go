package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/usher-lb/usher/internal/balance"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/pool"
	"github.com/usher-lb/usher/internal/proxy"
)

// Target is one server of a load balancer with the upstream that reaches it.
type Target struct {
	Server   *pool.Server
	Upstream *proxy.Upstream
	Weight   int // the weight this snapshot gives the server
}

// Reporter learns the outcome of each request sent to a server: passive health
// checks eject servers from it. It must not block.
type Reporter interface {
	Report(s *pool.Server, failed bool, status int)
}

// RetryPolicy says when a failed request is sent again to another server.
type RetryPolicy struct {
	// Attempts is the number of retries after the first try; 0 never retries.
	Attempts int
	// OnStatus are response statuses retried (for Methods only).
	OnStatus []int
	// Methods are the methods retried after the request reached a server
	// (on a status of OnStatus or a timeout). A request that never reached a
	// server is retried whatever its method.
	Methods []string
	// BudgetPercent caps retries under way at this share of requests under way
	// (default 20), with at least MinRetries (default 3) allowed: a retry storm
	// against a sick pool stops there.
	BudgetPercent int
	MinRetries    int
	// MaxReplayBody is the largest request body kept to be sent again; larger
	// bodies make a request that reached a server not retryable. Default 64KiB.
	MaxReplayBody int64
}

// LoadBalancerOptions configures NewLoadBalancer.
type LoadBalancerOptions struct {
	Balance  balance.Options
	PassHost bool
	// HashKey is the header (header-hash) or cookie (cookie-hash) hashed.
	HashKey string
	// Panic spreads requests over all servers when none is healthy (as Envoy
	// does); otherwise such requests get 503 with Retry-After.
	Panic  bool
	Retry  RetryPolicy
	Sticky *Sticky
	// Reporter, when not nil, hears the outcome of every request to a server.
	Reporter Reporter
	// Log gets, at debug level, why a server failed a request (the cause of
	// each 502 and 504, of each body cut short, of each retry). nil: nowhere.
	Log *slog.Logger
	// Limited is set when servers have a limit of requests in flight
	// (pool.Server.SetMaxConns): a request finding them all full waits in
	// Queue, or gets 503 at once when Queue is nil.
	Limited bool
	Queue   *QueueOptions
	// Metrics, when set, counts requests refused for overload, and queued.
	Metrics *observe.Metrics
	// Hold, when set, holds a request that finds no server available (an
	// autoscaled pool at zero or starting) until one is, and serves it
	// there; see Holder.
	Hold Holder
}

// Holder holds requests of a pool with no server available: Hold returns
// the handler to serve the request with once a server is ready (the pool
// of a newer snapshot), or an error (the wait is full or over, or the
// client went away).
type Holder interface {
	Hold(ctx context.Context) (http.Handler, error)
}

// LoadBalancer sends each request to one server chosen by its picker, and to
// another one when the request failed in a way the retry policy allows.
type LoadBalancer struct {
	name     string
	picker   balance.Picker
	targets  map[*pool.Server]*proxy.Upstream
	servers  []*pool.Server
	ro       proxy.RequestOptions
	opts     LoadBalancerOptions
	keyOf    func(w http.ResponseWriter, r *http.Request) uint64
	sticky   *stickyIndex
	methods  uint32 // bit set of retried methods, see methodBit
	active   atomic.Int64
	retrying atomic.Int64
	retries  atomic.Uint64
	log      *slog.Logger
	over     overload
}

// NewLoadBalancer returns a load balancer over targets.
func NewLoadBalancer(name string, targets []Target, opts LoadBalancerOptions) (*LoadBalancer, error) {
	lb := &LoadBalancer{
		name:    name,
		targets: make(map[*pool.Server]*proxy.Upstream, len(targets)),
		ro:      proxy.RequestOptions{PassHost: opts.PassHost},
		opts:    opts,
		log:     opts.Log,
	}
	if opts.Limited {
		lb.over = newOverload(opts.Metrics, name)
	}
	if lb.log == nil {
		lb.log = slog.New(slog.DiscardHandler)
	}
	var weights []int
	for _, t := range targets {
		lb.targets[t.Server] = t.Upstream
		lb.servers = append(lb.servers, t.Server)
		weights = append(weights, t.Weight)
	}
	bo := opts.Balance
	bo.Weights = weights
	p, err := balance.New(bo, lb.servers)
	if err != nil {
		return nil, err
	}
	lb.picker = p
	if lb.opts.Retry.BudgetPercent <= 0 {
		lb.opts.Retry.BudgetPercent = 20
	}
	if lb.opts.Retry.MinRetries <= 0 {
		lb.opts.Retry.MinRetries = 3
	}
	if lb.opts.Retry.MaxReplayBody <= 0 {
		lb.opts.Retry.MaxReplayBody = 64 << 10
	}
	for _, m := range opts.Retry.Methods {
		lb.methods |= methodBit(m)
	}
	lb.keyOf = keyFunc(bo.Algorithm, opts.HashKey)
	if opts.Sticky != nil {
		lb.sticky = newStickyIndex(opts.Sticky, name, lb.servers)
	}
	return lb, nil
}

// Name is the service's name.
func (lb *LoadBalancer) Name() string { return lb.name }

// Servers returns the load balancer's servers, in config order.
func (lb *LoadBalancer) Servers() []*pool.Server { return lb.servers }

// Retries is the number of retries sent since the snapshot was compiled.
func (lb *LoadBalancer) Retries() uint64 { return lb.retries.Load() }

// Available tells whether any server can take a request.
func (lb *LoadBalancer) Available() bool {
	for _, s := range lb.servers {
		if s.Available() {
			return true
		}
	}
	return false
}

// Explain tells which server a request like r would be sent to now, and why.
func (lb *LoadBalancer) Explain(r *http.Request) (*pool.Server, string) {
	if lb.sticky != nil {
		if s := lb.sticky.pinned(r); s != nil {
			return s, "pinned by the sticky cookie " + lb.sticky.cfg.Name
		}
	}
	s := lb.pick(nil, r, nil)
	if s == nil && lb.opts.Limited && lb.saturated() {
		q := lb.servers[0].Queue()
		if lb.opts.Queue == nil || q == nil {
			return nil, "every server is at its maxConns: the request would get 503"
		}
		return nil, fmt.Sprintf("every server is at its maxConns: the request would wait in the queue (%d waiting, at most %d, for %s)",
			q.Len(), lb.opts.Queue.MaxSize, lb.opts.Queue.Timeout)
	}
	if s == nil {
		return nil, "no server is available"
	}
	algo := lb.opts.Balance.Algorithm
	if algo == "" {
		algo = balance.RoundRobin
	}
	if balance.IsHash(algo) {
		return s, algo + " of the request's key (consistent hashing with bounded loads)"
	}
	return s, "the " + algo + " algorithm's next pick (it changes from request to request)"
}

// pick chooses a server for r; a retry's pick (tried not empty) takes one
// not tried yet, without moving the picker's round for later requests.
func (lb *LoadBalancer) pick(w http.ResponseWriter, r *http.Request, tried []*pool.Server) *pool.Server {
	var key uint64
	if lb.keyOf != nil {
		key = lb.keyOf(w, r)
	}
	if len(tried) == 0 {
		return lb.picker.Pick(key)
	}
	// A copy: tried lives on ServeHTTP's stack, which an interface call
	// would move to the heap for every request, retried or not.
	return lb.picker.PickOther(key, slices.Clone(tried))
}

func (lb *LoadBalancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if lb.opts.Hold != nil && !lb.Available() {
		lb.hold(w, r)
		return
	}
	rec := observe.From(w)
	var s *pool.Server
	pinned := false
	if lb.sticky != nil {
		// A pinned server at its limit is left for another: the limit is
		// a promise to the server, the pin a preference.
		if s = lb.sticky.pinned(r); s != nil && s.TryStart() {
			pinned = true
		} else {
			s = nil
		}
	}
	if s == nil {
		// From here on, s's slot is taken (Start): each attempt ends it with Done.
		if s = lb.acquire(w, r); s == nil {
			return
		}
	}
	if proxy.IsUpgrade(r) {
		lb.stick(w, s, pinned)
		lb.note(rec, s)
		out := lb.targets[s].ServeUpgrade(w, r, lb.ro)
		failed := out.Err != nil && !clientSide(out.Err)
		s.Done(failed)
		// A tunnel's length says nothing of the server's speed: only its
		// failures are reported (to passive checks), not its duration.
		if lb.opts.Reporter != nil {
			lb.opts.Reporter.Report(s, failed, out.Status)
		}
		if out.Err != nil {
			lb.failed(r, rec, s, out)
		}
		return
	}

	lb.active.Add(1)
	defer lb.active.Add(-1)
	var replay *replayBody
	// The router's retry middleware is looked up only where it matters: a
	// body to keep when the service keeps none, and a failed try.
	if r.Body != nil && r.Body != http.NoBody && r.GetBody == nil && (lb.opts.Retry.Attempts > 0 || routerRetry(r) != nil) {
		replay = newReplayBody(r.Body, lb.opts.Retry.MaxReplayBody)
		r.Body = replay
		// The proxy sends the body again from here when the server had
		// closed the pooled connection: no second copy of it is kept.
		r.GetBody = replay.getBody
	}
	var triedBuf [4]*pool.Server
	tried := triedBuf[:0]
	held := false // this attempt is a retry holding a place in the budget
	for attempt := 0; ; attempt++ {
		tried = append(tried, s)
		lb.note(rec, s)
		up := lb.targets[s]
		resp, err := up.RoundTrip(w, r, lb.ro)
		if held {
			lb.retrying.Add(-1) // this retry is no longer waiting on a server
			held = false
		}
		if err != nil {
			var be *proxy.BodyError
			if errors.As(err, &be) {
				// The client's own body failed (malformed, short, too slow):
				// nothing the server did. No health report, no latency
				// sample, no retry.
				s.Done(false)
				if rec != nil {
					rec.AddAttempt(observe.Attempt{Server: s.Key[len(lb.name)+1:], Start: rec.Start, Duration: time.Since(rec.Start)})
				}
				lb.failed(r, rec, s, proxy.WriteError(w, r, err))
				return
			}
			canceled := errors.Is(err, proxy.ErrCanceled)
			start := time.Now() // the elapsed time counts even for a failure: see done
			if rec != nil {
				start = rec.Start
			}
			lb.done(rec, s, start, 0, !canceled, 0)
			limit, rr := lb.opts.Retry.Attempts, (*RouterRetry)(nil)
			if !canceled {
				if rr = routerRetry(r); rr != nil {
					limit = max(limit, rr.Retries)
				}
			}
			if !canceled && attempt < limit && lb.retryableError(r, err, replay) && (rr == nil || rr.wait(r, attempt+1)) {
				// A request that never reached a server is re-routed, not
				// repeated: it adds no load, so it does not count against the budget.
				var e *proxy.Error
				budgeted := !errors.As(err, &e) || !e.NotSent
				if next := lb.retryTo(w, r, tried, replay, rec, budgeted, rr != nil); next != nil {
					lb.debug(r, "server failed, retrying on another", s, 0, err)
					s, held = next, budgeted
					continue
				}
			}
			lb.stick(w, s, pinned)
			lb.failed(r, rec, s, proxy.WriteError(w, r, err))
			return
		}
		// resp is the connection's and must not be read once written or
		// discarded: the connection may serve another request by then.
		start, status := resp.Start, resp.Status
		ttfb := time.Since(start)
		if attempt < lb.opts.Retry.Attempts && lb.retryableStatus(r, status) {
			pending := resp.BodyPending()
			if pending {
				// The server answered before it had the whole body: the
				// body's writer is stopped (and the answer let go) before
				// the body is looked at and rewound.
				resp.Discard()
			}
			if next := lb.retryTo(w, r, tried, replay, rec, true, false); next != nil {
				held = true
				if !pending {
					resp.Discard()
				}
				// An answer, if a bad one: passive checks judge the status.
				lb.done(rec, s, start, ttfb, false, status)
				lb.debug(r, "server answered a status retried on another", s, status, nil)
				s = next
				continue
			}
			if pending {
				// No retry after all, and the answer is gone: the client
				// gets its status, plainly.
				lb.done(rec, s, start, ttfb, false, status)
				lb.stick(w, s, pinned && attempt == 0)
				proxy.PlainError(w, status)
				return
			}
		}
		if rec != nil {
			rec.TTFB = ttfb
		}
		lb.stick(w, s, pinned && attempt == 0)
		_, err = resp.WriteTo(w)
		lb.done(rec, s, start, ttfb, err != nil && !proxy.IsClientError(err), status)
		if err != nil {
			// Cut short: the entrypoint aborts the exchange, so that the
			// client cannot take the part it got for the whole.
			lb.failed(r, rec, s, proxy.Outcome{Status: status, Err: err, Written: true, Abort: true})
		}
		return
	}
}

// failed records a request that ended badly: whose failure it was and what
// (Record.Error), the 499 of a client that went away before any answer, the
// abort of a response cut short; and the cause, at debug level, when the
// server failed.
func (lb *LoadBalancer) failed(r *http.Request, rec *observe.Record, s *pool.Server, out proxy.Outcome) {
	var what string
	var be *proxy.BodyError
	switch {
	case errors.As(out.Err, &be):
		what = observe.ErrClientBody
		if be.Status() == http.StatusRequestTimeout {
			what = observe.ErrClientBodyTimeout
		}
	case errors.Is(out.Err, proxy.ErrCanceled) || proxy.IsClientError(out.Err):
		what = observe.ErrClientGone
	case proxy.IsTruncated(out.Err):
		what = observe.ErrUpstreamTruncated
	case out.Status == http.StatusGatewayTimeout:
		what = observe.ErrUpstreamTimeout
	default:
		what = observe.ErrUpstream
	}
	if rec != nil {
		rec.Error = what
		rec.Abort = rec.Abort || out.Abort
		if out.Status == proxy.StatusClientClosed && rec.Status < 200 {
			rec.Status = proxy.StatusClientClosed
		}
	}
	if !clientSide(out.Err) {
		lb.debug(r, what, s, out.Status, out.Err)
	}
}

// clientSide tells whether err is the client's doing (it went away, or its
// body failed), not the server's.
func clientSide(err error) bool {
	var be *proxy.BodyError
	return errors.Is(err, proxy.ErrCanceled) || proxy.IsClientError(err) || errors.As(err, &be)
}

// debug logs why a server failed a request, at debug level: off the hot path
// (nothing is formatted unless debug is on), and never the server URL's
// userinfo.
func (lb *LoadBalancer) debug(r *http.Request, msg string, s *pool.Server, status int, err error) {
	if !lb.log.Enabled(r.Context(), slog.LevelDebug) {
		return
	}
	attrs := []any{"service", lb.name, "server", s.Shown}
	if status != 0 {
		attrs = append(attrs, "status", status)
	}
	if err != nil {
		attrs = append(attrs, "error", err.Error())
	}
	lb.log.Debug(msg, attrs...)
}

func (lb *LoadBalancer) note(rec *observe.Record, s *pool.Server) {
	if rec != nil {
		rec.Service = lb.name
		rec.Server = s.Key[len(lb.name)+1:]
	}
}

// done ends an attempt on s. Every attempt feeds the latency record, failures
// too: a hung server must look slow, not idle, to the latency-aware pickers.
func (lb *LoadBalancer) done(rec *observe.Record, s *pool.Server, start time.Time, ttfb time.Duration, failed bool, status int) {
	now := time.Now()
	s.Lat.Observe(now.Sub(start), ttfb, now)
	if rec != nil {
		rec.AddAttempt(observe.Attempt{Server: s.Key[len(lb.name)+1:], Start: start, Duration: now.Sub(start), Status: status, Failed: failed})
	}
	s.Done(failed)
	if lb.opts.Reporter != nil {
		lb.opts.Reporter.Report(s, failed, status)
	}
}

// stick sets the sticky cookie when the request was not already pinned to s.
func (lb *LoadBalancer) stick(w http.ResponseWriter, s *pool.Server, pinned bool) {
	if lb.sticky != nil && !pinned {
		lb.sticky.set(w, s)
	}
}

// retryableError tells whether a request that failed with err may be sent
// again: one that never reached a server always (its body is untouched), one
// that did (a timeout, a reset mid-exchange: the server may have acted on it)
// only when its method is idempotent by the policy and its body can be replayed.
func (lb *LoadBalancer) retryableError(r *http.Request, err error, replay *replayBody) bool {
	var e *proxy.Error
	if !errors.As(err, &e) {
		return false
	}
	if replay != nil && !replay.rewindable() {
		return false
	}
	return e.NotSent || lb.idempotent(r)
}

// retryableStatus tells whether a response of status may be retried, by
// its method; whether its body can be sent again is retryTo's question.
func (lb *LoadBalancer) retryableStatus(r *http.Request, status int) bool {
	return slices.Contains(lb.opts.Retry.OnStatus, status) && lb.idempotent(r)
}

func (lb *LoadBalancer) idempotent(r *http.Request) bool {
	return lb.methods&methodBit(r.Method) != 0
}

// retryTo returns the server of the next attempt, or nil when the body cannot
// be sent again, or the budget or the pool has none; the request body is
// rewound for it. No body writer may be at work (see Response.BodyPending). A budgeted retry holds a
// place in the budget until its server answers (ServeHTTP gives it back).
// again lets a retry go to a server tried already once every one was (the
// retry middleware's: a server that refused a moment ago may take it now).
func (lb *LoadBalancer) retryTo(w http.ResponseWriter, r *http.Request, tried []*pool.Server, replay *replayBody, rec *observe.Record, budgeted, again bool) *pool.Server {
	if replay != nil && !replay.rewindable() {
		return nil
	}
	if budgeted {
		allowed := max(int64(lb.opts.Retry.MinRetries), lb.active.Load()*int64(lb.opts.Retry.BudgetPercent)/100)
		if lb.retrying.Add(1) > allowed {
			lb.retrying.Add(-1)
			return nil
		}
	}
	next := lb.pick(w, r, tried)
	anyServer := false
	if again && (next == nil || slices.Contains(tried, next)) {
		next, anyServer = lb.pick(w, r, nil), true
	}
	// A retry takes a slot like a first try; it does not wait for one.
	if next == nil || (!anyServer && slices.Contains(tried, next)) || !next.TryStart() {
		if budgeted {
			lb.retrying.Add(-1)
		}
		return nil
	}
	switch {
	case replay != nil:
		r.Body = replay.rewind()
	case r.GetBody != nil && r.Body != nil && r.Body != http.NoBody:
		// A body buffered upstream of us (buffering, mirror) replays itself.
		body, err := r.GetBody()
		if err != nil {
			next.Done(false)
			if budgeted {
				lb.retrying.Add(-1)
			}
			return nil
		}
		r.Body = body
	}
	tried[len(tried)-1].NoteRetry()
	lb.retries.Add(1)
	if rec != nil {
		rec.Retries++
	}
	return next
}

// methodBit maps the usual methods to bits of a set.
func methodBit(m string) uint32 {
	switch m {
	case http.MethodGet:
		return 1 << 0
	case http.MethodHead:
		return 1 << 1
	case http.MethodOptions:
		return 1 << 2
	case http.MethodPut:
		return 1 << 3
	case http.MethodDelete:
		return 1 << 4
	case http.MethodPost:
		return 1 << 5
	case http.MethodPatch:
		return 1 << 6
	case http.MethodTrace:
		return 1 << 7
	}
	return 0
}

// keyFunc returns how a hash algorithm computes a request's key.
func keyFunc(algo, hashKey string) func(w http.ResponseWriter, r *http.Request) uint64 {
	switch algo {
	case balance.IPHash:
		return func(w http.ResponseWriter, r *http.Request) uint64 {
			var ip netip.Addr
			if rec := observe.From(w); rec != nil && rec.ClientIP.IsValid() {
				ip = rec.ClientIP
			} else if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
				ip, _ = netip.ParseAddr(host)
			}
			b := ip.As16()
			return balance.HashBytes(b[:])
		}
	case balance.URIHash:
		return func(_ http.ResponseWriter, r *http.Request) uint64 { return balance.HashString(r.URL.Path) }
	case balance.HeaderHash:
		return func(_ http.ResponseWriter, r *http.Request) uint64 {
			if v := r.Header.Get(hashKey); v != "" {
				return balance.HashString(v)
			}
			return rand.Uint64()
		}
	case balance.CookieHash:
		return func(_ http.ResponseWriter, r *http.Request) uint64 {
			if c, err := r.Cookie(hashKey); err == nil && c.Value != "" {
				return balance.HashString(c.Value)
			}
			return rand.Uint64()
		}
	}
	return nil
}
