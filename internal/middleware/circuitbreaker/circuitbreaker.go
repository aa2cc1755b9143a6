// Package circuitbreaker implements the circuitBreaker middleware, as
// Traefik's: it watches the last 10 seconds of the traffic it lets through
// (network errors, statuses, latencies) and, when its expression holds,
// stops sending requests to what is behind it for a while.
//
// States:
//   - closed: every request goes through and is counted; every checkPeriod
//     (at the first request after it is due) the expression is evaluated on
//     the window, and when it holds the circuit opens.
//   - open: for fallbackDuration every request is answered at once with
//     responseCode (503), Retry-After saying when it may recover, and plain
//     text; an errors middleware around the breaker turns that into its page.
//     Opening forgets the window: recovery is judged on what comes after.
//   - recovering: for recoveryDuration a share of requests goes through that
//     ramps linearly from none to all, the others answered as when open;
//     those let through are counted, the expression still evaluated every
//     checkPeriod, and when it holds the circuit opens again. At the end of
//     the ramp it is closed.
//
// The hot path takes no lock: a request reads the state and records itself
// in the window with atomic adds; the evaluation and the changes of state
// take the breaker's lock, at most once per checkPeriod.
//
// The state (window included) is kept across reloads while the middleware
// keeps its name and its expression (compared in canonical form: spacing
// does not matter); the other keys take effect at once. Routers that name
// the same middleware share one breaker.
//
// Network errors are the requests whose server gave no usable response
// (connection refused or reset, a timeout, a body cut short), as the
// request's observe.Record tells; without a Record (a handler used outside
// usher's entrypoints), a 502 or 504.
package circuitbreaker

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/circuitbreaker/expr"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/observe"
)

const kind = "circuitBreaker"

// The states of a breaker, as the log and the metric name them.
const (
	closed int32 = iota
	open
	recovering
)

var stateNames = [...]string{"closed", "open", "recovering"}

// state is what a breaker keeps across reloads.
type state struct {
	clock func() int64 // nanoseconds, monotonic
	win   *window

	st        atomic.Int32
	until     atomic.Int64 // open: when recovery starts; recovering: when it ends
	since     atomic.Int64 // recovering: when it started
	nextCheck atomic.Int64
	seen      atomic.Int64 // recovering: requests that asked

	mu sync.Mutex // evaluations and changes of state
	s  stats      // under mu: the window's sums, reused
}

// newState returns a closed breaker's state whose first evaluation is a
// check period away.
func newState(clock func() int64, check int64) *state {
	st := &state{clock: clock, win: newWindow()}
	st.nextCheck.Store(clock() + check)
	return st
}

// monotonic is the breakers' clock: nanoseconds since the process started,
// immune to changes of the wall clock.
var monotonic = func() func() int64 {
	start := time.Now()
	return func() int64 { return int64(time.Since(start)) }
}()

// Breaker is the middleware.
type Breaker struct {
	next     http.Handler
	name     string
	st       *state
	expr     *expr.Expr
	check    int64 // nanoseconds
	fallback int64
	recovery int64
	code     int
	body     []byte
	log      *slog.Logger
	dec      *env.Decisions
	changes  [len(stateNames)]observe.Counter
}

// New returns the circuitBreaker middleware called name around next.
func New(ctx context.Context, next http.Handler, cfg *config.CircuitBreaker, name string) (http.Handler, error) {
	return build(ctx, next, cfg, name, monotonic)
}

func build(ctx context.Context, next http.Handler, cfg *config.CircuitBreaker, name string, clock func() int64) (*Breaker, error) {
	e, err := expr.Parse(cfg.Expression)
	if err != nil {
		return nil, fmt.Errorf("circuitBreaker: expression: %w", err)
	}
	dur := func(d config.Duration, def time.Duration) int64 {
		if d <= 0 {
			return int64(def)
		}
		return int64(d)
	}
	code := cfg.ResponseCode
	if code == 0 {
		code = config.CircuitBreakerResponseCode
	}
	if code < 200 || code > 599 {
		return nil, fmt.Errorf("circuitBreaker: responseCode %d is not a status from 200 to 599", code)
	}
	check := dur(cfg.CheckPeriod, config.CircuitBreakerCheckPeriod)
	ev := env.From(ctx)
	st, err := env.Keep(ev, kind, name, e.String(), func() (*state, func(), error) {
		return newState(clock, check), nil, nil
	})
	if err != nil {
		return nil, err
	}
	b := &Breaker{
		next:     next,
		name:     name,
		st:       st,
		expr:     e,
		check:    check,
		fallback: dur(cfg.FallbackDuration, config.CircuitBreakerFallbackDuration),
		recovery: dur(cfg.RecoveryDuration, config.CircuitBreakerRecoveryDuration),
		code:     code,
		body:     []byte(http.StatusText(code) + "\n"),
		log:      ev.Log,
		dec:      ev.Decisions(kind, name),
	}
	if len(b.body) == 1 {
		b.body = []byte(strconv.Itoa(code) + "\n")
	}
	for i, n := range stateNames {
		b.changes[i] = ev.StateChanges(kind, name, n)
	}
	return b, nil
}

// State is the breaker's state: closed, open or recovering.
func (b *Breaker) State() string { return stateNames[b.st.st.Load()] }

