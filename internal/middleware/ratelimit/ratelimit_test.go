package ratelimit

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/redisconn"
	"github.com/usher-lb/usher/internal/redisconn/redistest"
)

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })

// syncBuf is a log sink safe for concurrent writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type rig struct {
	h       http.Handler
	metrics *observe.Metrics
	log     *syncBuf
}

func newRig(t testing.TB, cfg *config.RateLimit, name string, c env.Config) *rig {
	t.Helper()
	r := &rig{metrics: observe.NewMetrics(), log: &syncBuf{}}
	c.Metrics = r.metrics
	c.Log = slog.New(slog.NewJSONHandler(r.log, nil))
	h, err := New(env.With(context.Background(), env.New(c, nil)), ok, cfg, name)
	if err != nil {
		t.Fatal(err)
	}
	r.h = h
	return r
}

func (r *rig) do(remote string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "http://shop.example/", nil)
	req.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, req)
	return w
}

func (r *rig) count(name, result string) float64 {
	return testutil.ToFloat64(r.metrics.Decision("rateLimit", name, result).Counter())
}

// TestHeaders: what a client sees, let through and limited.
func TestHeaders(t *testing.T) {
	r := newRig(t, &config.RateLimit{Average: 2, Period: config.Duration(60e9), Burst: 2}, "api-limit", env.Config{})
	w := r.do("192.0.2.1:1000")
	if w.Code != 200 || w.Body.String() != "ok" {
		t.Fatalf("first request: %d %q", w.Code, w.Body)
	}
	if got := w.Header().Get("RateLimit-Policy"); got != `"api-limit";q=2;w=60` {
		t.Errorf("RateLimit-Policy: %q", got)
	}
	if got := w.Header().Get("RateLimit"); got != `"api-limit";r=1;t=30` {
		t.Errorf("RateLimit after the first of 2: %q", got)
	}
	if w = r.do("192.0.2.1:1001"); w.Code != 200 || w.Header().Get("RateLimit") != `"api-limit";r=0;t=60` {
		t.Errorf("second request: %d, RateLimit %q", w.Code, w.Header().Get("RateLimit"))
	}
	w = r.do("192.0.2.1:1002")
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("third request: %d, want 429", w.Code)
	}
	if got := w.Header().Get("Retry-After"); got != "30" {
		t.Errorf("Retry-After: %q, want 30", got)
	}
	if got := w.Header().Get("RateLimit"); got != `"api-limit";r=0;t=30` {
		t.Errorf("RateLimit of the 429: %q", got)
	}
	if got := w.Header().Get("RateLimit-Policy"); got != `"api-limit";q=2;w=60` {
		t.Errorf("RateLimit-Policy of the 429: %q", got)
	}
	if !strings.Contains(w.Body.String(), "429") {
		t.Errorf("body: %q", w.Body)
	}
	if w = r.do("192.0.2.2:1000"); w.Code != 200 {
		t.Errorf("another client: %d", w.Code)
	}
	if a, d := r.count("api-limit", "allow"), r.count("api-limit", "deny"); a != 3 || d != 1 {
		t.Errorf("counted %v allowed, %v limited; want 3, 1", a, d)
	}
}

