package cors

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/usher-lb/usher/internal/config"
)

// server answers like a server that knows CORS badly: it lets any origin in.
func server(hits *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Methods", "DELETE")
		w.Header().Set("Vary", "Accept-Encoding")
		w.Write([]byte("ok"))
	})
}

func newCORS(t *testing.T, cfg config.CORS, next http.Handler) http.Handler {
	t.Helper()
	h, err := New(t.Context(), next, &cfg, "c")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func do(h http.Handler, method string, fields ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "https://api.example.com/x", nil)
	for _, f := range fields {
		k, v, _ := strings.Cut(f, ": ")
		r.Header.Add(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

var design = config.CORS{
	AllowOrigins:  []string{"https://app.example.com", "*.example.com"},
	AllowMethods:  []string{"GET", "POST", "PUT"},
	AllowHeaders:  []string{"Content-Type", "X-Request-Id"},
	ExposeHeaders: []string{"X-Total", "Etag"},
	MaxAge:        600,
}

func TestPreflight(t *testing.T) {
	var hits atomic.Int64
	creds := design
	creds.AllowCredentials = true
	h := newCORS(t, creds, server(&hits))
	for _, c := range []struct {
		name    string
		fields  []string
		status  int
		headers string // Allow-Headers expected
	}{
		{"exact origin", []string{"Origin: https://app.example.com", "Access-Control-Request-Method: PUT"}, 204, ""},
		{"pattern, headers asked", []string{"Origin: http://a.b.example.com", "Access-Control-Request-Method: PUT", "Access-Control-Request-Headers: content-type,x-request-id"}, 204, "content-type,x-request-id"},
		{"headers on two lines", []string{"Origin: https://b.example.com", "Access-Control-Request-Method: GET", "Access-Control-Request-Headers: content-type", "Access-Control-Request-Headers: X-Request-ID"}, 204, "content-type, X-Request-ID"},
		{"safelisted method not listed", []string{"Origin: https://app.example.com", "Access-Control-Request-Method: HEAD"}, 204, ""},
		{"other origin", []string{"Origin: https://evil.com", "Access-Control-Request-Method: PUT"}, 403, ""},
		{"the parent domain", []string{"Origin: https://example.com", "Access-Control-Request-Method: GET"}, 403, ""},
		{"suffix trick", []string{"Origin: https://app.example.com.evil.com", "Access-Control-Request-Method: GET"}, 403, ""},
		{"null", []string{"Origin: null", "Access-Control-Request-Method: GET"}, 403, ""},
		{"two origins", []string{"Origin: https://app.example.com", "Origin: https://evil.com", "Access-Control-Request-Method: GET"}, 403, ""},
		{"method not allowed", []string{"Origin: https://app.example.com", "Access-Control-Request-Method: DELETE"}, 403, ""},
		{"method case", []string{"Origin: https://app.example.com", "Access-Control-Request-Method: put"}, 403, ""},
		{"header not allowed", []string{"Origin: https://app.example.com", "Access-Control-Request-Method: PUT", "Access-Control-Request-Headers: content-type, authorization"}, 403, ""},
		{"bad header name", []string{"Origin: https://app.example.com", "Access-Control-Request-Method: PUT", "Access-Control-Request-Headers: content type"}, 403, ""},
	} {
		w := do(h, http.MethodOptions, c.fields...)
		got := w.Result().Header
		if w.Code != c.status {
			t.Errorf("%s: status %d, want %d", c.name, w.Code, c.status)
		}
		if v := got.Get("Vary"); v != "Origin, Access-Control-Request-Method, Access-Control-Request-Headers" {
			t.Errorf("%s: Vary %q", c.name, v)
		}
		if c.status != 204 {
			for k := range got {
				if strings.HasPrefix(k, "Access-Control-") {
					t.Errorf("%s: refused with %s: %q", c.name, k, got[k])
				}
			}
			if !strings.HasPrefix(w.Body.String(), "CORS preflight refused: ") {
				t.Errorf("%s: body %q", c.name, w.Body.String())
			}
			continue
		}
		want := map[string]string{
			"Access-Control-Allow-Origin":      c.fields[0][len("Origin: "):],
			"Access-Control-Allow-Methods":     "GET, POST, PUT",
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Max-Age":           "600",
			"Access-Control-Allow-Headers":     c.headers,
			"Access-Control-Expose-Headers":    "",
		}
		for k, v := range want {
			if got.Get(k) != v {
				t.Errorf("%s: %s %q, want %q", c.name, k, got.Get(k), v)
			}
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("%d preflights reached the server", n)
	}
	// OPTIONS without Access-Control-Request-Method is the server's.
	if w := do(h, http.MethodOptions, "Origin: https://app.example.com"); hits.Load() != 1 || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("plain OPTIONS: %d hits, %v", hits.Load(), w.Header())
	}
}

func TestMethodsNormalizedAsBrowsersDo(t *testing.T) {
	h := newCORS(t, config.CORS{AllowOrigins: []string{"https://app.example.com"}, AllowMethods: []string{"put", "patch"}}, http.NotFoundHandler())
	for _, c := range []struct {
		method string
		want   int
	}{{"PUT", 204}, {"patch", 204}, {"PATCH", 403}, {"put", 403}} {
		w := do(h, http.MethodOptions, "Origin: https://app.example.com", "Access-Control-Request-Method: "+c.method)
		if w.Code != c.want {
			t.Errorf("%s: %d, want %d", c.method, w.Code, c.want)
		}
		if c.want == 204 && w.Header().Get("Access-Control-Allow-Methods") != "PUT, patch" {
			t.Errorf("Allow-Methods %q", w.Header().Get("Access-Control-Allow-Methods"))
		}
	}
}

func TestActualRequests(t *testing.T) {
	var hits atomic.Int64
	h := newCORS(t, design, server(&hits))
	for _, c := range []struct {
		name, origin, want string
	}{
		{"allowed", "https://app.example.com", "https://app.example.com"},
		{"pattern", "https://x.example.com", "https://x.example.com"},
		{"other", "https://evil.com", ""},
		{"none", "", ""},
	} {
		var fields []string
		if c.origin != "" {
			fields = append(fields, "Origin: "+c.origin)
		}
		w := do(h, http.MethodPost, fields...)
		got := w.Result().Header
		if w.Code != 200 || w.Body.String() != "ok" {
			t.Errorf("%s: %d %q", c.name, w.Code, w.Body.String())
		}
		if v := got.Values("Vary"); len(v) != 1 || v[0] != "Accept-Encoding, Origin" {
			t.Errorf("%s: Vary %q", c.name, v)
		}
		if v := got.Get("Access-Control-Allow-Origin"); v != c.want {
			t.Errorf("%s: Allow-Origin %q, want %q", c.name, v, c.want)
		}
		if got.Get("Access-Control-Allow-Methods") != "" || got.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s: the server's or a preflight's headers: %v", c.name, got)
		}
		wantExpose := ""
		if c.want != "" {
			wantExpose = "X-Total, Etag"
		}
		if v := got.Get("Access-Control-Expose-Headers"); v != wantExpose {
			t.Errorf("%s: Expose-Headers %q, want %q", c.name, v, wantExpose)
		}
	}
}

func TestAnyOrigin(t *testing.T) {
	var hits atomic.Int64
	h := newCORS(t, config.CORS{AllowOrigins: []string{"*"}, AllowMethods: []string{"*"}, AllowHeaders: []string{"*"}}, server(&hits))
	w := do(h, http.MethodOptions, "Origin: https://anywhere.test", "Access-Control-Request-Method: PATCH", "Access-Control-Request-Headers: authorization, x-custom")
	got := w.Result().Header
	if w.Code != 204 || got.Get("Access-Control-Allow-Origin") != "*" || got.Get("Access-Control-Allow-Methods") != "PATCH" ||
		got.Get("Access-Control-Allow-Headers") != "authorization, x-custom" || got.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("preflight: %d %v", w.Code, got)
	}
	w = do(h, http.MethodGet, "Origin: null")
	if w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("null origin: %v", w.Header())
	}
	// A server's Vary that has Origin or * is left alone.
	h = newCORS(t, config.CORS{AllowOrigins: []string{"*"}}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Vary"] = []string{"origin"}
	}))
	if v := do(h, http.MethodGet).Header().Values("Vary"); len(v) != 1 || v[0] != "origin" {
		t.Errorf("Vary %q", v)
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  config.CORS
		want string
	}{
		{config.CORS{}, "allowOrigins: at least one"},
		{config.CORS{AllowOrigins: []string{"example.com"}}, "allowOrigins[0]"},
		{config.CORS{AllowOrigins: []string{"*"}, AllowCredentials: true}, "refused"},
		{config.CORS{AllowOrigins: []string{"*"}, AllowMethods: []string{"G T"}}, "not a method"},
		{config.CORS{AllowOrigins: []string{"*"}, AllowHeaders: []string{"a:b"}}, "not a header name"},
		{config.CORS{AllowOrigins: []string{"*"}, MaxAge: -1}, "negative"},
	} {
		if _, err := New(t.Context(), http.NotFoundHandler(), &c.cfg, "c"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

// discard is a ResponseWriter that keeps nothing, its header map cleared
// for each request, so that the benchmarks count the middleware's own
// allocations.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

func BenchmarkActual(b *testing.B) {
	h, _ := New(b.Context(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), &design, "c")
	r := httptest.NewRequest(http.MethodGet, "https://api.example.com/x", nil)
	r.Header.Set("Origin", "https://a.example.com")
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

func BenchmarkPreflight(b *testing.B) {
	h, _ := New(b.Context(), http.NotFoundHandler(), &design, "c")
	r := httptest.NewRequest(http.MethodOptions, "https://api.example.com/x", nil)
	r.Header.Set("Origin", "https://a.example.com")
	r.Header.Set("Access-Control-Request-Method", "PUT")
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}
