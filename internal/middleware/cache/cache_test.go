package cache

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is the injected time of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// origin is the server behind the cache: it counts what it saw.
type origin struct {
	mu    sync.Mutex
	reqs  []*http.Request
	serve func(w http.ResponseWriter, r *http.Request, n int)
	seen  chan struct{} // gets a value per request, when not nil
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.reqs = append(o.reqs, r)
	n := len(o.reqs)
	o.mu.Unlock()
	o.serve(w, r, n)
	if o.seen != nil {
		o.seen <- struct{}{}
	}
}

func (o *origin) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.reqs)
}

func (o *origin) last() *http.Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reqs[len(o.reqs)-1]
}

type tc struct {
	t   *testing.T
	clk *clock
	o   *origin
	h   *handler
}

func newTC(t *testing.T, serve func(w http.ResponseWriter, r *http.Request, n int)) *tc {
	clk := &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	o := &origin{serve: serve}
	st := &state{name: "test", kind: "memory", store: NewMemory(1<<20, clk.Now), flights: map[string]*flight{}, reval: map[string]bool{}}
	h := newHandler(o, st, clk.Now, 64<<10, time.Hour, 5*time.Second, slog.New(slog.DiscardHandler))
	return &tc{t: t, clk: clk, o: o, h: h}
}

func (c *tc) do(method, target string, hdr ...string) *httptest.ResponseRecorder {
	c.t.Helper()
	r := httptest.NewRequest(method, "http://example.com"+target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, r)
	return w
}

// fixed answers every request with the same response, a date from the
// test's clock, and a body telling the request's number.
func fixed(clk **clock, hdr ...string) func(w http.ResponseWriter, r *http.Request, n int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Add(hdr[i], hdr[i+1])
		}
		w.Header().Set("Date", (*clk).Now().Format(http.TimeFormat))
		w.Write([]byte("body " + strconv.Itoa(n)))
	}
}

func newFixed(t *testing.T, hdr ...string) *tc {
	var clk *clock
	c := newTC(t, fixed(&clk, hdr...))
	clk = c.clk
	return c
}

func status(w *httptest.ResponseRecorder) string {
	return strings.Join(w.Header()["Cache-Status"], ", ")
}

func expect(t *testing.T, w *httptest.ResponseRecorder, code int, body, cacheStatus string) {
	t.Helper()
	if w.Code != code || w.Body.String() != body || !strings.HasPrefix(status(w), cacheStatus) {
		t.Fatalf("got %d %q Cache-Status %q; want %d %q %q...", w.Code, w.Body.String(), status(w), code, body, cacheStatus)
	}
}

func TestFreshHitAndAge(t *testing.T) {
	c := newFixed(t, "Cache-Control", "max-age=60")
	expect(t, c.do("GET", "/a"), 200, "body 1", "usher; fwd=uri-miss; stored; ttl=60")
	c.clk.Add(10 * time.Second)
	w := c.do("GET", "/a")
	expect(t, w, 200, "body 1", "usher; hit; ttl=50")
	if w.Header().Get("Age") != "10" {
		t.Errorf("Age = %q, want 10", w.Header().Get("Age"))
	}
	c.clk.Add(51 * time.Second)
	// Without a validator, the store forgets it when it goes stale.
	expect(t, c.do("GET", "/a"), 200, "body 2", "usher; fwd=uri-miss")
	if c.o.count() != 2 {
		t.Errorf("origin saw %d requests, want 2", c.o.count())
	}
}

func TestAgeFromUpstream(t *testing.T) {
	c := newFixed(t, "Cache-Control", "max-age=60", "Age", "30")
	c.do("GET", "/")
	c.clk.Add(5 * time.Second)
	w := c.do("GET", "/")
	expect(t, w, 200, "body 1", "usher; hit; ttl=25")
	if w.Header().Get("Age") != "35" {
		t.Errorf("Age = %q, want 35", w.Header().Get("Age"))
	}
}

func TestNotStored(t *testing.T) {
	for _, h := range [][]string{
		{"Cache-Control", "no-store, max-age=60"},
		{"Cache-Control", "private, max-age=60"},
		{"Cache-Control", "max-age=60", "Set-Cookie", "sid=1"},
		{"Cache-Control", "max-age=60", "Vary", "*"},
		{"Cache-Control", "max-age=0"},
		{"Cache-Control", "max-age=60", "Content-Type", "text/plain"}, // with Authorization, below
	} {
		c := newFixed(t, h...)
		auth := []string{}
		if len(h) == 4 && h[2] == "Content-Type" {
			auth = []string{"Authorization", "Bearer x"}
		}
		c.do("GET", "/", auth...)
		w := c.do("GET", "/", auth...)
		if c.o.count() != 2 || strings.Contains(status(w), "hit") {
			t.Errorf("%q: origin saw %d, Cache-Status %q; want it not stored", h, c.o.count(), status(w))
		}
	}
}

func TestAuthorizationStoredWhenAllowed(t *testing.T) {
	for _, cc := range []string{"public, max-age=60", "s-maxage=60", "must-revalidate, max-age=60"} {
		c := newFixed(t, "Cache-Control", cc)
		c.do("GET", "/", "Authorization", "Bearer x")
		expect(t, c.do("GET", "/"), 200, "body 1", "usher; hit")
	}
}

func TestRevalidationUpdatesHeaders(t *testing.T) {
	c := newTC(t, nil)
	c.o.serve = func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Date", c.clk.Now().Format(http.TimeFormat))
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.Header().Set("Cache-Control", "max-age=100")
			w.Header().Set("X-Updated", "yes")
			w.Header().Set("Content-Length", "99")
			w.WriteHeader(304)
			return
		}
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("Etag", `"v1"`)
		w.Header().Set("X-Updated", "no")
		w.Write([]byte("hello"))
	}
	c.do("GET", "/r")
	c.clk.Add(20 * time.Second)
	w := c.do("GET", "/r")
	expect(t, w, 200, "hello", "usher; fwd=stale; fwd-status=304; stored")
	if got := c.o.last().Header.Get("If-None-Match"); got != `"v1"` {
		t.Fatalf("revalidation sent If-None-Match %q", got)
	}
	if w.Header().Get("X-Updated") != "yes" || w.Header().Get("Content-Length") != "5" || w.Header().Get("Age") != "0" {
		t.Fatalf("after 304: %v", w.Header())
	}
	c.clk.Add(50 * time.Second)
	w = c.do("GET", "/r")
	expect(t, w, 200, "hello", "usher; hit; ttl=50")
	if w.Header().Get("X-Updated") != "yes" || c.o.count() != 2 {
		t.Fatalf("stored header not updated, or origin asked again: %v, %d", w.Header(), c.o.count())
	}
}

