// Package basicauth implements the basicAuth middleware: HTTP Basic
// authentication (RFC 7617) against htpasswd lines (package passwd).
//
// Password hashes are slow on purpose, so a successful check is remembered
// (the cache type) and a keep-alive client sending the same Authorization on
// every request pays one hash, not one per request. Failures are never
// remembered, and a client that keeps failing is made to wait (package
// backoff). A user who is not there costs the same time as one who is.
//
// What lasts across reloads, kept by the middleware's name (env.Keep): the
// cache (for as long as the users do not change), the failing clients, and
// the bound on checks running at once.
package basicauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/middleware/internal/backoff"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/passwd"
)

const kind = "basicAuth"

// Cache bounds: a remembered check holds for cacheTTL (a password changed
// or a user removed in the file ends it at once: a new file makes a new
// cache), and at most cacheMax are remembered.
const (
	cacheTTL = 5 * time.Minute
	cacheMax = 10000
)

type basicAuth struct {
	next         http.Handler
	name         string
	challenge    []string // the WWW-Authenticate value
	users        *passwd.Users
	cache        *cache
	clients      *backoff.Clients
	slots        chan struct{} // checks at once: each may take argon2id's memory
	checks       atomic.Int64  // password hashes computed (for the tests)
	joined       atomic.Int64  // requests that waited for another's check (for the tests)
	removeHeader bool
	headerField  string // canonical; "" when none
	dec          *env.Decisions
	log          *slog.Logger
}

// New returns the basicAuth middleware named name around next. A request
// without valid credentials gets 401 with a Basic challenge for cfg.Realm
// (default usher); a client with too many failures in a row gets 429 until
// its wait is over (backoff's policy). A request with the credentials of a
// user goes on, the user in the access log (rec.Identity) and in
// cfg.HeaderField, without its Authorization when cfg.RemoveHeader.
func New(ctx context.Context, next http.Handler, cfg *config.BasicAuth, name string) (http.Handler, error) {
	e := env.From(ctx)
	users, digest, err := loadUsers(cfg)
	if err != nil {
		return nil, err
	}
	if users.Len() == 0 {
		return nil, errors.New("basicAuth: no users, in users or usersFile")
	}
	realm := cfg.Realm
	if realm == "" {
		realm = config.AuthRealm
	}
	if strings.ContainsAny(realm, "\"\\\r\n") {
		return nil, fmt.Errorf("basicAuth: realm %q cannot be sent in a challenge", realm)
	}
	b := &basicAuth{
		next: next, name: name, users: users,
		challenge:    []string{`Basic realm="` + realm + `", charset="UTF-8"`},
		removeHeader: cfg.RemoveHeader,
		dec:          e.Decisions(kind, name),
		log:          e.Log.With("middleware", name, "kind", kind),
	}
	if cfg.HeaderField != "" {
		b.headerField = http.CanonicalHeaderKey(cfg.HeaderField)
	}
	key, err := e.Key("basicauth")
	if err != nil {
		return nil, fmt.Errorf("basicAuth: %w", err)
	}
	// The cache is kept only while the users are the same ones: a removed
	// user or a changed password must not live on in it.
	if b.cache, err = env.Keep(e, kind, name, "cache "+digest, func() (*cache, func(), error) {
		return newCache(key, cacheMax, cacheTTL), nil, nil
	}); err != nil {
		return nil, err
	}
	if b.clients, err = env.Keep(e, kind, name, "clients", func() (*backoff.Clients, func(), error) {
		return backoff.New(0), nil, nil
	}); err != nil {
		return nil, err
	}
	if b.slots, err = env.Keep(e, kind, name, "slots", func() (chan struct{}, func(), error) {
		return make(chan struct{}, max(2, runtime.GOMAXPROCS(0))), nil, nil
	}); err != nil {
		return nil, err
	}
	warnLegacy(b.log, cfg.UsersFile, users)
	return b, nil
}

