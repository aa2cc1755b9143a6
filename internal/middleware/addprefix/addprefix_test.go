package addprefix

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/usher-lb/usher/internal/config"
)

func TestAddPrefix(t *testing.T) {
	tests := []struct {
		name, prefix, target string
		path, raw, query     string
	}{
		{"simple", "/api", "/users", "/api/users", "", ""},
		{"root", "/api", "/", "/api/", "", ""},
		{"prefix with trailing slash", "/api/", "/users", "/api/users", "", ""},
		{"prefix with trailing slash on root", "/api/", "/", "/api/", "", ""},
		{"query kept", "/api", "/x?a=1", "/api/x", "", "a=1"},
		{"raw path gets escaped prefix", "/a b", "/x%2Fy", "/a b/x/y", "/a%20b/x%2Fy", ""},
		{"raw path, plain prefix", "/api", "/x%2Fy", "/api/x/y", "/api/x%2Fy", ""},
		{"percent in prefix is literal", "/100%", "/x%2Fy", "/100%/x/y", "/100%25/x%2Fy", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var path, raw, query, reqURI string
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				path, raw, query, reqURI = r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.RequestURI
			})
			h, err := New(t.Context(), next, &config.AddPrefix{Prefix: tt.prefix}, "add")
			if err != nil {
				t.Fatal(err)
			}
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, tt.target, nil))
			if path != tt.path || raw != tt.raw || query != tt.query {
				t.Errorf("Path %q RawPath %q query %q, want %q %q %q", path, raw, query, tt.path, tt.raw, tt.query)
			}
			if raw != "" {
				if dec, _ := url.PathUnescape(raw); dec != path {
					t.Errorf("RawPath %q decodes to %q, not %q", raw, dec, path)
				}
			}
			if reqURI != tt.target {
				t.Errorf("RequestURI %q, want %q unchanged", reqURI, tt.target)
			}
		})
	}
}

func TestAddPrefixAsterisk(t *testing.T) {
	var path string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { path = r.URL.Path })
	h, _ := New(t.Context(), next, &config.AddPrefix{Prefix: "/api"}, "add")
	r := httptest.NewRequest(http.MethodOptions, "/", nil)
	r.URL.Path = "*"
	h.ServeHTTP(httptest.NewRecorder(), r)
	if path != "*" {
		t.Errorf("OPTIONS * path became %q", path)
	}
}

func TestAddPrefixConfig(t *testing.T) {
	for prefix, want := range map[string]string{
		"":       "addPrefix: prefix is empty",
		"api":    `addPrefix: prefix "api" must start with /`,
		"/a?b":   `addPrefix: prefix "/a?b" has a '?', '#' or control character`,
		"/a#b":   `addPrefix: prefix "/a#b" has a '?', '#' or control character`,
		"/a\r\n": `addPrefix: prefix "/a\r\n" has a '?', '#' or control character`,
	} {
		_, err := New(t.Context(), http.NotFoundHandler(), &config.AddPrefix{Prefix: prefix}, "a")
		if err == nil || err.Error() != want {
			t.Errorf("%q: error %v, want %s", prefix, err, want)
		}
	}
}