func TestConditionalFromCache(t *testing.T) {
	lm := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat)
	c := newFixed(t, "Cache-Control", "max-age=60", "Etag", `"x"`, "Last-Modified", lm, "Content-Type", "text/plain")
	c.do("GET", "/c")
	for _, h := range [][]string{
		{"If-None-Match", `"x"`}, {"If-None-Match", `W/"x"`}, {"If-None-Match", `"a", "x"`}, {"If-None-Match", "*"},
		{"If-Modified-Since", lm},
	} {
		w := c.do("GET", "/c", h...)
		if w.Code != 304 || w.Body.Len() != 0 || w.Header().Get("Etag") != `"x"` || w.Header().Get("Content-Type") != "" {
			t.Errorf("%q: %d %v", h, w.Code, w.Header())
		}
	}
	for _, h := range [][]string{{"If-None-Match", `"y"`}, {"If-Modified-Since", "Mon, 01 Dec 2025 00:00:00 GMT"},
		{"If-Modified-Since", c.clk.Now().Add(time.Hour).Format(http.TimeFormat)}, {"If-Modified-Since", "yesterday"}} {
		if w := c.do("GET", "/c", h...); w.Code != 200 {
			t.Errorf("%q: %d, want 200", h, w.Code)
		}
	}
	if c.o.count() != 1 {
		t.Errorf("origin saw %d", c.o.count())
	}
}

func TestConditionalOnMiss(t *testing.T) {
	c := newFixed(t, "Cache-Control", "max-age=60", "Etag", `"x"`)
	w := c.do("GET", "/m", "If-None-Match", `"x"`)
	if w.Code != 304 || c.o.last().Header.Get("If-None-Match") != "" {
		t.Fatalf("got %d; server saw If-None-Match %q", w.Code, c.o.last().Header.Get("If-None-Match"))
	}
	expect(t, c.do("GET", "/m"), 200, "body 1", "usher; hit")
}

func TestHeadFromGet(t *testing.T) {
	c := newFixed(t, "Cache-Control", "max-age=60")
	c.do("GET", "/h")
	w := c.do("HEAD", "/h")
	expect(t, w, 200, "", "usher; hit")
	if w.Header().Get("Content-Length") != "6" {
		t.Errorf("Content-Length %q", w.Header().Get("Content-Length"))
	}
	w = c.do("HEAD", "/other")
	if c.o.count() != 2 || c.o.last().Method != "HEAD" || strings.Contains(status(w), "stored") {
		t.Fatal("a HEAD miss goes as HEAD")
	}
}

func TestRange(t *testing.T) {
	c := newFixed(t, "Cache-Control", "max-age=60", "Etag", `"e"`)
	c.do("GET", "/r") // "body 1"
	for _, tt := range []struct {
		rng, ifRange string
		code         int
		body, cr     string
	}{
		{"bytes=1-3", "", 206, "ody", "bytes 1-3/6"},
		{"bytes=-2", "", 206, " 1", "bytes 4-5/6"},
		{"bytes=4-", "", 206, " 1", "bytes 4-5/6"},
		{"bytes=2-100", "", 206, "dy 1", "bytes 2-5/6"},
		{"bytes=6-", "", 416, "", "bytes */6"},
		{"bytes=0-1,3-4", "", 200, "body 1", ""},
		{"items=0-1", "", 200, "body 1", ""},
		{"bytes=1-3", `"e"`, 206, "ody", "bytes 1-3/6"},
		{"bytes=1-3", `"other"`, 200, "body 1", ""},
		{"bytes=1-3", `W/"e"`, 200, "body 1", ""},
	} {
		hdr := []string{"Range", tt.rng}
		if tt.ifRange != "" {
			hdr = append(hdr, "If-Range", tt.ifRange)
		}
		w := c.do("GET", "/r", hdr...)
		if w.Code != tt.code || w.Body.String() != tt.body || w.Header().Get("Content-Range") != tt.cr {
			t.Errorf("%s %s: %d %q %q", tt.rng, tt.ifRange, w.Code, w.Body.String(), w.Header().Get("Content-Range"))
		}
	}
	if c.o.count() != 1 {
		t.Errorf("origin saw %d", c.o.count())
	}
}

func TestVary(t *testing.T) {
	c := newTC(t, nil)
	c.o.serve = func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language, accept-encoding")
		w.Write([]byte(r.Header.Get("Accept-Language")))
	}
	c.do("GET", "/v", "Accept-Language", "en")
	c.do("GET", "/v", "Accept-Language", "fr")
	expect(t, c.do("GET", "/v", "Accept-Language", "EN"), 200, "en", "usher; hit")
	expect(t, c.do("GET", "/v", "Accept-Language", "fr"), 200, "fr", "usher; hit")
	expect(t, c.do("GET", "/v"), 200, "", "usher; fwd=vary-miss")
	expect(t, c.do("GET", "/v", "Accept-Language", "fr", "Accept-Encoding", "br, gzip"), 200, "fr", "usher; fwd=vary-miss")
	expect(t, c.do("GET", "/v", "Accept-Language", "fr", "Accept-Encoding", "gzip,br"), 200, "fr", "usher; hit")
}