// TestKeys: each key kind gives its own buckets, and a request without the
// key's value falls back to its client IP.
func TestKeys(t *testing.T) {
	one := func(key string, ipv6 int) *rig {
		return newRig(t, &config.RateLimit{Average: 1, Period: config.Duration(3600e9), Key: key, IPv6Subnet: ipv6}, "k", env.Config{})
	}
	t.Run("header", func(t *testing.T) {
		r := one("header:X-Tenant", 0)
		if r.do("192.0.2.1:1", "X-Tenant", "a").Code != 200 || r.do("192.0.2.2:1", "X-Tenant", "a").Code != 429 {
			t.Error("one tenant from two addresses is not one bucket")
		}
		if r.do("192.0.2.1:1", "X-Tenant", "b").Code != 200 {
			t.Error("tenant b limited by a")
		}
		if r.do("192.0.2.1:1").Code != 200 || r.do("192.0.2.1:1").Code != 429 {
			t.Error("without the header, the client IP is not the key")
		}
		long := strings.Repeat("x", 10000)
		if r.do("192.0.2.9:1", "X-Tenant", long).Code != 200 || r.do("192.0.2.9:1", "X-Tenant", long).Code != 429 {
			t.Error("a long value is not a key")
		}
	})
	t.Run("host", func(t *testing.T) {
		r := one("host", 0)
		req := func(host string) int {
			q := httptest.NewRequest("GET", "/", nil)
			q.Host = host
			w := httptest.NewRecorder()
			r.h.ServeHTTP(w, q)
			return w.Code
		}
		if req("a.example") != 200 || req("A.example:8080") != 429 || req("b.example") != 200 {
			t.Error("host key: case and port must not matter, hosts must differ")
		}
	})
	t.Run("ipv6Subnet", func(t *testing.T) {
		r := one("clientIP", 64)
		if r.do("[2001:db8:1:2::1]:1").Code != 200 || r.do("[2001:db8:1:2:ffff::9]:1").Code != 429 {
			t.Error("two addresses of one /64 are not one bucket")
		}
		if r.do("[2001:db8:1:3::1]:1").Code != 200 {
			t.Error("another /64 limited")
		}
		if r.do("[::ffff:192.0.2.7]:1").Code != 200 || r.do("192.0.2.7:1").Code != 429 {
			t.Error("an IPv4-mapped address is not its IPv4 address")
		}
	})
	t.Run("recorded client IP", func(t *testing.T) {
		r := one("clientIP", 0)
		req := func(client string) int {
			rec := observe.NewRecorder(httptest.NewRecorder())
			defer rec.Release()
			rec.Rec.ClientIP = mustAddr(client)
			q := httptest.NewRequest("GET", "/", nil)
			q.RemoteAddr = "10.0.0.1:1" // the trusted proxy
			r.h.ServeHTTP(rec, q)
			return rec.Rec.Status
		}
		if req("198.51.100.1") != 200 || req("198.51.100.2") != 200 || req("198.51.100.1") != 429 {
			t.Error("the client IP usher computed (after trustedProxies) is not the key")
		}
	})
}

// TestStoreFromEnv: store: redis without a redis section is refused.
func TestRedisNeedsItsSection(t *testing.T) {
	_, err := New(context.Background(), ok, &config.RateLimit{Average: 1, Store: "redis"}, "x")
	if err == nil || !strings.Contains(err.Error(), "redis") {
		t.Fatalf("err %v", err)
	}
}

