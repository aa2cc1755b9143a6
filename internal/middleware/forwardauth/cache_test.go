package forwardauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
)

// withCache is a setup whose auth server answers with Cache-Control cc, and
// whose cache runs on a clock the test moves.
func withCache(t *testing.T, auth *authServer, cc string, c *config.ForwardAuthCache) (*setup, *atomic.Int64) {
	t.Helper()
	if c == nil {
		c = &config.ForwardAuthCache{}
	}
	s := newSetup(t, &config.ForwardAuth{
		Address: auth.URL + "/check?cc=" + url.QueryEscape(cc), Cache: c,
		AuthResponseHeaders: []string{"X-User"}, HeaderField: "X-User",
	})
	var clock atomic.Int64
	clock.Store(int64(time.Hour))
	s.fa.cache.clock = clock.Load
	return s, &clock
}

func TestCacheAsksOnceForManyAndKeepsIdentity(t *testing.T) {
	auth := newAuthServer(t)
	s, _ := withCache(t, auth, "max-age=60", nil)
	for i := range 5 {
		resp, body := do(t, "GET", s.url+"/a", nil, "Authorization: Bearer good", "X-User: mallory")
		if resp.StatusCode != 200 || body != "app" {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
		_, hdr, _, rec := s.up.got()
		if hdr.Get("X-User") != "alice" || rec.Identity == nil || rec.Identity.User != "alice" {
			t.Fatalf("request %d: X-User %q identity %+v: a cached decision must apply as a fresh one", i, hdr.Get("X-User"), rec.Identity)
		}
	}
	if n := auth.hits.Load(); n != 1 {
		t.Fatalf("the auth server was asked %d times for 5 requests, want 1", n)
	}
	if s.decisions("allow") != 5 {
		t.Errorf("allow counted %v, want 5", s.decisions("allow"))
	}
	// Another credential, another request target: each its own entry.
	do(t, "GET", s.url+"/a", nil, "Cookie: session=good")
	do(t, "GET", s.url+"/b", nil, "Authorization: Bearer good")
	do(t, "GET", s.url+"/b", nil, "Authorization: Bearer good")
	if n := auth.hits.Load(); n != 3 {
		t.Errorf("asked %d times, want 3 (one per credential and target)", n)
	}
	// No credential at all, a refusal without max-age: never kept.
	for range 2 {
		if resp, _ := do(t, "GET", s.url+"/a", nil); resp.StatusCode != 302 {
			t.Fatalf("status %d, want the login redirect", resp.StatusCode)
		}
	}
	if n := auth.hits.Load(); n != 5 {
		t.Errorf("asked %d times, want 5: a refusal without max-age is not kept", n)
	}
}

func TestCacheVary(t *testing.T) {
	auth := newAuthServer(t)
	s, _ := withCache(t, auth, "max-age=60", &config.ForwardAuthCache{Vary: []string{"X-Tenant"}})
	do(t, "GET", s.url+"/a", nil, "Authorization: Bearer good", "X-Tenant: 1")
	do(t, "GET", s.url+"/b", nil, "Authorization: Bearer good", "X-Tenant: 1") // the target is not in the key
	do(t, "GET", s.url+"/a", nil, "Authorization: Bearer good", "X-Tenant: 2")
	do(t, "GET", s.url+"/a", nil, "Cookie: session=good", "X-Tenant: 1") // the credential always is
	if n := auth.hits.Load(); n != 3 {
		t.Errorf("asked %d times, want 3", n)
	}
}

func TestCacheHonoursTheAuthServer(t *testing.T) {
	for _, tc := range []struct {
		name, cc string
		fields   []string
		asks     int64 // for 3 requests
	}{
		{"no-store", "no-store, max-age=60", []string{"Authorization: Bearer good"}, 3},
		{"no-cache", "max-age=60, no-cache", []string{"Authorization: Bearer good"}, 3},
		{"no max-age", "public", []string{"Authorization: Bearer good"}, 3},
		{"max-age=0", "max-age=0", []string{"Authorization: Bearer good"}, 3},
		{"private with a credential", "private, max-age=60", []string{"Authorization: Bearer good"}, 1},
		{"private without", "private, max-age=60", []string{"Accept: application/json"}, 3},
		{"refusal with max-age", "max-age=60", []string{"Accept: application/json"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth := newAuthServer(t)
			s, _ := withCache(t, auth, tc.cc, nil)
			var first int
			for i := range 3 {
				resp, _ := do(t, "GET", s.url, nil, tc.fields...)
				if i == 0 {
					first = resp.StatusCode
				} else if resp.StatusCode != first {
					t.Fatalf("status %d then %d", first, resp.StatusCode)
				}
			}
			if n := auth.hits.Load(); n != tc.asks {
				t.Errorf("asked %d times for 3 requests, want %d", n, tc.asks)
			}
		})
	}
}

func TestCacheNeverKeepsAnAnswerPastItsMaxAge(t *testing.T) {
	auth := newAuthServer(t)
	s, clock := withCache(t, auth, "max-age=2", &config.ForwardAuthCache{MaxTTL: config.Duration(time.Hour)})
	deny := func() {
		t.Helper()
		if resp, _ := do(t, "GET", s.url, nil, "Accept: application/json"); resp.StatusCode != 401 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	deny()
	clock.Add(int64(1900 * time.Millisecond))
	deny()
	if n := auth.hits.Load(); n != 1 {
		t.Fatalf("asked %d times within max-age, want 1", n)
	}
	clock.Add(int64(200 * time.Millisecond))
	deny()
	if n := auth.hits.Load(); n != 2 {
		t.Fatalf("asked %d times after max-age, want 2: the refusal outlived its max-age", n)
	}

	// maxTTL caps a long max-age.
	auth2 := newAuthServer(t)
	s2, clock2 := withCache(t, auth2, "max-age=3600", &config.ForwardAuthCache{MaxTTL: config.Duration(time.Second)})
	do(t, "GET", s2.url, nil, "Authorization: Bearer good")
	clock2.Add(int64(1100 * time.Millisecond))
	do(t, "GET", s2.url, nil, "Authorization: Bearer good")
	if n := auth2.hits.Load(); n != 2 {
		t.Errorf("asked %d times, want 2: maxTTL did not cap max-age", n)
	}
}

func TestCacheDoesNotKeepAnswersThatSetCookies(t *testing.T) {
	auth := newAuthServer(t)
	s := newSetup(t, &config.ForwardAuth{
		Address: auth.URL + "/check?cc=max-age%3D60&setcookie=session%3Drefreshed",
		Cache:   &config.ForwardAuthCache{}, AddAuthCookiesToResponse: []string{"session"},
	})
	for range 2 {
		resp, _ := do(t, "GET", s.url, nil, "Authorization: Bearer good")
		if resp.Header.Values("Set-Cookie")[1] != "session=refreshed" {
			t.Fatalf("cookies %q", resp.Header.Values("Set-Cookie"))
		}
	}
	if n := auth.hits.Load(); n != 2 {
		t.Errorf("asked %d times, want 2", n)
	}
}

func TestCacheCoalescesConcurrentMisses(t *testing.T) {
	auth := newAuthServer(t)
	s, _ := withCache(t, auth, "max-age=60", nil)
	const n = 8
	var wg sync.WaitGroup
	codes := make(chan int, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", s.url+"/x", nil)
			req.Header.Set("Authorization", "Bearer slow")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	// Release the auth server once one request asks it and the others wait.
	deadline := time.Now().Add(5 * time.Second)
	for auth.hits.Load() < 1 || waiting(s.fa.cache) < n-1 {
		if time.Now().After(deadline) {
			t.Fatalf("asked %d times, %d waiting", auth.hits.Load(), waiting(s.fa.cache))
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(auth.release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Errorf("status %d", c)
		}
	}
	if h := auth.hits.Load(); h != 1 {
		t.Errorf("asked %d times for %d concurrent requests, want 1", h, n)
	}
}

// Requests that wait for another's answer get it as soon as it comes, not
// once that other request's server has answered.
func TestCacheWaitersDoNotWaitForTheLeadersServer(t *testing.T) {
	auth := newAuthServer(t)
	unblock := make(chan struct{})
	defer func() {
		select {
		case <-unblock:
		default:
			close(unblock)
		}
	}()
	s := newSetupWith(t, &config.ForwardAuth{
		Address: auth.URL + "/check?cc=max-age%3D60",
		Cache:   &config.ForwardAuthCache{Vary: []string{"X-Tenant"}}, // X-Block is not in the key
	}, func(up http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Block") != "" {
				<-unblock // a server streaming for long
			}
			up.ServeHTTP(w, r)
		})
	})
	result := func(fields ...string) chan int {
		ch := make(chan int, 1)
		go func() {
			req, _ := http.NewRequest("GET", s.url, nil)
			for _, f := range fields {
				k, v, _ := strings.Cut(f, ": ")
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				ch <- 0
				return
			}
			resp.Body.Close()
			ch <- resp.StatusCode
		}()
		return ch
	}
	leader := result("Authorization: Bearer slow", "X-Block: 1")
	waitUntil(t, func() bool { return auth.hits.Load() == 1 })
	waiter := result("Authorization: Bearer slow")
	waitUntil(t, func() bool { return waiting(s.fa.cache) == 1 })
	close(auth.release)
	select {
	case code := <-waiter:
		if code != 200 {
			t.Errorf("waiter: status %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter waited for the leader's server")
	}
	close(unblock)
	if code := <-leader; code != 200 || auth.hits.Load() != 1 {
		t.Errorf("leader: status %d, asked %d times", code, auth.hits.Load())
	}
}

// When the auth server fails the question of requests waiting together, they
// all get their 503 with it: none asks again and waits out another timeout.
func TestCacheWaitersShareTheAuthServersFailure(t *testing.T) {
	auth := newAuthServer(t)
	s := newSetup(t, &config.ForwardAuth{
		Address: auth.URL + "/check?cc=max-age%3D60", Timeout: config.Duration(300 * time.Millisecond),
		Cache: &config.ForwardAuthCache{},
	})
	get := func() chan int {
		ch := make(chan int, 1)
		go func() {
			req, _ := http.NewRequest("GET", s.url, nil)
			req.Header.Set("Authorization", "Bearer slow") // never answered in time
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				ch <- 0
				return
			}
			resp.Body.Close()
			ch <- resp.StatusCode
		}()
		return ch
	}
	start := time.Now()
	leader := get()
	waitUntil(t, func() bool { return auth.hits.Load() == 1 })
	waiter := get()
	waitUntil(t, func() bool { return waiting(s.fa.cache) == 1 })
	if code := <-leader; code != 503 {
		t.Fatalf("leader: status %d, want 503", code)
	}
	if code := <-waiter; code != 503 {
		t.Fatalf("waiter: status %d, want 503", code)
	}
	if took := time.Since(start); took > 550*time.Millisecond {
		t.Errorf("the waiter's 503 came after %v: it waited out a timeout of its own", took)
	}
	if n := auth.hits.Load(); n != 1 {
		t.Errorf("asked %d times, want 1", n)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waiting counts the requests waiting for another's answer.
func waiting(c *cache) int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		for _, f := range s.flights {
			n += int(f.waiting.Load())
		}
		s.mu.RUnlock()
	}
	return n
}

func TestCacheIsKeptAcrossReloads(t *testing.T) {
	auth := newAuthServer(t)
	store := env.NewStore()
	defer store.Close()
	build := func(address string) *forwardAuth {
		b := store.Begin()
		ctx := env.With(context.Background(), env.New(env.Config{}, b))
		h, err := New(ctx, &upstream{}, &config.ForwardAuth{Address: address, Cache: &config.ForwardAuthCache{}}, "fwd")
		if err != nil {
			t.Fatal(err)
		}
		b.Commit()
		return h.(*forwardAuth)
	}
	ask := func(fa *forwardAuth) {
		r := httptest.NewRequest("GET", "http://app/x", nil)
		r.Header.Set("Authorization", "Bearer good")
		w := &discard{h: http.Header{}}
		fa.ServeHTTP(w, r)
		if w.status != 200 {
			t.Fatalf("status %d", w.status)
		}
	}
	addr := auth.URL + "/check?cc=max-age%3D60"
	first := build(addr)
	ask(first)
	second := build(addr) // a reload that keeps the middleware as it is
	ask(second)
	if second.cache != first.cache || second.client != first.client || auth.hits.Load() != 1 {
		t.Fatalf("the reload lost the cache or the pool (asked %d times)", auth.hits.Load())
	}
	third := build(addr + "&group=admins") // another auth server question: another cache
	ask(third)
	if third.cache == first.cache || auth.hits.Load() != 2 {
		t.Fatalf("a cache made for another address was kept (asked %d times)", auth.hits.Load())
	}
}

type discard struct {
	h      http.Header
	status int
}

func (d *discard) Header() http.Header { return d.h }
func (d *discard) Write(p []byte) (int, error) {
	if d.status == 0 {
		d.status = 200
	}
	return len(p), nil
}
func (d *discard) WriteHeader(s int) {
	if d.status == 0 {
		d.status = s
	}
}

func TestCacheFor(t *testing.T) {
	c := newCache(0, 5*time.Minute, []string{"X-Tenant"})
	all := newCache(0, 5*time.Minute, nil)
	for _, tc := range []struct {
		status       int
		h            http.Header
		credentialed bool
		c            *cache
		want         time.Duration
	}{
		{200, http.Header{"Cache-Control": {"max-age=60"}}, false, c, time.Minute},
		{200, http.Header{"Cache-Control": {"public, max-age=\"30\""}}, false, c, 30 * time.Second},
		{200, http.Header{"Cache-Control": {"max-age=60, s-maxage=10"}}, false, c, 10 * time.Second},
		{200, http.Header{"Cache-Control": {"MAX-AGE=60"}}, false, c, time.Minute},
		{200, http.Header{"Cache-Control": {"max-age=60", "max-age=20"}}, false, c, 20 * time.Second},
		{200, http.Header{"Cache-Control": {"max-age=60"}, "Age": {"50"}}, false, c, 10 * time.Second},
		{200, http.Header{"Cache-Control": {"max-age=60"}, "Age": {"70"}}, false, c, 0},
		{200, http.Header{"Cache-Control": {"max-age=60"}, "Age": {"x"}}, false, c, 0},
		{200, http.Header{"Cache-Control": {"max-age=99999999999999999999"}}, false, c, 5 * time.Minute},
		{200, http.Header{"Cache-Control": {"max-age=-1"}}, false, c, 0},
		{200, http.Header{"Cache-Control": {"max-age=1e3"}}, false, c, 0},
		{200, http.Header{"Cache-Control": {"max-age="}}, false, c, 0},
		{200, http.Header{"Cache-Control": {"max-age=60, no-store"}}, true, c, 0},
		{200, http.Header{"Cache-Control": {"max-age=60, no-cache=\"Set-Cookie\""}}, true, c, 0},
		{200, http.Header{"Cache-Control": {"private, max-age=60"}}, false, c, 0},
		{200, http.Header{"Cache-Control": {"private, max-age=60"}}, true, c, time.Minute},
		{200, http.Header{"Expires": {"Thu, 01 Jan 2099 00:00:00 GMT"}}, false, c, 0},
		{200, http.Header{"Cache-Control": {"max-age=60"}, "Set-Cookie": {"a=b"}}, true, c, 0},
		{200, http.Header{"Cache-Control": {"max-age=60"}, "Vary": {"x-tenant, Cookie"}}, false, c, time.Minute},
		{200, http.Header{"Cache-Control": {"max-age=60"}, "Vary": {"User-Agent"}}, false, c, 0},
		{200, http.Header{"Cache-Control": {"max-age=60"}, "Vary": {"User-Agent"}}, false, all, time.Minute},
		{200, http.Header{"Cache-Control": {"max-age=60"}, "Vary": {"X-Request-Id"}}, false, all, 0},
		{200, http.Header{"Cache-Control": {"max-age=60"}, "Vary": {"*"}}, false, all, 0},
		{302, http.Header{"Cache-Control": {"max-age=60"}}, false, c, time.Minute},
		{503, http.Header{"Cache-Control": {"max-age=60"}}, false, c, 0},
	} {
		if got := tc.c.cacheFor(tc.status, tc.h, tc.credentialed); got != tc.want {
			t.Errorf("%d %v credentialed=%v: %v, want %v", tc.status, tc.h, tc.credentialed, got, tc.want)
		}
	}
}

func TestCacheStaysWithinMaxBytes(t *testing.T) {
	c := newCache(64<<10, time.Minute, nil)
	d := &decision{status: 200, set: []field{{"X-User", []string{"alice"}}}}
	per := d.size() + 128
	for i := range 10000 {
		var k [32]byte
		k[0], k[1], k[2] = byte(i), byte(i>>8), byte(i>>16)
		c.put(&k, d, time.Minute)
	}
	if n := int64(c.len()); n*per > 64<<10 || n == 0 {
		t.Errorf("%d entries of %d bytes kept, bound 64KiB", n, per)
	}
}