func TestRequestDirectives(t *testing.T) {
	c := newFixed(t, "Cache-Control", "max-age=60", "Etag", `"e"`)
	c.do("GET", "/d")
	c.clk.Add(30 * time.Second)
	expect(t, c.do("GET", "/d", "Cache-Control", "max-age=40"), 200, "body 1", "usher; hit")
	expect(t, c.do("GET", "/d", "Cache-Control", "min-fresh=20"), 200, "body 1", "usher; hit")
	if w := c.do("GET", "/d", "Cache-Control", "min-fresh=40"); !strings.HasPrefix(status(w), "usher; fwd=request") {
		t.Fatalf("min-fresh: %q", status(w))
	}
	c.clk.Add(10 * time.Second)
	if w := c.do("GET", "/d", "Cache-Control", "max-age=5"); !strings.HasPrefix(status(w), "usher; fwd=request") {
		t.Fatalf("max-age: %q", status(w))
	}
	if w := c.do("GET", "/d", "Cache-Control", "no-cache"); !strings.HasPrefix(status(w), "usher; fwd=request") {
		t.Fatalf("no-cache: %q", status(w))
	}
	if w := c.do("GET", "/d", "Pragma", "no-cache"); !strings.HasPrefix(status(w), "usher; fwd=request") {
		t.Fatalf("Pragma: %q", status(w))
	}
	if w := c.do("GET", "/nothing", "Cache-Control", "only-if-cached"); w.Code != 504 {
		t.Fatalf("only-if-cached miss: %d", w.Code)
	}
	n := c.o.count()
	c.clk.Add(120 * time.Second)
	// The forced requests above each stored what they got (body 5 last).
	expect(t, c.do("GET", "/d", "Cache-Control", "max-stale=200"), 200, "body 5", "usher; hit; ttl=-60")
	expect(t, c.do("GET", "/d", "Cache-Control", "max-stale"), 200, "body 5", "usher; hit")
	if w := c.do("GET", "/d", "Cache-Control", "only-if-cached"); w.Code != 504 {
		t.Fatalf("only-if-cached stale: %d", w.Code)
	}
	if c.o.count() != n {
		t.Fatalf("origin saw %d more", c.o.count()-n)
	}
}

func TestMustRevalidateForbidsStale(t *testing.T) {
	for _, cc := range []string{"max-age=10, must-revalidate", "s-maxage=10", "max-age=10, proxy-revalidate", "max-age=10, no-cache"} {
		c := newFixed(t, "Cache-Control", cc)
		c.do("GET", "/")
		c.clk.Add(20 * time.Second)
		c.do("GET", "/", "Cache-Control", "max-stale")
		if c.o.count() != 2 {
			t.Errorf("%s: stale served with max-stale", cc)
		}
	}
}

func TestNoCacheStoredButRevalidated(t *testing.T) {
	c := newFixed(t, "Cache-Control", "no-cache", "Etag", `"n"`)
	c.do("GET", "/")
	c.do("GET", "/")
	if c.o.count() != 2 || c.o.last().Header.Get("If-None-Match") != `"n"` {
		t.Fatalf("no-cache: origin saw %d, last If-None-Match %q", c.o.count(), c.o.last().Header.Get("If-None-Match"))
	}
}

func TestNoCacheFieldsAndPrivateFields(t *testing.T) {
	c := newFixed(t, "Cache-Control", `max-age=60, no-cache="X-Secret", private="X-Mine"`, "X-Secret", "s", "X-Mine", "m", "X-Plain", "p")
	if w := c.do("GET", "/"); w.Header().Get("X-Mine") != "m" {
		t.Fatal("the filling client gets every field")
	}
	w := c.do("GET", "/")
	expect(t, w, 200, "body 1", "usher; hit")
	if w.Header().Get("X-Secret") != "" || w.Header().Get("X-Mine") != "" || w.Header().Get("X-Plain") != "p" {
		t.Fatalf("hit header: %v", w.Header())
	}
}

func TestHeuristicFreshness(t *testing.T) {
	var clk *clock
	c := newTC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Date", clk.Now().Format(http.TimeFormat))
		w.Header().Set("Last-Modified", clk.Now().Add(-100*time.Second).Format(http.TimeFormat))
		w.Write([]byte("x"))
	})
	clk = c.clk
	expect(t, c.do("GET", "/"), 200, "x", "usher; fwd=uri-miss; stored; ttl=10")
	c.clk.Add(9 * time.Second)
	expect(t, c.do("GET", "/"), 200, "x", "usher; hit; ttl=1")
	c.clk.Add(2 * time.Second)
	c.do("GET", "/")
	if c.o.count() != 2 {
		t.Fatal("heuristic freshness ended at 10% of the Last-Modified age")
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	var clk *clock
	release := make(chan struct{})
	serve := fixed(&clk, "Cache-Control", "max-age=10, stale-while-revalidate=60")
	c := newTC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n > 1 {
			<-release
		}
		serve(w, r, n)
	})
	clk = c.clk
	c.o.seen = make(chan struct{}, 10)
	c.do("GET", "/s")
	<-c.o.seen
	c.clk.Add(20 * time.Second)
	for range 5 {
		expect(t, c.do("GET", "/s"), 200, "body 1", "usher; hit; ttl=-10; detail=stale-while-revalidate")
	}
	close(release)
	<-c.o.seen // the background revalidation
	// Once it is done, what it got is served.
	awaitRevalidated(t, c)
	expect(t, c.do("GET", "/s"), 200, "body 2", "usher; hit")
	if n := c.o.count(); n != 2 {
		t.Fatalf("origin saw %d requests, want 2 (one revalidation for 5 stale hits)", n)
	}
}

func TestStaleIfError(t *testing.T) {
	fail := atomic.Bool{}
	c := newTC(t, nil)
	c.o.serve = func(w http.ResponseWriter, r *http.Request, n int) {
		if fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "max-age=10, stale-if-error=60")
		w.Header().Set("Etag", `"x"`)
		w.Write([]byte("ok"))
	}
	c.do("GET", "/e")
	fail.Store(true)
	c.clk.Add(30 * time.Second)
	expect(t, c.do("GET", "/e"), 200, "ok", "usher; fwd=stale; fwd-status=503; ttl=-20; detail=stale-if-error")
	c.clk.Add(60 * time.Second)
	expect(t, c.do("GET", "/e"), 503, "down\n", "usher; fwd=stale; fwd-status=503")
}

func TestCoalescing(t *testing.T) {
	release := make(chan struct{})
	c := newTC(t, nil)
	c.o.serve = func(w http.ResponseWriter, r *http.Request, n int) {
		<-release
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write([]byte("one"))
	}
	const n = 8
	var wg sync.WaitGroup
	results := make([]*httptest.ResponseRecorder, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.do("GET", "/co")
		}()
	}
	for c.h.st.c.Coalesced.Load() < n-1 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if c.o.count() != 1 {
		t.Fatalf("origin saw %d requests, want 1", c.o.count())
	}
	collapsed := 0
	for _, w := range results {
		if w.Body.String() != "one" {
			t.Fatalf("body %q", w.Body.String())
		}
		if strings.Contains(status(w), "collapsed") {
			collapsed++
		}
	}
	if collapsed != n-1 {
		t.Fatalf("%d collapsed, want %d", collapsed, n-1)
	}
}

