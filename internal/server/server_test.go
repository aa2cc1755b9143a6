package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/runtime"
)

// BenchmarkRequest measures usher's whole handler for one proxied GET:
// forwarded headers, routing among 100 routers, the load balancer and the
// upstream exchange with a real server on loopback (the client side's
// net/http parsing is not included).
func BenchmarkRequest(b *testing.B) { benchRequest(b, nil) }

func benchRequest(b *testing.B, fields http.Header) {
	body := strings.Repeat("x", 100)
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, body)
	}))
	defer back.Close()
	var routers strings.Builder
	for i := 0; i < 99; i++ {
		routers.WriteString("    r" + itoa(i) + ": { rule: \"Host(`svc" + itoa(i) + ".example.com`) && PathPrefix(`/api/" + itoa(i) + "`)\", service: app }\n")
	}
	cfg, err := config.Parse("usher.yaml", []byte(`
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
`+routers.String()+`    last: { rule: "Host(`+"`last.example.com`"+`)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "`+back.URL+`" }, { url: "`+back.URL+`/" } ] } }
`))
	if err != nil {
		b.Fatal(err)
	}
	checked, err := runtime.Check(cfg)
	if err != nil {
		b.Fatal(err)
	}
	snap, pending, err := runtime.Compile(context.Background(), checked, runtime.NewState())
	if err != nil {
		b.Fatal(err)
	}
	pending.Commit()
	s, err := New(cfg, slog.New(slog.DiscardHandler), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.closeListeners()
	s.Swap(snap)
	ep := s.eps[0]
	req := httptest.NewRequest("GET", "http://last.example.com/some/path", nil)
	req.RemoteAddr = "203.0.113.5:4000"
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		clear(w.h)
		clear(req.Header)
		for k, v := range fields {
			req.Header[k] = v
		}
		w.status = 0
		ep.ServeHTTP(w, req)
		if w.status != 200 {
			b.Fatalf("status %d", w.status)
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkRequestBrowser is BenchmarkRequest with the fields a browser
// sends, Connection: keep-alive among them.
func BenchmarkRequestBrowser(b *testing.B) {
	benchRequest(b, http.Header{
		"User-Agent": {"Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0"}, "Accept": {"text/html,application/xhtml+xml"},
		"Accept-Encoding": {"gzip, deflate, br"}, "Accept-Language": {"en-US,en;q=0.9"}, "Connection": {"keep-alive"},
		"Cookie": {"session=abc"}, "Referer": {"http://last.example.com/"}, "Sec-Fetch-Mode": {"navigate"},
	})
}

type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(s int)           { d.status = s }

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
