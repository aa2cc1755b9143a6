package errorpages

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
)

type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkPassThrough: the cost of errors on a response it does not catch,
// beside the same handler without it.
func BenchmarkPassThrough(b *testing.B) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"text/plain"}
		w.WriteHeader(200)
		io.WriteString(w, "hello")
	})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, tc := range []struct {
		name string
		h    func(*testing.B) http.Handler
	}{
		{"none", func(*testing.B) http.Handler { return next }},
		{"errors", func(b *testing.B) http.Handler {
			return mustNew(b, next)
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := tc.h(b)
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		})
	}
}

func mustNew(b *testing.B, next http.Handler) http.Handler {
	p := &pages{has: site}
	ctx := env.With(b.Context(), env.New(env.Config{Service: func(string) (http.Handler, bool) { return p, true }}, nil))
	h, err := New(ctx, next, &config.Errors{Status: []string{"500-599", "404"}, Service: "pages", Query: "/{status}.html"}, "e")
	if err != nil {
		b.Fatal(err)
	}
	return h
}