func redisClient(t testing.TB, addr string) env.Config {
	t.Helper()
	rc, err := redisconn.Open(&config.Redis{Address: addr, Timeout: config.Duration(300e6), PoolSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	return env.Config{Redis: rc}
}

// TestRedisSharedAndNamespaced: two middlewares of one name on one Redis
// (two ushers) enforce one limit; another name has buckets of its own.
func TestRedisSharedAndNamespaced(t *testing.T) {
	srv := redistest.Start(t)
	cfg := &config.RateLimit{Average: 3, Period: config.Duration(3600e9), Burst: 3, Store: "redis"}
	a := newRig(t, cfg, "api", redisClient(t, srv.Addr))
	b := newRig(t, cfg, "api", redisClient(t, srv.Addr))
	other := newRig(t, cfg, "other", redisClient(t, srv.Addr))
	var got []int
	for _, r := range []*rig{a, b, a, b, a} {
		got = append(got, r.do("192.0.2.1:1").Code)
	}
	if want := []int{200, 200, 200, 429, 429}; !equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	w := a.do("192.0.2.1:1")
	if w.Header().Get("Retry-After") == "" || w.Header().Get("RateLimit") != `"api";r=0;t=`+w.Header().Get("Retry-After") {
		t.Errorf("429 headers: %v", w.Header())
	}
	if w := other.do("192.0.2.1:1"); w.Code != 200 || w.Header().Get("RateLimit") != `"other";r=2;t=1200` {
		t.Errorf("another name: %d %q", w.Code, w.Header().Get("RateLimit"))
	}
}

// TestRedisOutage: with Redis gone, allow lets requests through and deny
// answers 503; the outage is logged once at its start and once at its end,
// and every request it touched is counted as an error.
func TestRedisOutage(t *testing.T) {
	for _, mode := range []string{"allow", "deny"} {
		t.Run(mode, func(t *testing.T) {
			srv := redistest.Start(t)
			r := newRig(t, &config.RateLimit{Average: 1, Period: config.Duration(3600e9), Store: "redis", OnStoreError: mode}, "l", redisClient(t, srv.Addr))
			if c := r.do("192.0.2.1:1").Code; c != 200 {
				t.Fatalf("before the outage: %d", c)
			}
			srv.Stop()
			want := 200
			if mode == "deny" {
				want = 503
			}
			for range 3 {
				w := r.do("192.0.2.1:1")
				if w.Code != want {
					t.Fatalf("during the outage: %d, want %d", w.Code, want)
				}
				if mode == "deny" && w.Header().Get("Retry-After") == "" {
					t.Error("503 without Retry-After")
				}
			}
			if n := strings.Count(r.log.String(), "Redis fails"); n != 1 {
				t.Errorf("outage logged %d times:\n%s", n, r.log)
			}
			if strings.Contains(r.log.String(), "secret") {
				t.Error("log holds a secret")
			}
			if got := r.count("l", "error"); got != 3 {
				t.Errorf("%v errors counted, want 3", got)
			}
			srv.Restart(t)
			if c := r.do("192.0.2.1:1").Code; c != 200 { // Redis came back empty
				t.Fatalf("after the outage: %d", c)
			}
			if c := r.do("192.0.2.1:1").Code; c != 429 {
				t.Fatalf("after the outage, limiting again: %d", c)
			}
			if !strings.Contains(r.log.String(), "Redis answers again") {
				t.Errorf("the outage's end is not logged:\n%s", r.log)
			}
		})
	}
}

// TestKeptAcrossReloads: a compile that keeps the name keeps the memory
// buckets.
func TestKeptAcrossReloads(t *testing.T) {
	st := env.NewStore()
	build := func(name string) http.Handler {
		b := st.Begin()
		h, err := New(env.With(context.Background(), env.New(env.Config{}, b)), ok, &config.RateLimit{Average: 1, Period: config.Duration(3600e9)}, name)
		if err != nil {
			t.Fatal(err)
		}
		b.Commit()
		return h
	}
	do := func(h http.Handler) int {
		w := httptest.NewRecorder()
		q := httptest.NewRequest("GET", "/", nil)
		h.ServeHTTP(w, q)
		return w.Code
	}
	if c := do(build("a")); c != 200 {
		t.Fatal(c)
	}
	if c := do(build("a")); c != 429 {
		t.Fatalf("after a reload keeping the name: %d, want 429", c)
	}
	if c := do(build("b")); c != 200 {
		t.Fatalf("a renamed middleware shares buckets: %d", c)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestExactUnderConcurrency: requests at once on one key, through several
// handlers sharing a store (ushers sharing Redis, snapshots sharing memory),
// let exactly burst through.
func TestExactUnderConcurrency(t *testing.T) {
	cfg := config.RateLimit{Average: 1, Period: config.Duration(3600e9), Burst: 25}
	srv := redistest.Start(t)
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			c := cfg
			c.Store = store
			st := env.NewStore()
			var rigs []*rig
			for range 2 {
				ec := redisClient(t, srv.Addr)
				b := st.Begin()
				h, err := New(env.With(context.Background(), env.New(ec, b)), ok, &c, "conc")
				if err != nil {
					t.Fatal(err)
				}
				b.Commit()
				rigs = append(rigs, &rig{h: h})
			}
			var mu sync.Mutex
			codes := map[int]int{}
			var wg sync.WaitGroup
			for i := range 100 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					code := rigs[i%2].do("192.0.2.1:1").Code
					mu.Lock()
					codes[code]++
					mu.Unlock()
				}()
			}
			wg.Wait()
			if codes[200] != 25 || codes[429] != 75 {
				t.Fatalf("100 requests at once on a burst of 25: %v", codes)
			}
		})
	}
}
