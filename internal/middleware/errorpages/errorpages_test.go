package errorpages

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/observe"
)

// pages is an error-page service: it serves /<code>.html for the codes it
// has, and records what it was asked.
type pages struct {
	mu    sync.Mutex
	asked []*http.Request
	has   map[string]string // path → body
	fail  int               // answer this status to everything
}

func (p *pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.asked = append(p.asked, r)
	p.mu.Unlock()
	if rec := observe.From(w); rec != nil {
		rec.Service = "pages"
	}
	if p.fail != 0 {
		w.WriteHeader(p.fail)
		io.WriteString(w, "pages are down")
		return
	}
	body, ok := p.has[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	io.WriteString(w, body)
}

func newErrors(t *testing.T, cfg *config.Errors, next http.Handler, p http.Handler) http.Handler {
	t.Helper()
	e := env.New(env.Config{Service: func(name string) (http.Handler, bool) {
		return p, name == "pages"
	}}, nil)
	h, err := New(env.With(t.Context(), e), next, cfg, "errs")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// serve runs one request through h behind a Recorder, as the entrypoint does.
func serve(h http.Handler, r *http.Request) (*httptest.ResponseRecorder, observe.Record) {
	w := httptest.NewRecorder()
	rec := observe.NewRecorder(w)
	defer rec.Release()
	rec.Rec.Service = "app"
	h.ServeHTTP(rec, r)
	return w, rec.Rec
}

// server answers status with a body and headers of its own.
func server(status int, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Backend", "app")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if status == 503 {
			w.Header().Set("Retry-After", "30")
		}
		if status == 401 {
			w.Header().Set("WWW-Authenticate", `Basic realm="x"`)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
}

var site = map[string]string{"/500.html": "<h1>oops</h1>", "/503.html": "<h1>later</h1>", "/404.html": "<h1>not here</h1>", "/401.html": "<h1>who?</h1>", "/": "<h1>error</h1>"}

func TestPageReplacesBodyKeepsStatus(t *testing.T) {
	for _, tc := range []struct {
		status      int
		page        string
		wantHeaders map[string]string
	}{
		{500, "<h1>oops</h1>", nil},
		{503, "<h1>later</h1>", map[string]string{"Retry-After": "30"}},
		{404, "<h1>not here</h1>", nil},
		{401, "<h1>who?</h1>", map[string]string{"Www-Authenticate": `Basic realm="x"`}},
	} {
		p := &pages{has: site}
		h := newErrors(t, &config.Errors{Status: []string{"500-599", "404", "401"}, Service: "pages", Query: "/{status}.html"}, server(tc.status, `{"error":"internal detail"}`), p)
		w, rec := serve(h, httptest.NewRequest(http.MethodGet, "http://shop.example/api/x?a=1", nil))
		if w.Code != tc.status || w.Body.String() != tc.page {
			t.Errorf("%d: got %d %q, want %d %q", tc.status, w.Code, w.Body.String(), tc.status, tc.page)
		}
		if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("%d: Content-Type %q, the page's expected", tc.status, ct)
		}
		if w.Header().Get("X-Backend") != "" || w.Header().Get("Content-Length") == "25" {
			t.Errorf("%d: the original's headers leaked: %v", tc.status, w.Header())
		}
		for k, v := range tc.wantHeaders {
			if got := w.Header().Get(k); got != v {
				t.Errorf("%d: %s = %q, want %q kept from the original", tc.status, k, got, v)
			}
		}
		if rec.Service != "app" || rec.Status != tc.status {
			t.Errorf("%d: the record says service %q status %d: the page's request overwrote it", tc.status, rec.Service, rec.Status)
		}
		if len(p.asked) != 1 {
			t.Fatalf("%d: pages asked %d times", tc.status, len(p.asked))
		}
		if r := p.asked[0]; r.Method != http.MethodGet || r.Host != "shop.example" || r.URL.Path != "/"+strconv.Itoa(tc.status)+".html" {
			t.Errorf("%d: page request %s %s %s", tc.status, r.Method, r.Host, r.URL)
		}
	}
}

func TestNotCaughtPassesUntouched(t *testing.T) {
	p := &pages{has: site}
	h := newErrors(t, &config.Errors{Status: []string{"500-599"}, Service: "pages"}, server(404, "nope"), p)
	w, _ := serve(h, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != 404 || w.Body.String() != "nope" || w.Header().Get("X-Backend") != "app" {
		t.Errorf("got %d %q %v", w.Code, w.Body.String(), w.Header())
	}
	if len(p.asked) != 0 {
		t.Error("pages asked for a status not caught")
	}
	// Nothing written at all: net/http's empty 200.
	h = newErrors(t, &config.Errors{Status: []string{"500-599"}, Service: "pages"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Set", "1")
	}), p)
	w, _ = serve(h, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != 200 || w.Header().Get("X-Set") != "1" {
		t.Errorf("empty response: %d %v", w.Code, w.Header())
	}
}

func TestOuterHeadersStay(t *testing.T) {
	p := &pages{has: site}
	inner := newErrors(t, &config.Errors{Status: []string{"500"}, Service: "pages", Query: "{status}.html"}, server(500, "x"), p)
	outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=60")
		inner.ServeHTTP(w, r)
	})
	w, _ := serve(outer, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != 500 || w.Body.String() != "<h1>oops</h1>" || w.Header().Get("Strict-Transport-Security") != "max-age=60" {
		t.Errorf("got %d %q %v", w.Code, w.Body.String(), w.Header())
	}
}

func TestPageRequest(t *testing.T) {
	p := &pages{has: map[string]string{"/errors": "page"}}
	h := newErrors(t, &config.Errors{Status: []string{"400-599"}, Service: "pages", Query: "/errors?code={status}&from={url}"},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.URL.Path = "/rewritten" // an inner middleware's rewrite does not change {url}
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(502)
		}), p)
	r := httptest.NewRequest(http.MethodPost, "http://shop.example/cart?item=a%20b&x=1", strings.NewReader(`{"a":1}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("If-None-Match", `"abc"`)
	r.Header.Set("Range", "bytes=0-10")
	r.Header.Set("Cookie", "s=1")
	r.Header.Set("Accept-Language", "fr")
	w, _ := serve(h, r)
	if w.Code != 502 || w.Body.String() != "page" {
		t.Fatalf("got %d %q", w.Code, w.Body.String())
	}
	pr := p.asked[0]
	if pr.Method != http.MethodGet || pr.ContentLength != 0 || pr.Body != http.NoBody {
		t.Errorf("page request %s, length %d", pr.Method, pr.ContentLength)
	}
	if got, want := pr.URL.RequestURI(), "/errors?code=502&from=%2Fcart%3Fitem%3Da%2520b%26x%3D1"; got != want {
		t.Errorf("page request URI %q, want %q", got, want)
	}
	if pr.RequestURI != pr.URL.RequestURI() {
		t.Errorf("RequestURI %q", pr.RequestURI)
	}
	for _, k := range []string{"Content-Type", "If-None-Match", "Range", "Content-Length"} {
		if v := pr.Header.Get(k); v != "" {
			t.Errorf("page request has %s: %q", k, v)
		}
	}
	if pr.Header.Get("Cookie") != "s=1" || pr.Header.Get("Accept-Language") != "fr" {
		t.Errorf("page request lost the client's fields: %v", pr.Header)
	}
	if r.Method != http.MethodPost || r.Header.Get("If-None-Match") == "" {
		t.Error("the original request was changed")
	}

	// HEAD: the page is asked with a GET too.
	w, _ = serve(h, httptest.NewRequest(http.MethodHead, "/x", nil))
	if w.Code != 502 || p.asked[1].Method != http.MethodGet {
		t.Errorf("HEAD: %d, page asked with %s", w.Code, p.asked[1].Method)
	}
}

func TestFallBackToOriginal(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pages *pages
	}{
		{"page missing", &pages{has: map[string]string{}}},
		{"pages down", &pages{fail: 502}},
		{"pages redirect", &pages{fail: 302}},
	} {
		h := newErrors(t, &config.Errors{Status: []string{"500-599"}, Service: "pages", Query: "/{status}.html"}, server(503, `{"error":"busy"}`), tc.pages)
		w, _ := serve(h, httptest.NewRequest(http.MethodGet, "/", nil))
		if w.Code != 503 || w.Body.String() != `{"error":"busy"}` || w.Header().Get("X-Backend") != "app" ||
			w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Retry-After") != "30" {
			t.Errorf("%s: got %d %q %v, want the original response", tc.name, w.Code, w.Body.String(), w.Header())
		}
		if strings.Contains(w.Body.String(), "pages are down") || strings.Contains(w.Body.String(), "404") {
			t.Errorf("%s: the page service's answer leaked: %q", tc.name, w.Body.String())
		}
	}
	// A body too long to hold falls back to the status's text.
	long := strings.Repeat("x", maxHeld+1)
	h := newErrors(t, &config.Errors{Status: []string{"500"}, Service: "pages"}, server(500, long), &pages{fail: 500})
	w, _ := serve(h, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != 500 || w.Body.String() != "Internal Server Error\n" || w.Header().Get("Content-Length") != "22" {
		t.Errorf("long body: %d, %d bytes, %v", w.Code, w.Body.Len(), w.Header())
	}
	// One that fits is sent whole.
	fits := strings.Repeat("y", maxHeld)
	h = newErrors(t, &config.Errors{Status: []string{"500"}, Service: "pages"}, server(500, fits), &pages{fail: 500})
	w, _ = serve(h, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != 500 || w.Body.String() != fits {
		t.Errorf("body of maxHeld: %d, %d bytes", w.Code, w.Body.Len())
	}
}

func TestStreamsPass(t *testing.T) {
	flushed := make(chan struct{})
	h := newErrors(t, &config.Errors{Status: []string{"500-599"}, Service: "pages"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: 1\n\n")
		w.(http.Flusher).Flush()
		<-flushed
		io.WriteString(w, "data: 2\n\n")
	}), &pages{has: site})
	w := &flushRecorder{ResponseRecorder: httptest.NewRecorder(), flushed: flushed}
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Body.String() != "data: 1\n\ndata: 2\n\n" || w.Header().Get("Content-Type") != "text/event-stream" {
		t.Errorf("stream: %q %v", w.Body.String(), w.Header())
	}
}

type flushRecorder struct {
	*httptest.ResponseRecorder
	flushed chan struct{}
	once    sync.Once
}

func (f *flushRecorder) Flush() {
	f.ResponseRecorder.Flush()
	f.once.Do(func() { close(f.flushed) })
}

func TestNewErrors(t *testing.T) {
	next := http.NotFoundHandler()
	e := env.New(env.Config{Service: func(name string) (http.Handler, bool) { return next, name == "pages" }}, nil)
	ctx := env.With(t.Context(), e)
	for _, tc := range []struct {
		cfg  config.Errors
		want string
	}{
		{config.Errors{Service: "pages"}, "errors: no status"},
		{config.Errors{Status: []string{"5xx"}, Service: "pages"}, `errors: status: "5xx" is not a status`},
		{config.Errors{Status: []string{"500"}, Service: "nope"}, `errors: service "nope" does not exist`},
		{config.Errors{Status: []string{"500"}, Service: "pages", Query: "/{code}.html"}, "unknown placeholder {code}"},
	} {
		_, err := New(ctx, next, &tc.cfg, "e")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestInterimResponses(t *testing.T) {
	p := &pages{has: site}
	h := newErrors(t, &config.Errors{Status: []string{"500"}, Service: "pages", Query: "/{status}.html"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("X-Backend", "app")
		w.WriteHeader(500)
		io.WriteString(w, "internal")
	}), p)
	w := &interimRecorder{ResponseRecorder: httptest.NewRecorder()}
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if len(w.interim) != 1 || w.interim[0] != "103 </style.css>; rel=preload" {
		t.Errorf("interim responses %q", w.interim)
	}
	if w.Code != 500 || w.Body.String() != "<h1>oops</h1>" || w.Header().Get("Link") != "" || w.Header().Get("X-Backend") != "" {
		t.Errorf("final: %d %q %v: the page, without the server's fields", w.Code, w.Body.String(), w.Header())
	}
}

// interimRecorder records 1xx responses with their Link field.
type interimRecorder struct {
	*httptest.ResponseRecorder
	interim []string
}

func (r *interimRecorder) WriteHeader(code int) {
	if code < 200 {
		r.interim = append(r.interim, strconv.Itoa(code)+" "+r.Header().Get("Link"))
		return
	}
	r.ResponseRecorder.WriteHeader(code)
}

func TestStatusRewrites(t *testing.T) {
	p := &pages{has: map[string]string{"/404.html": "<h1>not here</h1>", "/500.html": "<h1>oops</h1>"}}
	cfg := &config.Errors{Status: []string{"418,500-599"}, StatusRewrites: map[string]int{"418": 404, "502-504": 500}, Service: "pages", Query: "/{status}.html?was={originalStatus}"}
	for _, tc := range []struct {
		server, want int
		body, asked  string
	}{
		{418, 404, "<h1>not here</h1>", "/404.html?was=418"},
		{503, 500, "<h1>oops</h1>", "/500.html?was=503"},
		{500, 500, "<h1>oops</h1>", "/500.html?was=500"},
	} {
		p.asked = nil
		h := newErrors(t, cfg, server(tc.server, "x"), p)
		w, _ := serve(h, httptest.NewRequest(http.MethodGet, "/", nil))
		if w.Code != tc.want || w.Body.String() != tc.body || len(p.asked) != 1 || p.asked[0].URL.RequestURI() != tc.asked {
			t.Errorf("server %d: got %d %q (asked %v), want %d %q from %s", tc.server, w.Code, w.Body.String(), p.asked, tc.want, tc.body, tc.asked)
		}
	}
	// Without a page, the original response, status included.
	h := newErrors(t, cfg, server(501, "orig"), &pages{fail: 404})
	if w, _ := serve(h, httptest.NewRequest(http.MethodGet, "/", nil)); w.Code != 501 || w.Body.String() != "orig" {
		t.Errorf("fallback: %d %q", w.Code, w.Body.String())
	}
}