func TestCoalescedWaitersGoOnTheirOwnWhenNothingStored(t *testing.T) {
	release := make(chan struct{})
	c := newTC(t, nil)
	c.o.serve = func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			<-release
		}
		w.Header().Set("Cache-Control", "private")
		w.Write([]byte("mine"))
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); c.do("GET", "/p") }()
	}
	for c.h.st.c.Coalesced.Load() < 3 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if c.o.count() != 4 {
		t.Fatalf("origin saw %d, want 4", c.o.count())
	}
}

func TestInvalidation(t *testing.T) {
	c := newTC(t, nil)
	c.o.serve = func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Method == "POST" {
			w.Header().Set("Location", "/loc")
			w.Header().Set("Content-Location", "http://other.example/cl")
			w.WriteHeader(201)
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write([]byte(r.URL.Path))
	}
	for _, p := range []string{"/x", "/loc", "/cl"} {
		c.do("GET", p)
	}
	w := c.do("POST", "/x")
	if status(w) != "usher; fwd=method" {
		t.Fatalf("POST Cache-Status %q", status(w))
	}
	expect(t, c.do("GET", "/x"), 200, "/x", "usher; fwd=uri-miss")
	expect(t, c.do("GET", "/loc"), 200, "/loc", "usher; fwd=uri-miss")
	expect(t, c.do("GET", "/cl"), 200, "/cl", "usher; hit")
}

func TestInvalidationOnlyOnSuccess(t *testing.T) {
	c := newTC(t, nil)
	c.o.serve = func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Method == "DELETE" {
			w.WriteHeader(500)
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write([]byte("x"))
	}
	c.do("GET", "/")
	c.do("DELETE", "/")
	expect(t, c.do("GET", "/"), 200, "x", "usher; hit")
}

func TestCutShortNotStored(t *testing.T) {
	c := newTC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", "10")
		w.Write([]byte("short"))
	})
	c.do("GET", "/")
	c.do("GET", "/")
	if c.o.count() != 2 {
		t.Fatal("a body shorter than its Content-Length was stored")
	}
}

func TestLargeBodyStreamsUnstored(t *testing.T) {
	big := strings.Repeat("x", 100<<10)
	c := newTC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=60")
		for i := 0; i < len(big); i += 4096 {
			w.Write([]byte(big[i : i+4096]))
		}
	})
	if w := c.do("GET", "/"); w.Body.String() != big {
		t.Fatal("large body not passed whole")
	}
	c.do("GET", "/")
	if c.o.count() != 2 {
		t.Fatal("a body over maxEntryBytes was stored")
	}
}

func TestMustUnderstand(t *testing.T) {
	c := newFixed(t, "Cache-Control", "no-store, must-understand, max-age=60")
	c.do("GET", "/")
	expect(t, c.do("GET", "/"), 200, "body 1", "usher; hit")
}

