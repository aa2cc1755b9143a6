package replacepath

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/usher-lb/usher/internal/config"
)

func TestReplacePath(t *testing.T) {
	tests := []struct {
		name, path, target, client string
		wantPath, wantRaw, query   string
		replaced                   string
	}{
		{"simple", "/new", "/old/x", "", "/new", "", "", "/old/x"},
		{"query kept", "/new", "/old?a=1", "", "/new", "", "a=1", "/old"},
		{"old path in its escaped form", "/new", "/a%2Fb%20c", "", "/new", "", "", "/a%2Fb%20c"},
		{"new path with escapes", "/a%2Fb", "/old", "", "/a/b", "/a%2Fb", "", "/old"},
		{"new path with a space escape", "/a%20b", "/old", "", "/a b", "", "", "/old"},
		{"double slash stays a path", "//x", "/old", "", "//x", "", "", "/old"},
		{"client header replaced", "/new", "/old", "/forged", "/new", "", "", "/old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var path, raw, query string
			var replaced []string
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				path, raw, query, replaced = r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Header[ReplacedPathHeader]
			})
			h, err := New(t.Context(), next, &config.ReplacePath{Path: tt.path}, "rp")
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodGet, tt.target, nil)
			if tt.client != "" {
				r.Header.Set(ReplacedPathHeader, tt.client)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if path != tt.wantPath || raw != tt.wantRaw || query != tt.query {
				t.Errorf("Path %q RawPath %q query %q, want %q %q %q", path, raw, query, tt.wantPath, tt.wantRaw, tt.query)
			}
			if len(replaced) != 1 || replaced[0] != tt.replaced {
				t.Errorf("%s %q, want [%q]", ReplacedPathHeader, replaced, tt.replaced)
			}
		})
	}
}

func TestReplacePathConfig(t *testing.T) {
	for path, want := range map[string]string{
		"":     "replacePath: path is empty",
		"new":  `replacePath: path "new" must start with /`,
		"/a?b": `replacePath: path "/a?b" has a '?', '#' or control character`,
		"/a%g": `replacePath: path "/a%g": invalid URL escape "%g"`,
	} {
		_, err := New(t.Context(), http.NotFoundHandler(), &config.ReplacePath{Path: path}, "r")
		if err == nil || err.Error() != want {
			t.Errorf("%q: error %v, want %s", path, err, want)
		}
	}
}
