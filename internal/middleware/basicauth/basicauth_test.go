package basicauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/middleware/internal/backoff"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/passwd"
)

// Users of the tests: alice on bcrypt (cost 4, fast), bob on apr1 (for
// migration), carol on argon2id (small, from the reference CLI: echo -n password |
// argon2 somesalt -id -t 1 -m 10 -p 1).
const (
	aliceLine = "alice:$2y$04$OPhjE.JmJ1OQU7.k7Jeiseu4aNDZKB7YSoQ17HuTq7MaDZlIr62nm" // "wonderland"
	bobLine   = "bob:$apr1$r31.....$ARC3pREO82RIm0aQ2zszC0"                          // "password"
	carolLine = "carol:$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHQ$yOmu3JVvan3/Ck1ClA32KGI/Mo6hI1AFq6yTPFcJPiM"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type setup struct {
	b       *basicAuth
	logs    *lockedBuffer
	metrics *observe.Metrics
	seen    http.Header // the last request the server got
}

func newSetup(t *testing.T, cfg *config.BasicAuth) *setup {
	t.Helper()
	s := &setup{logs: &lockedBuffer{}, metrics: observe.NewMetrics()}
	log := slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := env.With(context.Background(), env.New(env.Config{Log: log, Metrics: s.metrics}, nil))
	h, err := New(ctx, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.seen = r.Header.Clone()
		w.WriteHeader(200)
	}), cfg, "basic")
	if err != nil {
		t.Fatal(err)
	}
	s.b = h.(*basicAuth)
	return s
}

// do sends a request from ip with the given Authorization fields.
func (s *setup) do(ip string, auth ...string) (*httptest.ResponseRecorder, *observe.Record) {
	r := httptest.NewRequest("GET", "http://shop.example.com/orders", nil)
	r.RemoteAddr = ip + ":4000"
	for _, a := range auth {
		r.Header.Add("Authorization", a)
	}
	r.Header.Set("X-Auth-User", "admin") // a forgery
	w := httptest.NewRecorder()
	rw := observe.NewRecorder(w)
	s.seen = nil
	s.b.ServeHTTP(rw, r)
	return w, &rw.Rec
}

func basic(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

func TestBasicAuth(t *testing.T) {
	s := newSetup(t, &config.BasicAuth{Users: []string{aliceLine, bobLine, carolLine}, Realm: "shop", HeaderField: "X-Auth-User", RemoveHeader: true})
	for i, tc := range []struct {
		name string
		auth []string
		user string // "" when refused
	}{
		{"bcrypt", []string{basic("alice", "wonderland")}, "alice"},
		{"apr1", []string{basic("bob", "password")}, "bob"},
		{"argon2id", []string{basic("carol", "password")}, "carol"},
		{"scheme in any case, spaces before the credentials", []string{"bASIC   " + base64.StdEncoding.EncodeToString([]byte("alice:wonderland"))}, "alice"},
		{"no credentials", nil, ""},
		{"wrong password", []string{basic("alice", "wonderlanD")}, ""},
		{"another user's password", []string{basic("alice", "password")}, ""},
		{"unknown user", []string{basic("mallory", "wonderland")}, ""},
		{"empty user", []string{basic("", "wonderland")}, ""},
		{"no colon", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("alice"))}, ""},
		{"not base64", []string{"Basic !!!"}, ""},
		{"URL-safe base64 is not Basic's", []string{"Basic " + base64.URLEncoding.EncodeToString([]byte("alice:wonderland?>"))}, ""},
		{"another scheme", []string{"Bearer " + base64.StdEncoding.EncodeToString([]byte("alice:wonderland"))}, ""},
		{"two fields", []string{basic("alice", "wonderland"), basic("bob", "password")}, ""},
		{"Basic alone", []string{"Basic"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, rec := s.do("198.51.100."+strconv.Itoa(i+1), tc.auth...)
			if tc.user == "" {
				if w.Code != 401 || s.seen != nil {
					t.Fatalf("status %d, server reached %v: want 401", w.Code, s.seen != nil)
				}
				if c := w.Header().Get("WWW-Authenticate"); c != `Basic realm="shop", charset="UTF-8"` {
					t.Errorf("challenge %q", c)
				}
				if rec.Identity != nil {
					t.Errorf("identity %+v on a refusal", rec.Identity)
				}
				return
			}
			if w.Code != 200 || s.seen == nil {
				t.Fatalf("status %d: want the server's 200", w.Code)
			}
			if v := s.seen.Values("X-Auth-User"); len(v) != 1 || v[0] != tc.user {
				t.Errorf("server got X-Auth-User %q, want only %q", v, tc.user)
			}
			if a := s.seen.Get("Authorization"); a != "" {
				t.Errorf("server got Authorization %q with removeHeader", a)
			}
			if rec.Identity == nil || rec.Identity.User != tc.user || rec.Identity.Middleware != "basic" {
				t.Errorf("identity %+v", rec.Identity)
			}
		})
	}
	logs := s.logs.String()
	for _, secret := range []string{"wonderland", "wonderlanD", base64.StdEncoding.EncodeToString([]byte("alice:wonderland")), "$2y$04$", "ARC3pREO"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log shows %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, "reason=\"wrong user name or password\"") {
		t.Errorf("no debug line for a wrong password:\n%s", logs)
	}
}

