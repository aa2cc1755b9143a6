package jwt

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/jwtverify/jwttest"
	"github.com/usher-lb/usher/internal/observe"
)

type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkJWT is the middleware alone on a request with a token: seen
// before (its verification kept: what a client sending its token again
// costs) and, for comparison, first seen (the cache emptied each time).
// internal/server's BenchmarkRequestJWT is the whole proxied request.
func BenchmarkJWT(b *testing.B) {
	claims := map[string]any{"sub": "alice", "iss": "https://id.example.com", "aud": "shop", "exp": time.Now().Add(time.Hour).Unix()}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	for _, alg := range []string{"ES256", "RS256"} {
		key := any(ecKey)
		if alg == "RS256" {
			key = rsaKey
		}
		tok := "Bearer " + jwttest.Sign(alg, "", key, claims, nil)
		for _, seen := range []bool{true, false} {
			name := alg + "/seen"
			if !seen {
				name = alg + "/first"
			}
			b.Run(name, func(b *testing.B) {
				h, err := New(context.Background(), next, &config.JWT{
					PublicKeyFile: pemFile(b), Issuer: "https://id.example.com", Audience: config.Strings{"shop"},
					ClaimsToHeaders: map[string]string{"sub": "X-User"},
				}, "auth")
				if err != nil {
					b.Fatal(err)
				}
				m := h.(*middleware)
				req := httptest.NewRequest("GET", "http://shop.example.com/some/path", nil)
				rw := observe.NewRecorder(&discard{h: http.Header{}})
				b.ReportAllocs()
				for b.Loop() {
					clear(req.Header)
					req.Header["Authorization"] = []string{tok}
					rw.Rec = observe.Record{}
					if !seen {
						m.cache = newCache(cacheEntries)
					}
					h.ServeHTTP(rw, req)
					if rw.Rec.Identity == nil {
						b.Fatal("refused")
					}
				}
			})
		}
	}
}
