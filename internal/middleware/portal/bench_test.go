package portal

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/observe"
)

// BenchmarkSession is what the portal adds to a request with a session:
// the cookie opened (AES-GCM), the session looked up, the identity headers
// set, the portal's cookie taken out of Cookie.
func BenchmarkSession(b *testing.B) {
	rg := newRig(b, &config.Portal{})
	if resp := rg.login("alice", password, rg.code(0)); resp.StatusCode != http.StatusSeeOther {
		b.Fatalf("login: %d", resp.StatusCode)
	}
	cookie := &http.Cookie{Name: "usher_portal", Value: rg.jar["usher_portal"]}
	rg.p.next = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := observe.NewRecorder(httptest.NewRecorder())
		for pb.Next() {
			r := httptest.NewRequest("GET", "/app", nil)
			r.AddCookie(cookie)
			rg.p.ServeHTTP(w, r)
		}
	})
}

// BenchmarkNoPortal is the same request straight to the handler: the cost
// of the benchmark's own request, to subtract.
func BenchmarkNoPortal(b *testing.B) {
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	cookie := &http.Cookie{Name: "usher_portal", Value: "x"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := observe.NewRecorder(httptest.NewRecorder())
		for pb.Next() {
			r := httptest.NewRequest("GET", "/app", nil)
			r.AddCookie(cookie)
			next.ServeHTTP(w, r)
		}
	})
}
