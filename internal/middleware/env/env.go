// Package env is what a middleware is built with besides its own config: a
// logger, the data directory, a counter of its decisions, and state it keeps
// across reloads by name (verification caches, JWKS, sessions, rate-limit
// buckets), with an owner that stops whatever that state runs.
//
// The runtime puts an Env in the context of every middleware constructor
// (New(ctx, next, cfg, name)); From finds it, and gives a standalone one when
// there is none (tests, a constructor called by hand), so that a middleware
// never checks for nil.
//
// The life of kept state follows the snapshot's (see package runtime): a
// compile asks Keep for each value by key, getting the value an earlier
// snapshot kept under that key or making it; nothing changes until the
// compile's Build is committed (its snapshot published), when values that no
// snapshot asked for any more are stopped, or aborted (the config refused),
// when values made for it are stopped. A value is shared by the snapshots
// that asked for it: requests still running on the old one keep using it.
package env

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/usher-lb/usher/internal/observe"
)

// Env is a middleware's environment. Its fields are read-only.
type Env struct {
	// Log is usher's log, never nil. A middleware logs its decisions' reasons
	// at debug level and what an operator must act on at warn; never a
	// credential, token or cookie.
	Log *slog.Logger
	// DataDir is where usher keeps what it generates (keys), "" when none:
	// a middleware then makes what it needs per process.
	DataDir string

	metrics *observe.Metrics // nil: decisions are not counted
	redis   *redis.Client    // nil: no redis section
	build   *Build           // nil: Keep makes a value that nothing stops
	service func(name string) (http.Handler, bool)
}

// Service returns the handler of the HTTP service called name in the
// snapshot being compiled (the errors middleware asks one for its pages), or
// an error when the config has no such service or it did not compile.
func (e *Env) Service(name string) (http.Handler, error) {
	if e.service == nil {
		return nil, fmt.Errorf("service %q: no services here", name)
	}
	h, ok := e.service(name)
	if !ok || h == nil {
		return nil, fmt.Errorf("service %q does not exist", name)
	}
	return h, nil
}

// ErrNoRedis is what Redis returns without a static redis section.
var ErrNoRedis = errors.New("store: redis needs the static `redis` section (redis: { address: host:port })")

// Redis is the process's one Redis connection pool (the static redis
// section), shared by every middleware whose store is redis; ErrNoRedis when
// the config has none. The pool is usher's: never close it.
func (e *Env) Redis() (*redis.Client, error) {
	if e.redis == nil {
		return nil, ErrNoRedis
	}
	return e.redis, nil
}

var (
	keysMu sync.Mutex
	keys   = map[string][]byte{} // by path, or by name when there is no data dir
)

// Key returns the secret key called name (32 random bytes): read from
// DataDir/name.key, or made and written there (0600) the first time, so that
// what it seals or signs survives restarts and is shared by the usher
// instances sharing the directory. Without a data directory the key is made
// once per process. name is a plain file name ("session", "portal").
func (e *Env) Key(name string) ([]byte, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("env: bad key name %q", name)
	}
	id := "\x00" + name
	if e.DataDir != "" {
		id = filepath.Join(e.DataDir, name+".key")
	}
	keysMu.Lock()
	defer keysMu.Unlock()
	if k, ok := keys[id]; ok {
		return k, nil
	}
	fresh := make([]byte, 32)
	rand.Read(fresh)
	if e.DataDir == "" {
		keys[id] = fresh
		return fresh, nil
	}
	b, err := os.ReadFile(id)
	switch {
	case err == nil:
		k, derr := hex.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(k) < 32 {
			return nil, fmt.Errorf("key file %s is not a hex key of 32 bytes or more", id)
		}
		keys[id] = k
		return k, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read key: %w", err)
	}
	if err := os.MkdirAll(e.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	// Written whole to a temporary file, then linked in place: of two
	// processes making the key at once, one wins and the other reads the
	// winner's key, never a half-written one.
	tmp, err := os.CreateTemp(e.DataDir, "."+name+".key-*")
	if err != nil {
		return nil, fmt.Errorf("write key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(hex.EncodeToString(fresh) + "\n")
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp.Name(), 0o600)
	}
	if werr != nil {
		return nil, fmt.Errorf("write key: %w", werr)
	}
	if err := os.Link(tmp.Name(), id); errors.Is(err, fs.ErrExist) {
		b, rerr := os.ReadFile(id)
		k, derr := hex.DecodeString(strings.TrimSpace(string(b)))
		if rerr != nil || derr != nil || len(k) < 32 {
			return nil, fmt.Errorf("key file %s is not a hex key of 32 bytes or more", id)
		}
		keys[id] = k
		return k, nil
	} else if err != nil {
		return nil, fmt.Errorf("write key: %w", err)
	}
	keys[id] = fresh
	return fresh, nil
}

type ctxKey struct{}

// With returns ctx carrying e.
func With(ctx context.Context, e *Env) context.Context { return context.WithValue(ctx, ctxKey{}, e) }

// From returns the Env in ctx, or a standalone one: log discarded, no data
// directory, decisions not counted, kept values made afresh.
func From(ctx context.Context) *Env {
	if e, ok := ctx.Value(ctxKey{}).(*Env); ok && e != nil {
		return e
	}
	return &Env{Log: slog.New(slog.DiscardHandler)}
}