func (b *Breaker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := b.st
	start := st.clock()
	if !b.admit(start) {
		b.dec.Deny()
		b.refuse(w, start)
		return
	}
	b.dec.Allow()
	rec := observe.From(w)
	sw := statusWriters.Get().(*statusWriter)
	sw.ResponseWriter = w
	b.next.ServeHTTP(sw, r)
	end := st.clock()
	var netErr bool
	if rec != nil {
		switch rec.Error {
		case observe.ErrUpstream, observe.ErrUpstreamTimeout, observe.ErrUpstreamTruncated:
			netErr = true
		}
	} else {
		netErr = sw.status == http.StatusBadGateway || sw.status == http.StatusGatewayTimeout
	}
	d := time.Duration(end - start)
	if sw.hijacked {
		// An upgraded connection's time is the session's, not a response's.
		d = 0
	}
	status := sw.status
	switch {
	case status != 0:
	case rec != nil && rec.Error == observe.ErrClientGone:
		// The client left before any answer: 499, as the access log says,
		// not the 200 of a response that was never sent.
		status = 499
	default:
		status = http.StatusOK
	}
	*sw = statusWriter{}
	statusWriters.Put(sw)
	st.win.record(end, status, netErr, d)
	if end >= st.nextCheck.Load() {
		b.evaluate(end)
	}
}

// admit tells whether a request arriving at now goes through, moving from
// open to recovering and from recovering to closed when their time is up.
func (b *Breaker) admit(now int64) bool {
	st := b.st
	for {
		switch st.st.Load() {
		case closed:
			return true
		case open:
			if now < st.until.Load() {
				return false
			}
			b.change(now, open, recovering)
		case recovering:
			if now >= st.until.Load() {
				b.change(now, recovering, closed)
				continue
			}
			// The share let through follows the ramp: request n goes when
			// n·share crosses a whole number, so that at any moment that
			// share of the requests goes, evenly spread, whatever came before.
			share := float64(now-st.since.Load()) / float64(b.recovery)
			n := float64(st.seen.Add(1))
			return math.Floor(n*share) > math.Floor((n-1)*share)
		}
	}
}

// evaluate evaluates the expression on the window, once per checkPeriod,
// and opens the circuit when it holds.
func (b *Breaker) evaluate(now int64) {
	st := b.st
	if !st.mu.TryLock() {
		return // another request is evaluating, or changing the state
	}
	defer st.mu.Unlock()
	if now < st.nextCheck.Load() {
		return // another request did it
	}
	st.nextCheck.Store(now + b.check)
	from := st.st.Load()
	if from == open {
		return
	}
	st.win.sum(now, &st.s)
	if b.expr.Eval(&st.s) {
		b.changeLocked(now, from, open)
	}
}

func (b *Breaker) change(now int64, from, to int32) {
	b.st.mu.Lock()
	defer b.st.mu.Unlock()
	b.changeLocked(now, from, to)
}

// changeLocked moves the breaker from from to to, unless another request
// already moved it. The times of the new state are stored before the state,
// so that whoever reads the state reads its times.
func (b *Breaker) changeLocked(now int64, from, to int32) {
	st := b.st
	if st.st.Load() != from {
		return
	}
	switch to {
	case open:
		st.until.Store(now + b.fallback)
		st.win.reset()
		b.log.Warn("circuit breaker open", "middleware", b.name, "expression", b.expr.String(),
			"for", time.Duration(b.fallback).String(), "from", stateNames[from],
			"networkErrorRatio", st.s.NetworkErrorRatio(), "requests", st.s.total)
	case recovering:
		st.seen.Store(0)
		st.since.Store(now)
		st.until.Store(now + b.recovery)
		b.log.Info("circuit breaker recovering", "middleware", b.name, "for", time.Duration(b.recovery).String())
	case closed:
		b.log.Info("circuit breaker closed", "middleware", b.name)
	}
	st.st.Store(to)
	b.changes[to].Inc()
}

// refuse answers a request the breaker holds back.
func (b *Breaker) refuse(w http.ResponseWriter, now int64) {
	retry := int64(1)
	if b.st.st.Load() == open {
		if left := b.st.until.Load() - now; left > 0 {
			retry = (left + int64(time.Second) - 1) / int64(time.Second)
		}
	}
	h := w.Header()
	h["Retry-After"] = []string{strconv.FormatInt(retry, 10)}
	h["Content-Type"] = plainText
	h["X-Content-Type-Options"] = nosniff
	h["Content-Length"] = []string{strconv.Itoa(len(b.body))}
	w.WriteHeader(b.code)
	w.Write(b.body)
}

var (
	plainText = []string{"text/plain; charset=utf-8"}
	nosniff   = []string{"nosniff"}
)

var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

// statusWriter learns the status of the response, keeping Flush and, through
// Unwrap, the rest (Hijack, deadlines, the Record) reachable.
type statusWriter struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	if code == http.StatusSwitchingProtocols {
		s.hijacked = true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack hands the connection over (an upgrade), marking the request so.
func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	s.hijacked = true
	if s.status == 0 {
		s.status = http.StatusSwitchingProtocols
	}
	return http.NewResponseController(s.ResponseWriter).Hijack()
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
