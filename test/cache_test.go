package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/redisconn/redistest"
)

// cacheTpl: router "cached" goes through the cache alone; "cz" through
// cache then compress, "zc" through compress then cache.
const cacheTpl = `
admin: { address: "127.0.0.1:0" }
{{redis}}
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    cached: { rule: "PathPrefix(` + "`/`" + `)", middlewares: [c], service: app }
    cz:     { rule: "PathPrefix(` + "`/cz/`" + `)", middlewares: [c2, gz], service: app }
    zc:     { rule: "PathPrefix(` + "`/zc/`" + `)", middlewares: [gz, c3], service: app }
  middlewares:
    c:  { cache: { store: {{store}}, maxBytes: 1MiB, maxEntryBytes: 256KiB } }
    c2: { cache: { store: memory } }
    c3: { cache: { store: memory } }
    gz: { compress: { encodings: [gzip] } }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`

// seen counts what the server behind usher got.
type seen struct {
	mu          sync.Mutex
	byPath      map[string]int
	conditional map[string]int
}

func (s *seen) add(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byPath[r.URL.Path]++
	if r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "" {
		s.conditional[r.URL.Path]++
	}
}

func (s *seen) n(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byPath[path]
}

func (s *seen) cond(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conditional[path]
}

// cacheBackend serves: /page (max-age=300, tagged), /etag (max-age=0 with
// an ETag: revalidated each time), /slow (held until release is closed),
// /cut (a body shorter than its Content-Length), /text (compressible).
func cacheBackend(t *testing.T, release chan struct{}) (*seen, string) {
	s := &seen{byPath: map[string]int{}, conditional: map[string]int{}}
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		s.add(r)
		h := w.Header()
		switch {
		case r.URL.Path == "/page":
			h.Set("Cache-Control", "max-age=300")
			h.Set("Cache-Tag", "pages, home")
			fmt.Fprintf(w, "page %d", s.n(r.URL.Path))
		case r.URL.Path == "/etag":
			h.Set("Cache-Control", "max-age=0")
			h.Set("Etag", `"v1"`)
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			io.WriteString(w, "tagged body")
		case r.URL.Path == "/slow":
			<-release
			h.Set("Cache-Control", "max-age=300")
			io.WriteString(w, "slow body")
		case r.URL.Path == "/cut":
			h.Set("Cache-Control", "max-age=300")
			h.Set("Content-Length", "100")
			w.WriteHeader(200)
			io.WriteString(w, "only part")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		default: // /cz/..., /zc/...
			h.Set("Cache-Control", "max-age=300")
			h.Set("Content-Type", "text/html")
			w.Write(page(20000))
		}
	})
	return s, be.URL
}

func cacheGet(t *testing.T, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp, string(b)
}

func cacheStatusOf(r *http.Response) string { return strings.Join(r.Header["Cache-Status"], ", ") }

