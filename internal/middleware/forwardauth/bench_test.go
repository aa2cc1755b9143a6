package forwardauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/observe"
)

// BenchmarkForwardAuth is the middleware alone, on a request with the
// fields a browser sends and the forwarded ones the entrypoint sets: its
// answer cached, and asked of an auth server on loopback for each request.
// (internal/server's BenchmarkRequestForwardAuth is the whole proxied
// request, beside BenchmarkRequest.)
func BenchmarkForwardAuth(b *testing.B) {
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age=60")
		w.Header().Set("X-User", "alice")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer auth.Close()
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	for _, bc := range []struct {
		name  string
		cache *config.ForwardAuthCache
	}{{"cached", &config.ForwardAuthCache{}}, {"asked", nil}} {
		b.Run(bc.name, func(b *testing.B) {
			h, err := New(context.Background(), next, &config.ForwardAuth{
				Address: auth.URL, AuthResponseHeaders: []string{"X-User"}, HeaderField: "X-User", Cache: bc.cache,
			}, "fwd")
			if err != nil {
				b.Fatal(err)
			}
			defer h.(*forwardAuth).client.rt.CloseIdleConnections()
			req := httptest.NewRequest("GET", "http://shop.example.com/some/path?x=1", nil)
			req.RemoteAddr = "203.0.113.5:4000"
			fields := http.Header{
				"User-Agent": {"Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0"}, "Accept": {"text/html"},
				"Accept-Encoding": {"gzip, br"}, "Cookie": {"session=abc"}, "Authorization": {"Bearer t0ken"},
				"X-Forwarded-For": {"203.0.113.5"}, "X-Forwarded-Proto": {"http"}, "X-Forwarded-Host": {"shop.example.com"},
				"X-Forwarded-Port": {"80"}, "X-Real-Ip": {"203.0.113.5"}, "X-Request-Id": {"0123456789abcdef"},
			}
			rw := observe.NewRecorder(&discard{h: http.Header{}})
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				clear(req.Header)
				for k, v := range fields {
					req.Header[k] = v
				}
				rw.Rec = observe.Record{}
				h.ServeHTTP(rw, req)
				if rw.Rec.Identity == nil {
					b.Fatal("not let through")
				}
			}
		})
	}
}
