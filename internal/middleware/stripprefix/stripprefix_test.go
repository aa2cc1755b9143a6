package stripprefix

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/usher-lb/usher/internal/config"
)

// seen is what next saw of a request.
type seen struct {
	called          bool
	path, raw       string
	prefix, reqURI  string
	query           string
	prefixHeaderLen int
}

func serve(t *testing.T, prefixes []string, target string, hdr http.Header) (seen, int) {
	t.Helper()
	var s seen
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s = seen{
			called: true, path: r.URL.Path, raw: r.URL.RawPath, query: r.URL.RawQuery,
			prefix: r.Header.Get(ForwardedPrefixHeader), reqURI: r.RequestURI,
			prefixHeaderLen: len(r.Header[ForwardedPrefixHeader]),
		}
	})
	h, err := New(t.Context(), next, &config.StripPrefix{Prefixes: prefixes}, "strip")
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range hdr {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return s, w.Code
}

func TestStripPrefix(t *testing.T) {
	tests := []struct {
		name     string
		prefixes []string
		target   string
		status   int    // 0 = 200
		path     string // "" = next not called
		raw      string
		prefix   string // X-Forwarded-Prefix; "" = none
	}{
		{"no match", []string{"/api"}, "/other", 0, "/other", "", ""},
		{"exact, becomes /", []string{"/api"}, "/api", 0, "/", "", "/api"},
		{"exact with slash", []string{"/api"}, "/api/", 0, "/", "", "/api"},
		{"below", []string{"/api"}, "/api/users/1", 0, "/users/1", "", "/api"},
		{"not bounded by a slash, as Traefik", []string{"/api"}, "/apis", 0, "/s", "", "/api"},
		{"slash prefix does not match without slash", []string{"/api/"}, "/api", 0, "/api", "", ""},
		{"slash prefix exact", []string{"/api/"}, "/api/", 0, "/", "", "/api/"},
		{"slash prefix below", []string{"/api/"}, "/api/users", 0, "/users", "", "/api/"},
		{"slash prefix does not match a longer segment", []string{"/api/"}, "/apis/x", 0, "/apis/x", "", ""},
		{"root prefix", []string{"/"}, "/x/y", 0, "/x/y", "", "/"},
		{"first match in list order", []string{"/api", "/api/v1"}, "/api/v1/x", 0, "/v1/x", "", "/api"},
		{"later match", []string{"/nope", "/api/v1"}, "/api/v1/x", 0, "/x", "", "/api/v1"},
		{"query kept", []string{"/api"}, "/api/x?q=1&r", 0, "/x", "", "/api"},
		{"encoded slash after prefix", []string{"/api"}, "/api/a%2Fb", 0, "/a/b", "/a%2Fb", "/api"},
		{"encoded char in prefix part", []string{"/api/"}, "/ap%69/a%2Fb", 0, "/a/b", "/a%2Fb", "/api/"},
		{"encoded slash right after prefix", []string{"/api"}, "/api%2Fx", 0, "//x", "/%2Fx", "/api"},
		{"encoded slash ends the prefix", []string{"/api/"}, "/api%2Fx%2Fy", 0, "/x/y", "/x%2Fy", "/api/"},
		{"encoded rest exact", []string{"/a%b"}, "/a%25b", 0, "/", "", "/a%b"},
		{"encoded prefix matches decoded", []string{"/a b"}, "/a%20b/c%2Fd", 0, "/c/d", "/c%2Fd", "/a b"},
		{"dot segment made by stripping", []string{"/api"}, "/api./foo", http.StatusBadRequest, "", "", ""},
		{"dot-dot segment made by stripping", []string{"/api"}, "/api../foo", http.StatusBadRequest, "", "", ""},
		{"dot-dot after prefix", []string{"/api"}, "/api/../admin", http.StatusBadRequest, "", "", ""},
		{"encoded dot-dot after prefix", []string{"/api/"}, "/api/%2e%2e/admin", http.StatusBadRequest, "", "", ""},
		{"dot-dot that climbs above", []string{"/api/"}, "/api/a/../../b", http.StatusBadRequest, "", "", ""},
		{"dot-dot that stays inside", []string{"/api/"}, "/api/a/../b", 0, "/a/../b", "", "/api/"},
		{"dots in a name are fine", []string{"/api/"}, "/api/..x/y", 0, "/..x/y", "", "/api/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, code := serve(t, tt.prefixes, tt.target, nil)
			want := tt.status
			if want == 0 {
				want = http.StatusOK
			}
			if code != want {
				t.Fatalf("status %d, want %d", code, want)
			}
			if tt.path == "" {
				if s.called {
					t.Fatalf("next was called with %q", s.path)
				}
				return
			}
			if !s.called {
				t.Fatal("next was not called")
			}
			if s.path != tt.path || s.raw != tt.raw {
				t.Errorf("Path %q RawPath %q, want %q %q", s.path, s.raw, tt.path, tt.raw)
			}
			if s.raw != "" {
				if dec, err := url.PathUnescape(s.raw); err != nil || dec != s.path {
					t.Errorf("RawPath %q decodes to %q, not Path %q", s.raw, dec, s.path)
				}
			}
			if s.prefix != tt.prefix {
				t.Errorf("X-Forwarded-Prefix %q, want %q", s.prefix, tt.prefix)
			}
			if s.reqURI != tt.target {
				t.Errorf("RequestURI %q changed, want %q", s.reqURI, tt.target)
			}
			if i := strings.IndexByte(tt.target, '?'); i >= 0 && s.query != tt.target[i+1:] {
				t.Errorf("query %q, want %q", s.query, tt.target[i+1:])
			}
		})
	}
}

