package server

import "testing"

// BenchmarkRequestCacheHit is BenchmarkRequest answered by a cache
// middleware from its memory store: what a hit costs in usher's handler,
// beside BenchmarkRequest's proxied request (the client side's parsing and
// the socket writes are not included).
func BenchmarkRequestCacheHit(b *testing.B) {
	benchRequestWith(b, `fwd: { cache: {} }`, nil)
}