func TestKeepsAuthorizationWithoutRemoveHeader(t *testing.T) {
	s := newSetup(t, &config.BasicAuth{Users: []string{aliceLine}})
	w, _ := s.do("198.51.100.7", basic("alice", "wonderland"))
	if w.Code != 200 || s.seen.Get("Authorization") != basic("alice", "wonderland") {
		t.Fatalf("status %d, Authorization %q: want it forwarded", w.Code, s.seen.Get("Authorization"))
	}
	if s.seen.Get("X-Auth-User") != "admin" {
		t.Error("without headerField the request's own headers are the client's business")
	}
	w, _ = s.do("198.51.100.7")
	if c := w.Header().Get("WWW-Authenticate"); c != `Basic realm="usher", charset="UTF-8"` {
		t.Errorf("default realm: challenge %q", c)
	}
}

// TestCache: a success is remembered, so the next request with the same
// credentials does not hash (here: it passes while every check slot is
// taken, where a hash would wait); failures are never remembered.
func TestCache(t *testing.T) {
	s := newSetup(t, &config.BasicAuth{Users: []string{aliceLine, carolLine}})
	if w, _ := s.do("198.51.100.7", basic("carol", "wrong")); w.Code != 401 || s.b.cache.len() != 0 {
		t.Fatalf("status %d, %d cached: a failure must not be cached", w.Code, s.b.cache.len())
	}
	if w, _ := s.do("198.51.100.7", basic("carol", "password")); w.Code != 200 || s.b.cache.len() != 1 {
		t.Fatalf("status %d, %d cached", w.Code, s.b.cache.len())
	}
	for range cap(s.b.slots) {
		s.b.slots <- struct{}{}
	}
	defer func() {
		for range cap(s.b.slots) {
			<-s.b.slots
		}
	}()
	done := make(chan int)
	go func() {
		w, rec := s.do("198.51.100.8", basic("carol", "password"))
		if rec.Identity == nil || rec.Identity.User != "carol" {
			w.Code = -1
		}
		done <- w.Code
	}()
	select {
	case code := <-done:
		if code != 200 {
			t.Fatalf("cached credentials: status %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cached credentials waited for a check slot: they were hashed again")
	}
	// Other credentials do wait for a slot; a client that goes away stops waiting.
	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequest("GET", "http://shop/", nil).WithContext(ctx)
	r.Header.Set("Authorization", basic("alice", "wonderland"))
	go cancel()
	w := httptest.NewRecorder()
	s.b.ServeHTTP(observe.NewRecorder(w), r)
	if s.seen != nil && s.seen.Get("Authorization") == basic("alice", "wonderland") {
		t.Error("uncached credentials passed without a check")
	}
	// The cache is keyed by a keyed hash: the credentials are not in it.
	for k := range s.b.cache.m {
		if bytes.Contains(k[:], []byte("carol")) {
			t.Error("the cache key holds the credentials")
		}
	}
	// Expired entries are not used.
	now := time.Now().Add(cacheTTL + time.Second)
	s.b.cache.now = func() time.Time { return now }
	if _, ok := s.b.cache.get(s.b.cache.sum(basic("carol", "password")[6:])); ok {
		t.Error("an entry older than the TTL is used")
	}
}

func TestCacheIsBounded(t *testing.T) {
	c := newCache([]byte("k"), 64, time.Minute)
	id := &observe.Identity{User: "a"}
	for i := range 1000 {
		c.put(c.sum(strconv.Itoa(i)), id)
		if c.len() > 64 {
			t.Fatalf("%d entries, max 64", c.len())
		}
	}
	if _, ok := c.get(c.sum("999")); !ok {
		t.Error("the newest entry is gone")
	}
}

// TestFailuresSlowDown: after backoff.Free failures in a row a client is
// refused with 429 and Retry-After, without a check; another client is
// not; a client already let in (cached) still is.
func TestFailuresSlowDown(t *testing.T) {
	s := newSetup(t, &config.BasicAuth{Users: []string{aliceLine}})
	if w, _ := s.do("203.0.113.9", basic("alice", "wonderland")); w.Code != 200 {
		t.Fatal(w.Code)
	}
	for i := range backoff.Free + 1 {
		if w, _ := s.do("203.0.113.9", basic("alice", "guess"+strconv.Itoa(i))); w.Code != 401 {
			t.Fatalf("failure %d: status %d, want 401", i+1, w.Code)
		}
	}
	w, _ := s.do("203.0.113.9", basic("alice", "guess-again"))
	if w.Code != 429 || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("after %d failures: status %d Retry-After %q, want 429 and 1", backoff.Free+1, w.Code, w.Header().Get("Retry-After"))
	}
	if w, _ := s.do("203.0.113.9", basic("alice", "wonderland")); w.Code != 200 {
		t.Errorf("cached credentials during the wait: status %d, want 200", w.Code)
	}
	if w, _ := s.do("203.0.113.10", basic("alice", "nope")); w.Code != 401 {
		t.Errorf("another client: status %d, want 401", w.Code)
	}
	var buf bytes.Buffer
	if err := writeMetrics(&buf, s.metrics); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`usher_middleware_decisions_total{kind="basicAuth",middleware="basic",result="allow"} 2`,
		`usher_middleware_decisions_total{kind="basicAuth",middleware="basic",result="deny"} 8`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, grep(buf.String(), "decisions"))
		}
	}
}

