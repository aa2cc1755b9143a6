package basicauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/observe"
)

// BenchmarkCached is the middleware alone on a request whose credentials
// were checked already. (internal/server's BenchmarkRequestBasicAuth is the
// whole proxied request.)
func BenchmarkCached(b *testing.B) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	h, err := New(context.Background(), next, &config.BasicAuth{Users: []string{carolLine}, HeaderField: "X-User"}, "basic")
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://shop.example.com/", nil)
	cred := basic("carol", "password")
	rw := observe.NewRecorder(httptest.NewRecorder())
	req.Header.Set("Authorization", cred)
	h.ServeHTTP(rw, req)
	if rw.Rec.Identity == nil {
		b.Fatal("not let in")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req.Header["Authorization"] = []string{cred}
		rw.Rec = observe.Record{}
		h.ServeHTTP(rw, req)
		if rw.Rec.Identity == nil {
			b.Fatal("not let in")
		}
	}
}