func TestStripPrefixReplacesClientHeader(t *testing.T) {
	s, _ := serve(t, []string{"/api"}, "/api/x", http.Header{ForwardedPrefixHeader: {"/evil", "/more"}})
	if s.prefix != "/api" || s.prefixHeaderLen != 1 {
		t.Errorf("X-Forwarded-Prefix %q (%d values), want only /api", s.prefix, s.prefixHeaderLen)
	}
	// The client's header goes through untouched when no prefix matches.
	s, _ = serve(t, []string{"/api"}, "/other", http.Header{ForwardedPrefixHeader: {"/mine"}})
	if s.prefix != "/mine" {
		t.Errorf("X-Forwarded-Prefix %q, want the client's /mine", s.prefix)
	}
}

// TestStripPrefixSharedHeaderValue checks that the shared header slice is not
// written through by a later Add.
func TestStripPrefixSharedHeaderValue(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Add(ForwardedPrefixHeader, "/added")
	})
	h, err := New(t.Context(), next, &config.StripPrefix{Prefixes: []string{"/api"}}, "strip")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/api/x", nil))
	}
	if got := h.(*stripPrefix).prefixes[0].header; len(got) != 1 || got[0] != "/api" {
		t.Errorf("shared header value is now %q", got)
	}
}

func TestStripPrefixConfig(t *testing.T) {
	tests := []struct {
		prefixes []string
		err      string
	}{
		{nil, "stripPrefix: prefixes is empty"},
		{[]string{}, "stripPrefix: prefixes is empty"},
		{[]string{"/ok", "api"}, `stripPrefix: prefix "api" must start with /`},
		{[]string{""}, `stripPrefix: prefix "" must start with /`},
		{[]string{"/a\nb"}, `stripPrefix: prefix "/a\nb" has a control character`},
	}
	for _, tt := range tests {
		_, err := New(t.Context(), http.NotFoundHandler(), &config.StripPrefix{Prefixes: tt.prefixes}, "s")
		if err == nil || err.Error() != tt.err {
			t.Errorf("%q: error %v, want %s", tt.prefixes, err, tt.err)
		}
	}
}

// FuzzStrip checks that a stripped path starts with '/' and that a stripped
// RawPath always decodes to the stripped Path.
func FuzzStrip(f *testing.F) {
	for _, s := range []string{"/api/a%2Fb", "/ap%69/x", "/api%2F", "/api", "/a%25pi/%2e", "/api%2fx%2F"} {
		f.Add(s, "/api")
		f.Add(s, "/api/")
	}
	f.Fuzz(func(t *testing.T, target, prefix string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || prefix == "" || prefix[0] != '/' || !strings.HasPrefix(u.Path, prefix) {
			return
		}
		p, raw := strip(u.Path, u.RawPath, prefix)
		if p == "" || p[0] != '/' || raw != "" && raw[0] != '/' {
			t.Fatalf("strip(%q, %q, %q) = %q, %q: no leading /", u.Path, u.RawPath, prefix, p, raw)
		}
		if raw != "" {
			if dec, err := url.PathUnescape(raw); err != nil || dec != p {
				t.Fatalf("strip(%q, %q, %q) = %q, %q: raw decodes to %q", u.Path, u.RawPath, prefix, p, raw, dec)
			}
		}
	})
}

func BenchmarkStripPrefix(b *testing.B) {
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	h, err := New(b.Context(), next, &config.StripPrefix{Prefixes: []string{"/other", "/api"}}, "strip")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, target string }{
		{"match", "/api/users/42"},
		{"encoded", "/api/a%2Fb"},
		{"nomatch", "/static/app.js"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, bc.target, nil)
			path, raw := r.URL.Path, r.URL.RawPath
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				r.URL.Path, r.URL.RawPath = path, raw
				h.ServeHTTP(w, r)
			}
		})
	}
}
