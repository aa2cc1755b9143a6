package circuitbreaker

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/observe"
)

type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })

// BenchmarkClosed: the cost of a closed breaker on a request, beside the
// same handler without it.
func BenchmarkClosed(b *testing.B) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, tc := range []struct {
		name string
		h    func(*testing.B) http.Handler
	}{
		{"none", func(*testing.B) http.Handler { return ok }},
		{"breaker", func(b *testing.B) http.Handler {
			h, err := New(b.Context(), ok, &config.CircuitBreaker{Expression: "NetworkErrorRatio() > 0.5 || LatencyAtQuantileMS(99) > 1000"}, "cb")
			if err != nil {
				b.Fatal(err)
			}
			return h
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := tc.h(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := observe.NewRecorder(&discard{h: http.Header{}})
				for pb.Next() {
					h.ServeHTTP(w, r)
				}
			})
		})
	}
}

// BenchmarkEvaluate: one evaluation of the expression on a full window, as
// done once per checkPeriod.
func BenchmarkEvaluate(b *testing.B) {
	clk := &clock{}
	bk, err := build(b.Context(), ok, &config.CircuitBreaker{Expression: "ResponseCodeRatio(500, 600, 0, 600) > 0.5 || LatencyAtQuantileMS(99) > 1000"}, "cb", clk.now)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 10000; i++ {
		bk.st.win.record(int64(i)*1e6, 200+i%400, false, 0)
	}
	b.ReportAllocs()
	for b.Loop() {
		bk.st.nextCheck.Store(0)
		bk.evaluate(int64(9e9))
	}
}