// loadUsers parses cfg's users and reads its file; digest names the whole
// of them, for the cache's key.
func loadUsers(cfg *config.BasicAuth) (*passwd.Users, string, error) {
	h := sha256.New()
	users, err := passwd.Parse(cfg.Users)
	var le *passwd.LineError
	if errors.As(err, &le) {
		return nil, "", fmt.Errorf("basicAuth: users[%d]: %v", le.Line-1, le.Err)
	}
	for _, l := range cfg.Users {
		io.WriteString(h, l+"\n")
	}
	if cfg.UsersFile != "" {
		lines, err := passwd.ReadLines(cfg.UsersFile)
		if err != nil {
			return nil, "", fmt.Errorf("basicAuth: usersFile: %w", err)
		}
		f, err := passwd.Parse(lines)
		if errors.As(err, &le) {
			return nil, "", fmt.Errorf("basicAuth: usersFile: %s:%d: %v", cfg.UsersFile, le.Line, le.Err)
		}
		if users, err = users.Merge(f); err != nil {
			return nil, "", fmt.Errorf("basicAuth: usersFile %s: %v (in users too)", cfg.UsersFile, err)
		}
		io.WriteString(h, "\x00file\n")
		for _, l := range lines {
			io.WriteString(h, l+"\n")
		}
	}
	return users, hex.EncodeToString(h.Sum(nil)), nil
}

// warned is which user sets were already warned about, so that a reload
// does not repeat the warning.
var warned sync.Map

// warnLegacy says once per file (and once for the inline users of each set)
// which users are on hashes kept only for migration.
func warnLegacy(log *slog.Logger, file string, users *passwd.Users) {
	legacy := users.Legacy()
	if len(legacy) == 0 {
		return
	}
	id := file + "\x00" + strings.Join(legacy, "\x00")
	if _, done := warned.LoadOrStore(id, true); done {
		return
	}
	log.Warn("users with SHA-crypt or apr1 hashes, taken for migration only: give them argon2id or bcrypt hashes (usher hash-password)",
		"users", legacy, "usersFile", file)
}

func (b *basicAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, ok := credentials(r.Header)
	if !ok {
		b.unauthorized(w)
		return
	}
	sum := b.cache.sum(raw)
	if id, ok := b.cache.get(sum); ok {
		b.allow(w, r, id)
		return
	}
	ip := backoff.ClientIP(w, r)
	if wait := b.clients.Wait(ip); wait > 0 {
		b.dec.Deny()
		backoff.Refuse(w, wait)
		return
	}
	user, password, ok := decode(raw)
	if !ok {
		b.fail(w, ip, "malformed Basic credentials")
		return
	}
	id, ok := b.check(r.Context(), sum, user, password)
	switch {
	case !ok:
		if rec := observe.From(w); rec != nil && rec.Error == "" {
			rec.Error = observe.ErrClientGone
		}
	case id == nil:
		b.fail(w, ip, "wrong user name or password")
	default:
		b.clients.Succeed(ip)
		b.allow(w, r, id)
	}
}

// flight is one check under way; requests with the same credentials that
// come meanwhile (a browser opening connections in parallel) wait for its
// answer instead of hashing again.
type flight struct {
	done      chan struct{}
	id        *observe.Identity // nil: the password is wrong
	abandoned bool              // its client went away before the check: ask again
}

// check verifies user and password, or waits for the check of the same
// credentials already under way. It returns the identity (nil for wrong
// credentials), and false when ctx ended first.
func (b *basicAuth) check(ctx context.Context, sum [sha256.Size]byte, user, password string) (*observe.Identity, bool) {
	for {
		f, first := b.cache.join(sum)
		if !first {
			b.joined.Add(1)
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, false
			}
			if f.abandoned {
				continue
			}
			return f.id, true
		}
		select {
		case b.slots <- struct{}{}:
		case <-ctx.Done():
			b.cache.land(sum, f, nil, true)
			return nil, false
		}
		b.checks.Add(1)
		var id *observe.Identity
		if b.users.Verify(user, password) {
			id = &observe.Identity{Middleware: b.name, User: user}
		}
		<-b.slots
		b.cache.land(sum, f, id, false)
		return id, true
	}
}

// credentials returns the base64 of the one Authorization: Basic field.
// Two Authorization fields are none: which one a server behind would read
// is anyone's guess.
func credentials(h http.Header) (string, bool) {
	v := h["Authorization"]
	if len(v) != 1 || len(v[0]) < 6 || !strings.EqualFold(v[0][:6], "basic ") {
		return "", false
	}
	return strings.TrimLeft(v[0][6:], " "), true
}

// decode splits base64(user:password) (RFC 7617 §2).
func decode(raw string) (user, password string, ok bool) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimRight(raw, " "))
	if err != nil {
		return "", "", false
	}
	user, password, ok = strings.Cut(string(b), ":")
	return user, password, ok && user != ""
}

