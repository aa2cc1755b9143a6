package compress

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/usher-lb/usher/internal/config"
)

// benchServe runs b.N requests with Accept-Encoding ae through compress
// in front of a handler answering body with contentType, into a sink whose
// header map is reused as usher's server reuses its own.
func benchServe(b *testing.B, ae, contentType string, body []byte, withLength bool) {
	ct := []string{contentType}
	cl := []string{strconv.Itoa(len(body))}
	mw := mustHandler(b, &config.Compress{}, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = ct
		if withLength {
			h["Content-Length"] = cl
		}
		w.WriteHeader(http.StatusOK)
		for p := body; len(p) > 0; p = p[min(len(p), 32<<10):] {
			w.Write(p[:min(len(p), 32<<10)])
		}
	})
	r, _ := http.NewRequest(http.MethodGet, "http://a/", nil)
	if ae != "" {
		r.Header.Set("Accept-Encoding", ae)
	}
	s := &sink{h: http.Header{}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	var out int64
	for range b.N {
		clear(s.h)
		s.n = 0
		mw.ServeHTTP(s, r)
		out += s.n
	}
	b.ReportMetric(float64(len(body))*float64(b.N)/float64(out), "ratio")
}

// The responses compress passes through: they must cost no allocation.
func BenchmarkPassThrough(b *testing.B) {
	body := text(20000)
	b.Run("image", func(b *testing.B) { benchServe(b, "gzip, br, zstd", "image/png", body, true) })
	b.Run("no-accept-encoding", func(b *testing.B) { benchServe(b, "", "text/html", body, true) })
	b.Run("short", func(b *testing.B) { benchServe(b, "gzip, br, zstd", "text/html", body[:500], true) })
	b.Run("short-unknown-length", func(b *testing.B) { benchServe(b, "gzip, br, zstd", "text/html", body[:500], false) })
}

// The responses compress encodes: no allocation beyond the encoder's.
func BenchmarkCompress(b *testing.B) {
	body := text(20000)
	for _, enc := range []string{"gzip", "br", "zstd"} {
		b.Run(enc, func(b *testing.B) { benchServe(b, enc, "text/html", body, true) })
	}
	b.Run("gzip-unknown-length", func(b *testing.B) { benchServe(b, "gzip", "text/html", body, false) })
}

// BenchmarkWithout is the handler of the benchmarks above alone: what
// compress adds is the difference.
func BenchmarkWithout(b *testing.B) {
	body := text(20000)
	ct := []string{"text/html"}
	cl := []string{strconv.Itoa(len(body))}
	h := func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd["Content-Type"] = ct
		hd["Content-Length"] = cl
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	}
	r, _ := http.NewRequest(http.MethodGet, "http://a/", nil)
	r.Header.Set("Accept-Encoding", "gzip, br, zstd")
	s := &sink{h: http.Header{}}
	b.ReportAllocs()
	for range b.N {
		clear(s.h)
		h(s, r)
	}
}