// TestConformance runs cases in the manner of the HTTP cache tests
// (cache-tests.fyi): a response, a second request some seconds later, and
// whether the second one may be answered from the store.
func TestConformance(t *testing.T) {
	past := func(c *clock, d time.Duration) string { return c.Now().Add(-d).Format(http.TimeFormat) }
	future := func(c *clock, d time.Duration) string { return c.Now().Add(d).Format(http.TimeFormat) }
	for _, tt := range []struct {
		name   string
		resp   func(c *clock) []string
		status int
		req2   []string
		wait   time.Duration
		reuse  bool
	}{
		{"max-age", func(*clock) []string { return []string{"Cache-Control", "max-age=3600"} }, 200, nil, 0, true},
		{"max-age=0", func(*clock) []string { return []string{"Cache-Control", "max-age=0"} }, 200, nil, 0, false},
		{"max-age with a large Age", func(*clock) []string { return []string{"Cache-Control", "max-age=3600", "Age", "12000"} }, 200, nil, 0, false},
		{"max-age, leading zeros", func(*clock) []string { return []string{"Cache-Control", "max-age=0003600"} }, 200, nil, 0, true},
		{"max-age at the max", func(*clock) []string { return []string{"Cache-Control", "max-age=2147483648"} }, 200, nil, 0, true},
		{"max-age past the max", func(*clock) []string { return []string{"Cache-Control", "max-age=99999999999"} }, 200, nil, 0, true},
		{"negative max-age", func(*clock) []string { return []string{"Cache-Control", "max-age=-3600"} }, 200, nil, 0, false},
		{"single-quoted max-age", func(*clock) []string { return []string{"Cache-Control", "max-age='3600'"} }, 200, nil, 0, false},
		{"s-maxage=0 over max-age", func(*clock) []string { return []string{"Cache-Control", "max-age=3600, s-maxage=0"} }, 200, nil, 0, false},
		{"s-maxage over max-age=0", func(*clock) []string { return []string{"Cache-Control", "max-age=0, s-maxage=3600"} }, 200, nil, 0, true},
		{"Expires in the future", func(c *clock) []string { return []string{"Expires", future(c, time.Hour)} }, 200, nil, 0, true},
		{"Expires in the past", func(c *clock) []string { return []string{"Expires", past(c, time.Hour)} }, 200, nil, 0, false},
		{"Expires: 0", func(*clock) []string { return []string{"Expires", "0"} }, 200, nil, 0, false},
		{"Expires in RFC 850 form", func(c *clock) []string {
			return []string{"Expires", c.Now().Add(time.Hour).Format("Monday, 02-Jan-06 15:04:05 GMT")}
		}, 200, nil, 0, true},
		{"Expires in asctime form", func(c *clock) []string { return []string{"Expires", c.Now().Add(time.Hour).Format(time.ANSIC)} }, 200, nil, 0, true},
		{"max-age over an invalid Expires", func(*clock) []string { return []string{"Cache-Control", "max-age=3600", "Expires", "0"} }, 200, nil, 0, true},
		{"max-age=0 over Expires", func(c *clock) []string {
			return []string{"Cache-Control", "max-age=0", "Expires", future(c, time.Hour)}
		}, 200, nil, 0, false},
		{"no freshness, no validator", func(*clock) []string { return nil }, 200, nil, 0, false},
		{"heuristic 200", func(c *clock) []string { return []string{"Last-Modified", past(c, 100*time.Hour)} }, 200, nil, 0, true},
		{"no heuristic for 201", func(c *clock) []string { return []string{"Last-Modified", past(c, 100*time.Hour)} }, 201, nil, 0, false},
		{"no heuristic for 403", func(c *clock) []string { return []string{"Last-Modified", past(c, 100*time.Hour)} }, 403, nil, 0, false},
		{"heuristic 404", func(c *clock) []string { return []string{"Last-Modified", past(c, 100*time.Hour)} }, 404, nil, 0, true},
		{"explicit 302", func(*clock) []string { return []string{"Cache-Control", "max-age=3600"} }, 302, nil, 0, true},
		{"explicit 500", func(*clock) []string { return []string{"Cache-Control", "max-age=3600"} }, 500, nil, 0, true},
		{"explicit unknown status", func(*clock) []string { return []string{"Cache-Control", "max-age=3600"} }, 299, nil, 0, true},
		{"no-store", func(*clock) []string { return []string{"Cache-Control", "No-Store, max-age=3600"} }, 200, nil, 0, false},
		{"private", func(*clock) []string { return []string{"Cache-Control", "private, max-age=3600"} }, 200, nil, 0, false},
		{"no-cache", func(*clock) []string { return []string{"Cache-Control", "no-cache, max-age=3600", "Etag", `"a"`} }, 200, nil, 0, false},
		{"request max-age=0", func(*clock) []string { return []string{"Cache-Control", "max-age=3600"} }, 200, []string{"Cache-Control", "max-age=0"}, 0, false},
		{"request max-age older", func(*clock) []string { return []string{"Cache-Control", "max-age=3600", "Age", "2"} }, 200, []string{"Cache-Control", "max-age=1"}, 0, false},
		{"request max-age younger", func(*clock) []string { return []string{"Cache-Control", "max-age=3600"} }, 200, []string{"Cache-Control", "max-age=10"}, 5 * time.Second, true},
		{"request no-cache", func(*clock) []string { return []string{"Cache-Control", "max-age=3600"} }, 200, []string{"Cache-Control", "no-cache"}, 0, false},
		{"request no-store does not forbid reuse", func(*clock) []string { return []string{"Cache-Control", "max-age=3600"} }, 200, []string{"Cache-Control", "no-store"}, 0, true},
		{"stale", func(*clock) []string { return []string{"Cache-Control", "max-age=2", "Etag", `"a"`} }, 200, nil, 3 * time.Second, false},
		{"max-stale", func(*clock) []string { return []string{"Cache-Control", "max-age=2", "Etag", `"a"`} }, 200, []string{"Cache-Control", "max-stale=5"}, 3 * time.Second, true},
		{"max-stale, must-revalidate", func(*clock) []string { return []string{"Cache-Control", "max-age=2, must-revalidate", "Etag", `"a"`} }, 200, []string{"Cache-Control", "max-stale=5"}, 3 * time.Second, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var c *tc
			c = newTC(t, func(w http.ResponseWriter, r *http.Request, n int) {
				h := tt.resp(c.clk)
				for i := 0; i+1 < len(h); i += 2 {
					w.Header().Add(h[i], h[i+1])
				}
				w.Header().Set("Date", c.clk.Now().Format(http.TimeFormat))
				w.WriteHeader(tt.status)
				w.Write([]byte("body " + strconv.Itoa(n)))
			})
			c.do("GET", "/t")
			c.clk.Add(tt.wait)
			w := c.do("GET", "/t", tt.req2...)
			reused := c.o.count() == 1
			if reused != tt.reuse {
				t.Fatalf("reused = %v, want %v (Cache-Status %q)", reused, tt.reuse, status(w))
			}
			if reused && w.Header().Get("Age") == "" {
				t.Fatal("no Age on an answer from the store")
			}
		})
	}
}

func TestUnknownMethodInvalidates(t *testing.T) {
	c := newFixed(t, "Cache-Control", "max-age=60")
	c.do("GET", "/u")
	c.do("M-SEARCH", "/u")
	c.do("GET", "/u")
	if c.o.count() != 3 {
		t.Fatalf("origin saw %d, want 3", c.o.count())
	}
	c.do("OPTIONS", "/u")
	c.do("GET", "/u")
	if c.o.count() != 4 {
		t.Fatalf("OPTIONS invalidated: origin saw %d", c.o.count())
	}
}

func TestNoStoreResponseReplacesStale(t *testing.T) {
	c := newTC(t, nil)
	c.o.serve = func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Cache-Control", "max-age=1")
			w.Header().Set("Etag", `"a"`)
		} else {
			w.Header().Set("Cache-Control", "no-store")
		}
		w.Write([]byte("b" + strconv.Itoa(n)))
	}
	c.do("GET", "/")
	c.clk.Add(2 * time.Second)
	c.do("GET", "/")
	if w := c.do("GET", "/", "Cache-Control", "max-stale"); w.Body.String() != "b3" {
		t.Fatalf("the stale entry was still served after a no-store answer: %q", w.Body.String())
	}
}

func TestTrailersPass(t *testing.T) {
	c := newTC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Trailer", "X-Sum")
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write([]byte("data"))
		w.Header().Set("X-Sum", "42")
	})
	w := c.do("GET", "/")
	if got := w.Result().Trailer.Get("X-Sum"); got != "42" {
		t.Fatalf("trailer %q", got)
	}
	c.do("GET", "/")
	if c.o.count() != 2 {
		t.Fatal("a response with trailers was stored")
	}
}

func TestMismatched304Refetches(t *testing.T) {
	c := newTC(t, nil)
	c.o.serve = func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Cache-Control", "max-age=0")
		if r.Header.Get("If-None-Match") != "" {
			w.Header().Set("Etag", `"other"`)
			w.WriteHeader(304)
			return
		}
		w.Header().Set("Etag", `"v`+strconv.Itoa(n)+`"`)
		w.Write([]byte("b" + strconv.Itoa(n)))
	}
	c.do("GET", "/")
	w := c.do("GET", "/")
	if w.Code != 200 || w.Body.String() != "b3" || c.o.count() != 3 || c.o.last().Header.Get("If-None-Match") != "" {
		t.Fatalf("got %d %q after %d requests", w.Code, w.Body.String(), c.o.count())
	}
}

