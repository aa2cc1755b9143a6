package compress

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/usher-lb/usher/internal/config"
)

// sink is a ResponseWriter that throws the body away and reuses its header
// map: the cost of the writer below the middleware is nothing.
type sink struct {
	h      http.Header
	status int
	n      int64
}

func (s *sink) Header() http.Header         { return s.h }
func (s *sink) WriteHeader(code int)        { s.status = code }
func (s *sink) Write(p []byte) (int, error) { s.n += int64(len(p)); return len(p), nil }
func (s *sink) Flush()                      {}

// TestMemoryPerStream measures what one compressed response in flight
// costs, for each encoding at its default level: N responses through the
// middleware are held mid-stream (having sent part of their body and
// flushed), and the live heap is compared with N responses passed through.
// The bound keeps the windows bounded; the figures are logged
// (go test -run MemoryPerStream -v).
func TestMemoryPerStream(t *testing.T) {
	n, perStream := 32, 128<<10
	if raceEnabled {
		n, perStream = 8, 32<<10
	}
	if v, err := strconv.Atoi(os.Getenv("COMPRESS_MEM_KIB")); err == nil {
		perStream = v << 10 // a longer stream fills more of the window
	}
	var block chan struct{}
	var started sync.WaitGroup
	body := text(perStream)
	mw := mustHandler(t, &config.Compress{}, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		for b := body; len(b) > 0; b = b[min(len(b), 16<<10):] {
			w.Write(b[:min(len(b), 16<<10)])
		}
		w.(http.Flusher).Flush()
		started.Done()
		<-block
	})
	measure := func(ae string) uint64 {
		block = make(chan struct{})
		started.Add(n)
		var done sync.WaitGroup
		done.Add(n)
		for range n {
			go func() {
				defer done.Done()
				r, _ := http.NewRequest(http.MethodGet, "http://a/", nil)
				if ae != "" {
					r.Header.Set("Accept-Encoding", ae)
				}
				mw.ServeHTTP(&sink{h: http.Header{}}, r)
			}()
		}
		started.Wait()
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		close(block)
		done.Wait()
		return ms.HeapAlloc
	}
	base := measure("")
	for _, c := range []struct {
		enc   string
		bound uint64
	}{{"gzip", 1280 << 10}, {"br", 1280 << 10}, {"zstd", 2304 << 10}} {
		heap := measure(c.enc)
		per := (int64(heap) - int64(base)) / int64(n)
		t.Logf("%s: %s per stream in flight (%d streams, %d KiB each)", c.enc, kib(per), n, perStream>>10)
		if per > int64(c.bound) {
			t.Errorf("%s: %s per stream, over %s", c.enc, kib(per), kib(int64(c.bound)))
		}
	}
}

func kib(n int64) string { return fmt.Sprintf("%.0f KiB", float64(n)/1024) }

func mustHandler(t testing.TB, cfg *config.Compress, h http.HandlerFunc) http.Handler {
	t.Helper()
	mw, err := New(t.Context(), h, cfg, "gz")
	if err != nil {
		t.Fatal(err)
	}
	return mw
}
