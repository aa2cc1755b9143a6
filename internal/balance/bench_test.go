package balance

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchAlgos are the algorithms benchmarked; the four hash algorithms are one type,
// ip-hash stands for them.
var benchAlgos = []string{RoundRobin, Random, LeastConnections, P2C, EWMA, LeastTime, IPHash}

// benchPicker builds a picker over n servers of weights 1 to 3, each with 0 to 7
// requests in flight and a latency history, so that every comparison and the
// bounded-load check are exercised.
func benchPicker(b *testing.B, algo string, n int) Picker {
	r := rand.New(rand.NewPCG(1, 2))
	w := make([]int, n)
	for i := range w {
		w[i] = 1 + r.IntN(3)
	}
	ss := servers(w...)
	now := time.Now()
	for _, s := range ss {
		for range r.IntN(8) {
			s.Start()
		}
		ms := time.Duration(1+r.IntN(50)) * time.Millisecond
		s.Lat.Observe(ms, ms/2, now)
	}
	return mustNew(b, Options{Algorithm: algo}, ss)
}

func BenchmarkPick(b *testing.B) {
	for _, algo := range benchAlgos {
		for _, n := range []int{3, 30, 300} {
			b.Run(fmt.Sprintf("algo=%s/n=%d", algo, n), func(b *testing.B) {
				p := benchPicker(b, algo, n)
				b.ReportAllocs()
				var key uint64
				for b.Loop() {
					key++
					if p.Pick(key) == nil {
						b.Fatal("nil")
					}
				}
			})
		}
	}
}

func BenchmarkPickParallel(b *testing.B) {
	for _, algo := range benchAlgos {
		for _, n := range []int{3, 30, 300} {
			b.Run(fmt.Sprintf("algo=%s/n=%d", algo, n), func(b *testing.B) {
				p := benchPicker(b, algo, n)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					key := rand.Uint64()
					for pb.Next() {
						key++
						if p.Pick(key) == nil {
							b.Fatal("nil")
						}
					}
				})
			})
		}
	}
}

// BenchmarkRequestParallel is a pick with what the proxy does around it: start a
// request, record its latency, finish it; all goroutines share the servers.
func BenchmarkRequestParallel(b *testing.B) {
	for _, algo := range benchAlgos {
		b.Run(fmt.Sprintf("algo=%s/n=30", algo), func(b *testing.B) {
			p := benchPicker(b, algo, 30)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				key := rand.Uint64()
				now := time.Now()
				for pb.Next() {
					key++
					s := p.Pick(key)
					s.Start()
					s.Lat.Observe(time.Millisecond, time.Millisecond/2, now)
					s.Done(false)
				}
			})
		})
	}
}