// TestUncacheableNotCoalesced: once the server said a URL's response may
// not be stored, its concurrent requests go to the server at once, not one
// after the other behind a fetch that will store nothing; a response that
// is stored again brings coalescing back.
func TestUncacheableNotCoalesced(t *testing.T) {
	var cacheable atomic.Bool
	arrived := make(chan struct{}, 8)
	release := make(chan struct{})
	c := newTC(t, nil)
	c.o.serve = func(w http.ResponseWriter, r *http.Request, n int) {
		if n > 1 && n <= 5 {
			arrived <- struct{}{}
			<-release
		}
		if cacheable.Load() {
			w.Header().Set("Cache-Control", "max-age=1")
		} else {
			w.Header().Set("Cache-Control", "no-store")
		}
		w.Write([]byte("x"))
	}
	expect(t, c.do("GET", "/u"), 200, "x", "usher; fwd=uri-miss")
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); c.do("GET", "/u") }()
	}
	deadline := time.After(10 * time.Second)
	for range 4 {
		select {
		case <-arrived:
		case <-deadline:
			t.Fatalf("the server saw %d requests at once, want 4 (coalesced: %d)", c.o.count()-1, c.h.st.c.Coalesced.Load())
		}
	}
	close(release)
	wg.Wait()
	if n := c.h.st.c.Coalesced.Load(); n != 0 {
		t.Fatalf("%d coalesced, want 0", n)
	}
	// Past passTTL the URL is coalesced again; a stored response keeps it so.
	c.clk.Add(passTTL)
	cacheable.Store(true)
	expect(t, c.do("GET", "/u"), 200, "x", "usher; fwd=uri-miss; stored")
	if _, ok := c.h.st.pass[keyOf(httptest.NewRequest("GET", "http://example.com/u", nil))]; ok {
		t.Fatal("the URL is still not coalesced after a stored fetch")
	}
}

func TestPassMarkedOnlyByTheServer(t *testing.T) {
	c := newFixed(t, "Cache-Control", "max-age=60")
	c.do("GET", "/a", "Cache-Control", "no-store") // the request's no-store keeps it out, not the server
	c.do("GET", "/a", "Authorization", "Basic eA==")
	if len(c.h.st.pass) != 0 {
		t.Fatalf("pass marks %v after responses only these requests kept out", c.h.st.pass)
	}
}

// TestHeadFreshens: a HEAD forwarded for a stale stored GET gets a 200
// whose header updates that GET when its validators and length match, and
// invalidates it when they do not (RFC 9111 §4.3.5); a HEAD's other status
// changes nothing.
func TestHeadFreshens(t *testing.T) {
	for _, tt := range []struct {
		name   string
		head   []string // the HEAD response's header
		code   int
		get    string // the next GET's Cache-Status prefix
		header string // the next GET's X-Version
	}{
		{"same ETag updates", []string{"Etag", `"v1"`, "Cache-Control", "max-age=100", "X-Version", "2"}, 200, "usher; hit", "2"},
		{"same Last-Modified updates", []string{"Last-Modified", "Mon, 02 Mar 2026 00:00:00 GMT", "Cache-Control", "max-age=100", "X-Version", "2"}, 200, "usher; hit", "2"},
		{"same ETag and length updates", []string{"Etag", `"v1"`, "Content-Length", "6", "Cache-Control", "max-age=100", "X-Version", "2"}, 200, "usher; hit", "2"},
		{"other length invalidates", []string{"Etag", `"v1"`, "Content-Length", "7", "Cache-Control", "max-age=100", "X-Version", "2"}, 200, "usher; fwd=uri-miss", "3"},
		{"other ETag invalidates", []string{"Etag", `"v2"`, "Cache-Control", "max-age=100", "X-Version", "2"}, 200, "usher; fwd=uri-miss", "3"},
		{"other Last-Modified invalidates", []string{"Last-Modified", "Tue, 03 Mar 2026 00:00:00 GMT", "Cache-Control", "max-age=100"}, 200, "usher; fwd=uri-miss", "3"},
		{"no validator invalidates", []string{"Cache-Control", "max-age=100", "X-Version", "2"}, 200, "usher; fwd=uri-miss", "3"},
		{"now no-store invalidates", []string{"Etag", `"v1"`, "Cache-Control", "no-store"}, 200, "usher; fwd=uri-miss", "3"},
		{"a 404 changes nothing", []string{"Etag", `"v1"`, "Cache-Control", "max-age=100", "X-Version", "2"}, 404, "usher; fwd=stale", "3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newTC(t, nil)
			c.o.serve = func(w http.ResponseWriter, r *http.Request, n int) {
				hd := w.Header()
				hd.Set("Date", c.clk.Now().Format(http.TimeFormat))
				if r.Method == "HEAD" {
					for i := 0; i+1 < len(tt.head); i += 2 {
						hd.Set(tt.head[i], tt.head[i+1])
					}
					w.WriteHeader(tt.code)
					return
				}
				hd.Set("Etag", `"v1"`)
				hd.Set("Last-Modified", "Mon, 02 Mar 2026 00:00:00 GMT")
				hd.Set("Cache-Control", "max-age=10")
				hd.Set("X-Version", strconv.Itoa(n))
				w.Write([]byte("body " + strconv.Itoa(n)))
			}
			c.do("GET", "/hf")
			c.clk.Add(20 * time.Second)
			w := c.do("HEAD", "/hf")
			if c.o.last().Method != "HEAD" || w.Code != tt.code || w.Body.Len() != 0 {
				t.Fatalf("HEAD: %s %d %q", c.o.last().Method, w.Code, w.Body.String())
			}
			w = c.do("GET", "/hf")
			if !strings.HasPrefix(status(w), tt.get) || w.Header().Get("X-Version") != tt.header {
				t.Fatalf("GET after HEAD: Cache-Status %q X-Version %q; want %q, %q", status(w), w.Header().Get("X-Version"), tt.get, tt.header)
			}
			if strings.HasPrefix(tt.get, "usher; hit") && (w.Body.String() != "body 1" || w.Header().Get("Etag") != `"v1"`) {
				t.Fatalf("freshened GET: body %q ETag %q", w.Body.String(), w.Header().Get("Etag"))
			}
		})
	}
}