func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(usherBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("usher %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

type cacheStats struct {
	Middleware string
	Hits       int64
	Coalesced  int64
	Entries    int64
}

func adminCacheStats(t *testing.T, u *usher, name string) cacheStats {
	t.Helper()
	resp, err := http.Get("http://" + u.addrs["admin"] + "/api/cache?middleware=" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st []cacheStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || len(st) != 1 {
		t.Fatalf("stats: %v %v", st, err)
	}
	return st[0]
}

// TestCacheThroughUsher: hits, revalidation, coalescing, bodies cut short,
// purges and figures, on the real binary, counted at the server.
func TestCacheThroughUsher(t *testing.T) {
	release := make(chan struct{})
	s, be := cacheBackend(t, release)
	u := startUsher(t, config(cacheTpl, "be", be, "store", "memory", "redis", ""))
	base := u.url("web")

	// A hit: the server sees one request.
	r1, b1 := cacheGet(t, base+"/page")
	r2, b2 := cacheGet(t, base+"/page")
	if b1 != "page 1" || b2 != "page 1" || s.n("/page") != 1 {
		t.Fatalf("bodies %q %q, server saw %d", b1, b2, s.n("/page"))
	}
	if !strings.HasPrefix(cacheStatusOf(r1), "usher; fwd=uri-miss; stored") || !strings.HasPrefix(cacheStatusOf(r2), "usher; hit; ttl=") || r2.Header.Get("Age") == "" {
		t.Fatalf("Cache-Status %q then %q, Age %q", cacheStatusOf(r1), cacheStatusOf(r2), r2.Header.Get("Age"))
	}
	// HEAD and a range from the stored GET.
	req, _ := http.NewRequest("HEAD", base+"/page", nil)
	hr, err := rawClient.Do(req)
	if err != nil || hr.StatusCode != 200 || hr.Header.Get("Content-Length") != "6" {
		t.Fatalf("HEAD: %v %v", hr, err)
	}
	hr.Body.Close()
	rr, rb := cacheGet(t, base+"/page", "Range", "bytes=0-3")
	if rr.StatusCode != 206 || rb != "page" || s.n("/page") != 1 {
		t.Fatalf("range: %d %q", rr.StatusCode, rb)
	}

	// Revalidation: the second request is conditional, and its 304 serves
	// the stored body.
	cacheGet(t, base+"/etag")
	r, b := cacheGet(t, base+"/etag")
	if b != "tagged body" || s.n("/etag") != 2 || s.cond("/etag") != 1 || !strings.Contains(cacheStatusOf(r), "fwd-status=304") {
		t.Fatalf("revalidation: %q, server saw %d (%d conditional), Cache-Status %q", b, s.n("/etag"), s.cond("/etag"), cacheStatusOf(r))
	}
	// A conditional client gets its 304 from the cache.
	r, _ = cacheGet(t, base+"/page", "If-None-Match", "*")
	if r.StatusCode != 304 || s.n("/page") != 1 {
		t.Fatalf("conditional client: %d", r.StatusCode)
	}

	// Coalescing: 6 concurrent misses make one request.
	const n = 6
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, b := cacheGet(t, base+"/slow"); b == "slow body" {
				ok.Add(1)
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for adminCacheStats(t, u, "c").Coalesced < n-1 {
		if time.Now().After(deadline) {
			t.Fatal("requests never waited for the first one")
		}
		time.Sleep(10 * time.Millisecond) // polling the admin API's figure
	}
	close(release)
	wg.Wait()
	if ok.Load() != n || s.n("/slow") != 1 {
		t.Fatalf("%d of %d got the body; server saw %d requests", ok.Load(), n, s.n("/slow"))
	}

	// A body cut short is never stored.
	for range 2 {
		resp, err := rawClient.Get(base + "/cut")
		if err == nil {
			io.ReadAll(resp.Body)
			resp.Body.Close()
		}
	}
	if s.n("/cut") != 2 {
		t.Fatalf("a cut body was served from the cache: server saw %d", s.n("/cut"))
	}

	// Purges through the CLI.
	admin := u.addrs["admin"]
	if out := runCLI(t, "cache", "purge", "--admin", admin, "--tag", "home"); !strings.Contains(out, "purged 1 entries") {
		t.Fatalf("purge by tag: %s", out)
	}
	if _, b := cacheGet(t, base+"/page"); b != "page 2" {
		t.Fatalf("after purge: %q", b)
	}
	if out := runCLI(t, "cache", "purge", "--admin", admin, "--middleware", "c", "--prefix", "/pa"); !strings.Contains(out, "purged 1 entries") {
		t.Fatalf("purge by prefix: %s", out)
	}
	if out := runCLI(t, "cache", "stats", "--admin", admin); !strings.Contains(out, "HIT RATIO") || !strings.Contains(out, "\nc ") {
		t.Fatalf("stats: %s", out)
	}
	_, metrics := get(t, "http://"+admin+"/metrics")
	if !strings.Contains(metrics, `usher_cache_requests_total{middleware="c",result="hit"}`) || !strings.Contains(metrics, `usher_cache_requests_total{middleware="c",result="coalesced"} 5`) {
		t.Fatalf("metrics lack the cache's figures")
	}
	// An unsafe method invalidates.
	cacheGet(t, base+"/page")
	before := s.n("/page")
	resp, err := rawClient.Post(base+"/page", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cacheGet(t, base+"/page")
	if s.n("/page") != before+2 {
		t.Fatalf("POST did not invalidate: server saw %d after %d", s.n("/page"), before)
	}
}

// TestCacheWithCompressBothOrders: cache before compress stores each
// encoding as a variant; compress before cache compresses what the cache
// serves. Either way the second request is a hit and decodes to the page.
func TestCacheWithCompressBothOrders(t *testing.T) {
	s, be := cacheBackend(t, nil)
	u := startUsher(t, config(cacheTpl, "be", be, "store", "memory", "redis", ""))
	want := string(page(20000))
	for _, p := range []string{"/cz/a", "/zc/a"} {
		for i := range 2 {
			resp, body := cacheGet(t, u.url("web")+p, "Accept-Encoding", "gzip")
			if resp.Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("%s #%d: not gzip: %v", p, i, resp.Header)
			}
			if b, _ := io.ReadAll(decompressor(t, "gzip", strings.NewReader(body))); string(b) != want {
				t.Fatalf("%s #%d: body does not decode to the page", p, i)
			}
			if i == 1 && !strings.Contains(cacheStatusOf(resp), "hit") {
				t.Fatalf("%s: second request not a hit: %q", p, cacheStatusOf(resp))
			}
		}
		resp, body := cacheGet(t, u.url("web")+p)
		if resp.Header.Get("Content-Encoding") != "" || body != want {
			t.Fatalf("%s: identity client got %q", p, resp.Header.Get("Content-Encoding"))
		}
	}
	if s.n("/cz/a") != 2 || s.n("/zc/a") != 1 {
		t.Fatalf("server saw cz %d (want 2: a variant per encoding), zc %d (want 1)", s.n("/cz/a"), s.n("/zc/a"))
	}
}

// TestCacheRedisSharedByTwoUshers: one usher's fill is the other's hit, and
// a purge through one is seen by both.
func TestCacheRedisSharedByTwoUshers(t *testing.T) {
	rs := redistest.Start(t)
	s, be := cacheBackend(t, nil)
	cfg := config(cacheTpl, "be", be, "store", "redis", "redis", `redis: { "address": "`+rs.Addr+`" }`)
	u1 := startUsher(t, cfg)
	u2 := startUsher(t, cfg)
	// The key is the URL the clients asked for: behind one name, the two
	// ushers see the same Host.
	if _, b := cacheGet(t, u1.url("web")+"/page", "Host", "shop.example"); b != "page 1" {
		t.Fatal(b)
	}
	r, b := cacheGet(t, u2.url("web")+"/page", "Host", "shop.example")
	if b != "page 1" || s.n("/page") != 1 || !strings.HasPrefix(cacheStatusOf(r), "usher; hit") {
		t.Fatalf("second usher: %q %q, server saw %d", b, cacheStatusOf(r), s.n("/page"))
	}
	if out := runCLI(t, "cache", "purge", "--admin", u2.addrs["admin"], "--url", "/page"); !strings.Contains(out, "purged 1 entries") {
		t.Fatalf("purge: %s", out)
	}
	if _, b := cacheGet(t, u1.url("web")+"/page", "Host", "shop.example"); b != "page 2" {
		t.Fatalf("after a purge through the other usher: %q", b)
	}
}

// TestCacheKeptAcrossReload: entries survive a reload that keeps the cache
// middleware's name and store settings.
func TestCacheKeptAcrossReload(t *testing.T) {
	s, be := cacheBackend(t, nil)
	cfg := config(cacheTpl, "be", be, "store", "memory", "redis", "")
	u := startUsher(t, cfg)
	cacheGet(t, u.url("web")+"/page")
	if l := u.rewrite(strings.Replace(cfg, "gz: { compress: { encodings: [gzip] } }", "gz: { compress: { encodings: [gzip, zstd] } }", 1)); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	r, b := cacheGet(t, u.url("web")+"/page")
	if b != "page 1" || s.n("/page") != 1 || !strings.HasPrefix(cacheStatusOf(r), "usher; hit") {
		t.Fatalf("after a reload: %q %q, server saw %d", b, cacheStatusOf(r), s.n("/page"))
	}
}

// TestCacheStaleIfErrorServerDown: with stale-if-error, a stale entry is
// served when its server is gone; without it, the client gets the 502.
func TestCacheStaleIfErrorServerDown(t *testing.T) {
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sie" {
			w.Header().Set("Cache-Control", "max-age=0, stale-if-error=600")
		} else {
			w.Header().Set("Cache-Control", "max-age=0")
		}
		w.Header().Set("Etag", `"e"`)
		io.WriteString(w, "still here")
	})
	u := startUsher(t, config(`
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", middlewares: [c], service: app }
  middlewares:
    c: { cache: {} }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "be", be.URL))
	cacheGet(t, u.url("web")+"/sie")
	cacheGet(t, u.url("web")+"/plain")
	be.Close()
	r, b := cacheGet(t, u.url("web")+"/sie")
	if r.StatusCode != 200 || b != "still here" || !strings.Contains(cacheStatusOf(r), "detail=stale-if-error") {
		t.Fatalf("server down: %d %q %q", r.StatusCode, b, cacheStatusOf(r))
	}
	if r, _ := cacheGet(t, u.url("web")+"/plain"); r.StatusCode != http.StatusBadGateway {
		t.Fatalf("without stale-if-error: %d, want 502", r.StatusCode)
	}
}

// TestCacheHeadFreshensThroughUsher: a HEAD for a stale stored GET goes to
// the server as HEAD; its 200 with the same ETag and length freshens the
// stored GET (the next GET is a hit with the HEAD's fields), one with
// another ETag drops it (the next GET goes to the server).
func TestCacheHeadFreshensThroughUsher(t *testing.T) {
	var gets, heads atomic.Int64
	var etag atomic.Value
	etag.Store(`"v1"`)
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Etag", etag.Load().(string))
		h.Set("Content-Length", "4")
		if r.Method == "HEAD" {
			heads.Add(1)
			h.Set("Cache-Control", "max-age=300")
			h.Set("X-V", "head")
			return
		}
		gets.Add(1)
		h.Set("Cache-Control", "max-age=0") // stale at once: the HEAD goes on
		h.Set("X-V", "get")
		io.WriteString(w, "body")
	})
	u := startUsher(t, config(cacheTpl, "be", be.URL, "store", "memory", "redis", ""))
	base := u.url("web")
	head := func() *http.Response {
		t.Helper()
		req, _ := http.NewRequest("HEAD", base+"/hf", nil)
		r, err := rawClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r
	}

	cacheGet(t, base+"/hf")
	if r := head(); r.StatusCode != 200 || heads.Load() != 1 || r.Header.Get("X-V") != "head" {
		t.Fatalf("HEAD: %d, server saw %d HEADs, X-V %q", r.StatusCode, heads.Load(), r.Header.Get("X-V"))
	}
	r, b := cacheGet(t, base+"/hf")
	if b != "body" || gets.Load() != 1 || !strings.HasPrefix(cacheStatusOf(r), "usher; hit") || r.Header.Get("X-V") != "head" {
		t.Fatalf("GET after a matching HEAD: %q %q X-V %q, server saw %d GETs", b, cacheStatusOf(r), r.Header.Get("X-V"), gets.Load())
	}

	// Another representation now: the HEAD's ETag differs, the stored GET goes.
	etag.Store(`"v2"`)
	cacheGet(t, base+"/hf", "Cache-Control", "no-cache") // refetch: stored again, stale at once
	head()
	r, _ = cacheGet(t, base+"/hf")
	if gets.Load() != 2 || !strings.HasPrefix(cacheStatusOf(r), "usher; hit") {
		t.Fatalf("setup: server saw %d GETs, Cache-Status %q", gets.Load(), cacheStatusOf(r))
	}
	etag.Store(`"v3"`)
	cacheGet(t, base+"/hf", "Cache-Control", "no-cache")
	etag.Store(`"v4"`)
	head()
	r, _ = cacheGet(t, base+"/hf")
	if gets.Load() != 4 || !strings.HasPrefix(cacheStatusOf(r), "usher; fwd=uri-miss") {
		t.Fatalf("GET after a HEAD with another ETag: server saw %d GETs, Cache-Status %q", gets.Load(), cacheStatusOf(r))
	}
}

// TestCacheEarlyHintsAndStrictExpiresThroughUsher: what the HTTP cache
// tests check from outside. The server's 103 reaches the client of the
// miss and not that of the hit (interim-not-cached); an Expires that only
// a lenient parser reads as 2050 is in the past
// (freshness-expires-invalid-multiple-spaces).
func TestCacheEarlyHintsAndStrictExpiresThroughUsher(t *testing.T) {
	var hinted, lenient atomic.Int64
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hinted":
			hinted.Add(1)
			w.Header().Set("Link", "</s.css>; rel=preload; as=style")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
			w.Header().Set("Cache-Control", "max-age=100000")
			io.WriteString(w, "final")
		case "/lenient":
			lenient.Add(1)
			w.Header().Set("Expires", "Thu, 18  Aug  2050 02:01:18 GMT")
			io.WriteString(w, "lenient")
		}
	})
	u := startUsher(t, config(cacheTpl, "be", be.URL, "store", "memory", "redis", ""))
	base := u.url("web")
	get := func(path string) (hints int, body string) {
		t.Helper()
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			if code == http.StatusEarlyHints && h.Get("Link") != "" {
				hints++
			}
			return nil
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", base+path, nil)
		r, err := rawClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return hints, string(b)
	}
	if h, b := get("/hinted"); h != 1 || b != "final" {
		t.Fatalf("miss: %d hints, body %q", h, b)
	}
	if h, b := get("/hinted"); h != 0 || b != "final" || hinted.Load() != 1 {
		t.Fatalf("hit: %d hints, body %q, server saw %d", h, b, hinted.Load())
	}
	get("/lenient")
	if _, b := get("/lenient"); b != "lenient" || lenient.Load() != 2 {
		t.Fatalf("an invalid Expires was taken for a date: server saw %d", lenient.Load())
	}
}
