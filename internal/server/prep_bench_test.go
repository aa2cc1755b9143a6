package server

import (
	"net/http"
	"testing"
)

func BenchmarkPrepareBefore(b *testing.B) {
	ep := &entrypoint{}
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
		ep.trust.setForwarded(r)
	}
}