func (b *basicAuth) allow(w http.ResponseWriter, r *http.Request, id *observe.Identity) {
	b.dec.Allow()
	if b.removeHeader {
		delete(r.Header, "Authorization")
	}
	if b.headerField != "" {
		r.Header[b.headerField] = []string{id.User}
	}
	if rec := observe.From(w); rec != nil {
		rec.Identity = id
	}
	b.next.ServeHTTP(w, r)
}

// fail answers a failed check; never logs what was sent.
func (b *basicAuth) fail(w http.ResponseWriter, ip netip.Addr, why string) {
	// Logged when the waits begin, not at each failure: an attack must not
	// flood the log.
	if b.clients.Fail(ip) == backoff.First {
		b.log.Warn("failed logins in a row: the client waits before its next tries are checked", "client", ip.String(), "failures", backoff.Free+1)
	}
	b.log.Debug("authentication failed", "reason", why, "client", ip.String())
	b.unauthorized(w)
}

var unauthorizedBody = []byte("401 Unauthorized\n")

func (b *basicAuth) unauthorized(w http.ResponseWriter) {
	b.dec.Deny()
	h := w.Header()
	h["Www-Authenticate"] = b.challenge
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["Cache-Control"] = []string{"no-store"}
	w.WriteHeader(http.StatusUnauthorized)
	w.Write(unauthorizedBody)
}

// cache remembers successful checks by a keyed hash (HMAC-SHA-256 with a
// key of usher's) of the Authorization value: what it holds in memory
// cannot be turned back into a password, nor tried offline without the
// key. Its methods are safe for concurrent use.
type cache struct {
	mu   sync.RWMutex
	m    map[[sha256.Size]byte]cached
	max  int
	ttl  time.Duration
	macs sync.Pool // of *mac: hmac.New per request costs more than the lookup

	flightMu sync.Mutex
	flights  map[[sha256.Size]byte]*flight // checks under way; never longer than one hash
	now      func() time.Time
}

type cached struct {
	id      *observe.Identity // shared, read-only
	expires int64             // unix nanoseconds
}

func newCache(key []byte, max int, ttl time.Duration) *cache {
	c := &cache{m: map[[sha256.Size]byte]cached{}, max: max, ttl: ttl, now: time.Now, flights: map[[sha256.Size]byte]*flight{}}
	key = append([]byte(nil), key...)
	c.macs.New = func() any { return &mac{h: hmac.New(sha256.New, key)} }
	return c
}

// mac is an HMAC with a buffer for its input and output, so that a sum
// does not allocate.
type mac struct {
	h   hash.Hash
	buf []byte
}

func (c *cache) sum(raw string) (s [sha256.Size]byte) {
	m := c.macs.Get().(*mac)
	m.h.Reset()
	m.buf = append(m.buf[:0], raw...)
	m.h.Write(m.buf)
	m.buf = m.h.Sum(m.buf[:0])
	copy(s[:], m.buf)
	c.macs.Put(m)
	return s
}

func (c *cache) get(s [sha256.Size]byte) (*observe.Identity, bool) {
	c.mu.RLock()
	e, ok := c.m[s]
	c.mu.RUnlock()
	if !ok || c.now().UnixNano() >= e.expires {
		return nil, false
	}
	return e.id, true
}

func (c *cache) put(s [sha256.Size]byte, id *observe.Identity) {
	now := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k, e := range c.m {
			if now >= e.expires {
				delete(c.m, k)
			}
		}
		// Still full of live entries: an eighth go, whichever the map
		// gives first; they cost their clients one more hash.
		for k := range c.m {
			if len(c.m) < c.max-c.max/8 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[s] = cached{id: id, expires: now + int64(c.ttl)}
}

// join returns the check under way for s, or starts one (first).
func (c *cache) join(s [sha256.Size]byte) (f *flight, first bool) {
	c.flightMu.Lock()
	defer c.flightMu.Unlock()
	if f := c.flights[s]; f != nil {
		return f, false
	}
	f = &flight{done: make(chan struct{})}
	c.flights[s] = f
	return f, true
}

// land ends the check f of s: a success is remembered, and whoever waits
// for f is told.
func (c *cache) land(s [sha256.Size]byte, f *flight, id *observe.Identity, abandoned bool) {
	if id != nil {
		c.put(s, id)
	}
	c.flightMu.Lock()
	delete(c.flights, s)
	c.flightMu.Unlock()
	f.id, f.abandoned = id, abandoned
	close(f.done)
}

func (c *cache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