// Config is what the runtime builds Envs from; zero fields mean none.
type Config struct {
	Log     *slog.Logger
	DataDir string
	Metrics *observe.Metrics
	Redis   *redis.Client
	// Service finds a service of the snapshot by name (see Env.Service).
	Service func(name string) (http.Handler, bool)
}

// New returns an Env for one compile: kept values are taken from and added to
// build (nil: made afresh each time, never stopped).
func New(c Config, build *Build) *Env {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return &Env{Log: c.Log, DataDir: c.DataDir, metrics: c.Metrics, redis: c.Redis, build: build, service: c.Service}
}

// Decisions counts what the middleware name (of kind) decided, in
// usher_middleware_decisions_total{middleware, kind, result}. Its methods are
// safe on the request path: the counters are resolved here, once.
type Decisions struct {
	allow, deny, fail observe.Counter
}

// Decisions returns the counters of middleware name, of kind (e.g.
// "basicAuth"). Call it in the constructor, not per request.
func (e *Env) Decisions(kind, name string) *Decisions {
	if e.metrics == nil {
		return &Decisions{}
	}
	return &Decisions{
		allow: e.metrics.Decision(kind, name, "allow"),
		deny:  e.metrics.Decision(kind, name, "deny"),
		fail:  e.metrics.Decision(kind, name, "error"),
	}
}

// Allow counts a request let through.
func (d *Decisions) Allow() { d.allow.Inc() }

// Deny counts a request refused because of what the client sent (no or bad
// credentials, over a limit, a forbidden origin).
func (d *Decisions) Deny() { d.deny.Inc() }

// Fail counts a request refused because the middleware could not decide (an
// auth server or a store down): usher's or a peer's failure, not the
// client's.
func (d *Decisions) Fail() { d.fail.Inc() }

// StateChanges returns the counter of the changes of middleware name (of
// kind) to state, in usher_middleware_state_changes_total{kind, middleware,
// state}: for middlewares with states, such as a circuit breaker (closed,
// open, recovering). Call it in the constructor, not per request.
func (e *Env) StateChanges(kind, name, state string) observe.Counter {
	return e.metrics.StateChange(kind, name, state)
}

// Keep returns the value kept under (kind, name, key): the one an earlier
// snapshot kept, or a new one made by mk. key tells apart what a change of
// config must not share (e.g. a digest of the settings the state depends
// on); "" when any value of the middleware will do. mk returns the value and
// the function that stops it (its goroutines, its connections), or nil when
// there is nothing to stop; an error of mk is returned as it is.
//
// Values are shared between the middlewares of one compile that ask for the
// same key, and with earlier snapshots: they must be safe for concurrent use.
// Asking for a key with another type than the value kept is an error.
func Keep[T any](e *Env, kind, name, key string, mk func() (T, func(), error)) (T, error) {
	var zero T
	if e.build == nil {
		v, _, err := mk()
		return v, err
	}
	id := kind + "\x00" + name + "\x00" + key
	v, err := e.build.get(id, func() (any, func(), error) {
		v, stop, err := mk()
		return v, stop, err
	})
	if err != nil {
		return zero, err
	}
	t, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("%s %s: kept state is %T, not %T", kind, name, v, zero)
	}
	return t, nil
}

// Store holds the values kept across snapshots. It is owned by the runtime's
// State; its methods are safe for concurrent use.
type Store struct {
	mu     sync.Mutex
	items  map[string]*item
	closed bool
}

type item struct {
	v    any
	stop func()
}

func (it *item) close() {
	if it.stop != nil {
		it.stop()
	}
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{items: map[string]*item{}} }

// Begin starts the Build of one compile.
func (s *Store) Begin() *Build {
	return &Build{s: s, used: map[string]*item{}}
}

// Close stops every value kept (at shutdown). Later builds keep nothing.
func (s *Store) Close() {
	s.mu.Lock()
	items := s.items
	s.items = map[string]*item{}
	s.closed = true
	s.mu.Unlock()
	for _, it := range items {
		it.close()
	}
}

// Len is the number of values kept (for tests and the admin API).
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}

// Build is what one compile takes from and adds to a Store. Exactly one of
// Commit and Abort ends it.
type Build struct {
	s       *Store
	mu      sync.Mutex
	used    map[string]*item
	created []*item
	done    bool
}

func (b *Build) get(id string, mk func() (any, func(), error)) (any, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if it, ok := b.used[id]; ok {
		return it.v, nil
	}
	b.s.mu.Lock()
	it, ok := b.s.items[id]
	b.s.mu.Unlock()
	if !ok {
		v, stop, err := mk()
		if err != nil {
			return nil, err
		}
		it = &item{v: v, stop: stop}
		b.created = append(b.created, it)
	}
	b.used[id] = it
	return it.v, nil
}

// Commit makes the build's values the kept ones, once its snapshot is
// published, and stops those no longer asked for.
func (b *Build) Commit() {
	b.mu.Lock()
	if b.done {
		b.mu.Unlock()
		return
	}
	b.done = true
	used := b.used
	b.mu.Unlock()
	s := b.s
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		for _, it := range used {
			it.close()
		}
		return
	}
	old := s.items
	s.items = used
	s.mu.Unlock()
	for id, it := range old {
		if used[id] != it {
			it.close()
		}
	}
}

// Abort stops the values made for the build, which no snapshot will use; the
// store is as it was.
func (b *Build) Abort() {
	b.mu.Lock()
	if b.done {
		b.mu.Unlock()
		return
	}
	b.done = true
	created := b.created
	b.mu.Unlock()
	for _, it := range created {
		it.close()
	}
}