// TestConformanceHeaders runs more cases in the manner of the HTTP cache
// tests: response field lines in order (a name may repeat), a second
// request after wait, whether it is answered from the store, and which
// fields it then carries or lacks.
func TestConformanceHeaders(t *testing.T) {
	type line = [2]string
	when := func(c *clock, d time.Duration) string { return c.Now().Add(d).Format(http.TimeFormat) }
	type conf struct {
		name    string
		resp    func(c *clock) []line
		status  int
		wait    time.Duration
		req2    []string
		reuse   bool
		has     map[string]string // field → value on the second response ("" = any)
		missing []string
	}
	cases := []conf{
		// Age: the server's, plus the time in the store (RFC 9111 §4.2.3).
		{name: "Age added to", resp: func(*clock) []line { return []line{{"Cache-Control", "max-age=600"}, {"Age", "30"}} },
			wait: 3 * time.Second, reuse: true, has: map[string]string{"Age": "33"}},
		{name: "Age over max-age", resp: func(*clock) []line { return []line{{"Cache-Control", "max-age=10"}, {"Age", "15"}} }, reuse: false},
		{name: "Date in the past counts as age", resp: func(c *clock) []line {
			return []line{{"Cache-Control", "max-age=60"}, {"Date", when(c, -100*time.Second)}}
		}, reuse: false},
		{name: "Date in the future is no negative age", resp: func(c *clock) []line {
			return []line{{"Cache-Control", "max-age=60"}, {"Date", when(c, time.Hour)}}
		}, wait: 2 * time.Second, reuse: true, has: map[string]string{"Age": "2"}},
		{name: "Age list: its first member", resp: func(*clock) []line { return []line{{"Cache-Control", "max-age=3600"}, {"Age", "7200, 0"}} }, reuse: false},
		{name: "Age on two lines: the first", resp: func(*clock) []line { return []line{{"Cache-Control", "max-age=3600"}, {"Age", "0"}, {"Age", "7200"}} },
			reuse: true},
		{name: "Age not a number is ignored", resp: func(*clock) []line { return []line{{"Cache-Control", "max-age=3600"}, {"Age", "7200.0"}} }, reuse: true},
		{name: "Date kept as the server sent it", resp: func(c *clock) []line {
			return []line{{"Cache-Control", "max-age=3600"}, {"Date", "Wed, 04 Mar 2026 05:06:07 GMT"}}
		}, wait: 5 * time.Second, reuse: true, has: map[string]string{"Date": "Wed, 04 Mar 2026 05:06:07 GMT"}},

		// Qualified no-cache and private: those fields only, the rest stored.
		{name: `no-cache="a" on its own line`, resp: func(*clock) []line {
			return []line{{"Cache-Control", `no-cache="a"`}, {"A", "1"}, {"B", "2"}, {"Cache-Control", "max-age=3600"}}
		}, reuse: true, has: map[string]string{"B": "2"}, missing: []string{"A"}},
		{name: `no-cache="a, b"`, resp: func(*clock) []line {
			return []line{{"Cache-Control", `no-cache="a, b"`}, {"A", "1"}, {"B", "2"}, {"C", "3"}, {"Cache-Control", "max-age=3600"}}
		}, reuse: true, has: map[string]string{"C": "3"}, missing: []string{"A", "B"}},
		{name: "no-cache=token form", resp: func(*clock) []line {
			return []line{{"Cache-Control", "max-age=3600, no-cache=a"}, {"A", "1"}, {"B", "2"}}
		}, reuse: true, has: map[string]string{"B": "2"}, missing: []string{"A"}},
		{name: `private="a"`, resp: func(*clock) []line {
			return []line{{"Cache-Control", `max-age=3600, private="a"`}, {"A", "1"}, {"B", "2"}}
		}, reuse: true, has: map[string]string{"B": "2"}, missing: []string{"A"}},
		{name: "private with an empty list is private", resp: func(*clock) []line {
			return []line{{"Cache-Control", `max-age=3600, private=""`}}
		}, reuse: false},
		{name: "Connection-named fields not stored", resp: func(*clock) []line {
			return []line{{"Cache-Control", "max-age=3600"}, {"Connection", "a, b"}, {"A", "1"}, {"B", "2"}, {"C", "3"}}
		}, reuse: true, has: map[string]string{"C": "3"}, missing: []string{"Connection", "A", "B"}},

		// must-understand: stored only for a status usher knows.
		{name: "must-understand, no-store, 200", resp: func(*clock) []line { return []line{{"Cache-Control", "must-understand, no-store, max-age=3600"}} }, reuse: true},
		{name: "must-understand, no-store, unknown status", status: 299,
			resp: func(*clock) []line { return []line{{"Cache-Control", "must-understand, no-store, max-age=3600"}} }, reuse: false},
		{name: "must-understand, unknown status", status: 299,
			resp: func(*clock) []line { return []line{{"Cache-Control", "must-understand, max-age=3600"}} }, reuse: false},
		{name: "must-understand, 206 is not understood", status: 206,
			resp: func(*clock) []line { return []line{{"Cache-Control", "must-understand, max-age=3600"}} }, reuse: false},

		// max-age=0 is stale at once; no-cache also forbids any stale use.
		{name: "max-age=0 revalidates", resp: func(*clock) []line { return []line{{"Cache-Control", "max-age=0"}, {"Etag", `"a"`}} }, reuse: false},
		{name: "max-age=0 with max-stale", resp: func(*clock) []line { return []line{{"Cache-Control", "max-age=0"}, {"Etag", `"a"`}} },
			req2: []string{"Cache-Control", "max-stale=60"}, reuse: true},
		{name: "no-cache with max-stale", resp: func(*clock) []line { return []line{{"Cache-Control", "no-cache, max-age=3600"}, {"Etag", `"a"`}} },
			req2: []string{"Cache-Control", "max-stale=60"}, reuse: false},

		// Expires: a date not parsed is in the past, heuristics or not.
		{name: "Expires: -1", resp: func(c *clock) []line { return []line{{"Expires", "-1"}, {"Last-Modified", when(c, -100*time.Hour)}} }, reuse: false},
		{name: "Expires: garbage", resp: func(c *clock) []line { return []line{{"Expires", "soon"}, {"Last-Modified", when(c, -100*time.Hour)}} }, reuse: false},
		{name: "Expires: empty", resp: func(c *clock) []line { return []line{{"Expires", ""}, {"Last-Modified", when(c, -100*time.Hour)}} }, reuse: false},
		{name: "Expires: first of two", resp: func(c *clock) []line {
			return []line{{"Expires", when(c, time.Hour)}, {"Expires", when(c, -time.Hour)}}
		}, reuse: true},

		// Several Cache-Control lines are one list; a directive's first value counts.
		{name: "max-age fresh then stale, two lines", resp: func(*clock) []line {
			return []line{{"Cache-Control", "max-age=1800"}, {"Cache-Control", "max-age=1"}}
		}, wait: 2 * time.Second, reuse: true},
		{name: "max-age stale then fresh, two lines", resp: func(*clock) []line {
			return []line{{"Cache-Control", "max-age=1"}, {"Cache-Control", "max-age=1800"}}
		}, wait: 2 * time.Second, reuse: false},
		{name: "no-store on a second line", resp: func(*clock) []line {
			return []line{{"Cache-Control", "max-age=1800"}, {"Cache-Control", "no-store"}}
		}, reuse: false},
		{name: "s-maxage on a second line wins over max-age", resp: func(*clock) []line {
			return []line{{"Cache-Control", "max-age=3600"}, {"Cache-Control", "s-maxage=1"}}
		}, wait: 2 * time.Second, reuse: false},
		{name: "max-age in a quoted string is not max-age", resp: func(*clock) []line {
			return []line{{"Cache-Control", `extension="max-age=3600", max-age=1`}}
		}, wait: 2 * time.Second, reuse: false},
	}
	// Heuristic freshness: only the statuses RFC 9110 §15.1 allows (206
	// is one, but a part is never stored), or with public.
	lastMod := func(c *clock) []line { return []line{{"Last-Modified", when(c, -100*time.Hour)}} }
	for _, s := range []int{200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501} {
		cases = append(cases, conf{name: "heuristic " + strconv.Itoa(s), status: s, resp: lastMod, wait: time.Hour, reuse: true})
	}
	for _, s := range []int{201, 202, 206, 302, 303, 307, 400, 401, 403, 409, 500, 502, 503, 504, 599} {
		cases = append(cases, conf{name: "no heuristic for " + strconv.Itoa(s), status: s, resp: lastMod, reuse: false})
	}
	cases = append(cases, conf{name: "heuristic 403 when public", status: 403, resp: func(c *clock) []line {
		return []line{{"Cache-Control", "public"}, {"Last-Modified", when(c, -100*time.Hour)}}
	}, reuse: true})
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			var c *tc
			c = newTC(t, func(w http.ResponseWriter, r *http.Request, n int) {
				lines := tt.resp(c.clk)
				dated := false
				for _, l := range lines {
					w.Header()[l[0]] = append(w.Header()[l[0]], l[1])
					dated = dated || l[0] == "Date"
				}
				if !dated {
					w.Header().Set("Date", c.clk.Now().Format(http.TimeFormat))
				}
				code := tt.status
				if code == 0 {
					code = 200
				}
				w.WriteHeader(code)
				if code != http.StatusNoContent {
					w.Write([]byte("body " + strconv.Itoa(n)))
				}
			})
			c.do("GET", "/t")
			c.clk.Add(tt.wait)
			w := c.do("GET", "/t", tt.req2...)
			if reused := c.o.count() == 1; reused != tt.reuse {
				t.Fatalf("reused = %v, want %v (Cache-Status %q)", reused, tt.reuse, status(w))
			}
			for k, v := range tt.has {
				if got, ok := w.Header()[k]; !ok || (v != "" && got[0] != v) {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			for _, k := range tt.missing {
				if got, ok := w.Header()[k]; ok {
					t.Errorf("%s = %q, want none", k, got)
				}
			}
		})
	}
}

