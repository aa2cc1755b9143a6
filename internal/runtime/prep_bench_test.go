package runtime

import (
	"net/http"
	"testing"
)

// BenchmarkPrepare measures what the entrypoint does to a browser's GET
// before routing it: Connection, underscores and proxy-asserted fields, the
// path's normal form, the forwarded fields. The refill of the header map
// (8 fields) is counted too, as it was before these steps existed.
func BenchmarkPrepare(b *testing.B) {
	ep := &Entrypoint{Sanitize: true}
	ep.SetPort("8080")
	var snap *Snapshot // routes nothing: what is measured is the preparation
	base := http.Header{
		"User-Agent": {"Mozilla/5.0"}, "Accept": {"text/html"}, "Accept-Encoding": {"gzip, br"},
		"Accept-Language": {"en-US,en;q=0.9"}, "Connection": {"keep-alive"}, "Cookie": {"a=b"},
		"Referer": {"http://shop.example/"}, "Sec-Fetch-Mode": {"navigate"},
	}
	r, _ := http.NewRequest("GET", "http://shop.example/products/42/reviews", nil)
	r.RequestURI = "/products/42/reviews"
	r.RemoteAddr = "203.0.113.5:4000"
	r.Header = http.Header{}
	b.ReportAllocs()
	for b.Loop() {
		clear(r.Header)
		for k, v := range base {
			r.Header[k] = v
		}
		if _, _, err := snap.Route(ep, r, ep.Clean(r)); err != nil {
			b.Fatal(err)
		}
	}
}
