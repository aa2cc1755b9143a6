package service

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/usher-lb/usher/internal/observe"
)

// sinkWriter is a client that takes everything at once.
type sinkWriter struct{ h http.Header }

func (s *sinkWriter) Header() http.Header         { return s.h }
func (s *sinkWriter) Write(b []byte) (int, error) { return len(b), nil }
func (s *sinkWriter) WriteHeader(int)             {}

// BenchmarkCompareMainBody is what compare adds to each byte of a main
// response on its way to the client: 64KiB in 16KiB writes, straight to the
// client (plain) or through the main side's hash (tee).
func BenchmarkCompareMainBody(b *testing.B) {
	chunk := make([]byte, 16<<10)
	cmp := &Compare{Status: true, Body: true, Headers: []string{"Content-Type"}, MaxBody: 1 << 20}
	for _, tee := range []bool{false, true} {
		name := "plain"
		if tee {
			name = "tee"
		}
		b.Run(name, func(b *testing.B) {
			sink := &sinkWriter{h: http.Header{"Content-Type": {"application/json"}}}
			m := NewMirrorWith("main", nil, nil, MirrorOptions{Compare: cmp})
			b.SetBytes(4 * int64(len(chunk)))
			b.ReportAllocs()
			for b.Loop() {
				var w http.ResponseWriter = sink
				var s *seen
				if tee {
					s = m.newSeen()
					w = &mainTee{ResponseWriter: sink, cmp: cmp, seen: s}
				}
				w.WriteHeader(200)
				for range 4 {
					w.Write(chunk)
				}
				if tee {
					s.end(cmp, sink.h, true)
				}
			}
		})
	}
}

// BenchmarkMirrorCompared is one mirrored request, both sides, discarded or
// compared (64KiB bodies): the main's work and the copy's, until the copy
// has released its place.
func BenchmarkMirrorCompared(b *testing.B) {
	body := make([]byte, 64<<10)
	serve := HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		w.Write(body)
	})
	metrics := observe.NewMetrics()
	for _, c := range []struct {
		name string
		cmp  *Compare
	}{
		{"discard", nil},
		{"compare", &Compare{Status: true, Body: true, Headers: []string{"Content-Type"}, MaxBody: 1 << 20, Count: func(mirror, field, header, result string) observe.Counter {
			return metrics.MirrorCompare("bench", mirror, field, header, result)
		}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			m := NewMirrorWith("main", serve, []*MirrorTarget{{Name: "next", Handler: serve, Percent: 100}}, MirrorOptions{Name: "bench", Compare: c.cmp})
			m.sem = make(chan struct{}, 1) // taking the one place waits for the copy
			r := httptest.NewRequest("GET", "/", nil)
			w := &sinkWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				m.ServeHTTP(w, r)
				m.sem <- struct{}{}
				<-m.sem
			}
		})
	}
}