// Test304UpdatesStoredFields: a 304 replaces every stored field it
// carries (Content-Type, Content-Location, Cache-Control, Expires…), but
// not the framing (Content-Length) nor what only its own client may have
// (Set-Cookie), nor fields its Connection names.
func Test304UpdatesStoredFields(t *testing.T) {
	c := newTC(t, nil)
	c.o.serve = func(w http.ResponseWriter, r *http.Request, n int) {
		hd := w.Header()
		hd.Set("Date", c.clk.Now().Format(http.TimeFormat))
		if r.Header.Get("If-None-Match") == `"e"` {
			hd.Set("Cache-Control", "max-age=3600")
			hd.Set("Content-Type", "text/plain;charset=utf-8")
			hd.Set("Content-Location", "/bar")
			hd.Set("X-Frame-Options", "sameorigin")
			hd.Set("Content-Length", "10")
			hd.Set("Set-Cookie", "a=c")
			hd.Set("Connection", "X-Hop")
			hd.Set("X-Hop", "2")
			w.WriteHeader(304)
			return
		}
		hd.Set("Cache-Control", "max-age=1")
		hd.Set("Etag", `"e"`)
		hd.Set("Content-Type", "text/plain")
		hd.Set("Content-Location", "/foo")
		hd.Set("X-Frame-Options", "deny")
		hd.Set("X-Hop", "1")
		hd.Set("X-Kept", "yes")
		w.Write([]byte("hello"))
	}
	c.do("GET", "/u")
	c.clk.Add(2 * time.Second)
	w := c.do("GET", "/u")
	expect(t, w, 200, "hello", "usher; fwd=stale; fwd-status=304; stored")
	if w.Header().Get("Set-Cookie") != "a=c" {
		t.Fatalf("the revalidating client lost the 304's Set-Cookie: %v", w.Header())
	}
	w = c.do("GET", "/u")
	expect(t, w, 200, "hello", "usher; hit")
	want := map[string]string{"Content-Type": "text/plain;charset=utf-8", "Content-Location": "/bar", "X-Frame-Options": "sameorigin",
		"Content-Length": "5", "Cache-Control": "max-age=3600", "X-Kept": "yes", "X-Hop": "1", "Set-Cookie": ""}
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("stored %s = %q after the 304, want %q", k, got, v)
		}
	}
}

// awaitRevalidated waits until no background revalidation runs: one
// leaves the reval set once it has stored what it got.
func awaitRevalidated(t *testing.T, c *tc) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.h.st.mu.Lock()
		running := len(c.h.st.reval)
		c.h.st.mu.Unlock()
		if running == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the background revalidation never ended")
		}
		runtime.Gosched()
	}
}