func grep(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func writeMetrics(buf *bytes.Buffer, m *observe.Metrics) error {
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	buf.Write(w.Body.Bytes())
	return nil
}

// TestUnknownUserTakesAsLong: a name that is not there is checked against
// a real hash too, so timing does not tell which names exist.
func TestUnknownUserTakesAsLong(t *testing.T) {
	h, err := passwd.HashBcrypt("x", 6)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := passwd.Parse([]string{"alice:" + h})
	median := func(user string) time.Duration {
		var d [5]time.Duration
		for i := range d {
			start := time.Now()
			u.Verify(user, "wrong")
			d[i] = time.Since(start)
		}
		for i := range d {
			for j := i + 1; j < len(d); j++ {
				if d[j] < d[i] {
					d[i], d[j] = d[j], d[i]
				}
			}
		}
		return d[2]
	}
	known, unknown := median("alice"), median("mallory")
	if unknown < known/2 {
		t.Errorf("unknown user: %s, known user with a wrong password: %s", unknown, known)
	}
}

func TestUsersFileAndLegacyWarning(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users")
	os.WriteFile(path, []byte("# migrated\n"+bobLine+"\n"), 0o600)
	s := newSetup(t, &config.BasicAuth{Users: []string{aliceLine}, UsersFile: path})
	for user, pw := range map[string]string{"alice": "wonderland", "bob": "password"} {
		if w, _ := s.do("198.51.100.7", basic(user, pw)); w.Code != 200 {
			t.Errorf("%s: status %d", user, w.Code)
		}
	}
	if n := strings.Count(s.logs.String(), "taken for migration only"); n != 1 || !strings.Contains(s.logs.String(), "users=[bob]") {
		t.Errorf("%d legacy warnings, want 1 naming bob:\n%s", n, s.logs.String())
	}
	again := newSetup(t, &config.BasicAuth{Users: []string{aliceLine}, UsersFile: path})
	if strings.Contains(again.logs.String(), "migration") {
		t.Error("the warning is repeated on a reload")
	}
	os.WriteFile(path, []byte("x\nbob:plain\n"), 0o600)
	_, err := New(context.Background(), http.NotFoundHandler(), &config.BasicAuth{UsersFile: path}, "b")
	if err == nil || !strings.Contains(err.Error(), path+":1: want user:hash") {
		t.Errorf("error %v, want %s:1: …", err, path)
	}
	os.WriteFile(path, []byte(aliceLine+"\n"), 0o600)
	if _, err := New(context.Background(), http.NotFoundHandler(), &config.BasicAuth{Users: []string{aliceLine}, UsersFile: path}, "b"); err == nil {
		t.Error("a user in both users and usersFile: want an error")
	}
}

// TestCacheEndsWithTheUsers: a reload with other users (a password
// changed) does not keep the old cache; one with the same users does.
func TestCacheEndsWithTheUsers(t *testing.T) {
	store := env.NewStore()
	defer store.Close()
	build := func(lines ...string) *basicAuth {
		b := store.Begin()
		h, err := New(env.With(context.Background(), env.New(env.Config{}, b)), http.NotFoundHandler(), &config.BasicAuth{Users: lines}, "basic")
		if err != nil {
			t.Fatal(err)
		}
		b.Commit()
		return h.(*basicAuth)
	}
	first := build(aliceLine)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", basic("alice", "wonderland"))
	first.ServeHTTP(httptest.NewRecorder(), r)
	if first.cache.len() != 1 {
		t.Fatal("not cached")
	}
	if same := build(aliceLine); same.cache != first.cache {
		t.Error("the same users: the cache should be kept")
	}
	if other := build(carolLine); other.cache == first.cache || other.cache.len() != 0 {
		t.Error("other users: the old cache must go")
	}
}

// TestOneCheckForParallelRequests: requests with the same credentials that
// come while they are being checked (a browser's parallel connections)
// wait for that check: one hash for all.
func TestOneCheckForParallelRequests(t *testing.T) {
	h, err := New(context.Background(), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), &config.BasicAuth{Users: []string{aliceLine}}, "basic")
	if err != nil {
		t.Fatal(err)
	}
	s := &setup{b: h.(*basicAuth)}
	for range cap(s.b.slots) {
		s.b.slots <- struct{}{}
	}
	codes := make(chan int, 5)
	for i := range 5 {
		go func() {
			r := httptest.NewRequest("GET", "http://shop/", nil)
			r.RemoteAddr = "198.51.100." + strconv.Itoa(i+1) + ":4000"
			r.Header.Set("Authorization", basic("alice", "wonderland"))
			w := httptest.NewRecorder()
			s.b.ServeHTTP(observe.NewRecorder(w), r)
			codes <- w.Code
		}()
	}
	// The first waits for a slot, the four others for its check.
	waitUntil(t, func() bool { return s.b.joined.Load() == 4 })
	for range cap(s.b.slots) {
		<-s.b.slots
	}
	for range 5 {
		if c := <-codes; c != 200 {
			t.Errorf("status %d", c)
		}
	}
	if n := s.b.checks.Load(); n != 1 {
		t.Errorf("%d hashes for 5 requests with the same credentials, want 1", n)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
