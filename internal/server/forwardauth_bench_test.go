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

// BenchmarkRequestForwardAuth is BenchmarkRequest behind a forwardAuth
// middleware whose auth server (on loopback) allows each request: with its
// answers cached (max-age), and asked for every request; plain is the same
// request (its Authorization too) without the middleware. The figures
// include the backend's own work (it runs in this process): the X-User
// forwardAuth adds costs it an allocation or two to read.
func BenchmarkRequestForwardAuth(b *testing.B) {
	token := http.Header{"Authorization": {"Bearer t0ken"}}
	b.Run("plain", func(b *testing.B) { benchRequest(b, token) })
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t0ken" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/cached" {
			w.Header().Set("Cache-Control", "private, max-age=60")
		}
		w.Header().Set("X-User", "alice")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer auth.Close()
	for _, bc := range []struct{ name, spec string }{
		{"cached", `{ address: "` + auth.URL + `/cached", authResponseHeaders: [X-User], headerField: X-User, cache: {} }`},
		{"asked", `{ address: "` + auth.URL + `/asked", authResponseHeaders: [X-User], headerField: X-User }`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			benchRequestWith(b, "fwd: { forwardAuth: "+bc.spec+" }", token)
		})
	}
}

// benchRequestWith is benchRequest with the middleware mw (one line of
// http.middlewares, named fwd) on the router that takes the request.
func benchRequestWith(b *testing.B, mw string, fields http.Header) {
	body := strings.Repeat("x", 100)
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Cache-Control", "max-age=3600") // for the cache's benchmark; nothing else reads it
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
`+routers.String()+`    last: { rule: "Host(`+"`last.example.com`"+`)", service: app, middlewares: [fwd] }
  middlewares:
    `+mw+`
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
	st := runtime.NewState()
	snap, pending, err := runtime.Compile(context.Background(), checked, st)
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
	// One request before the timer: filling a cache (an auth server's
	// answer, a password hash) once is not what is measured.
	for k, v := range fields {
		req.Header[k] = v
	}
	ep.ServeHTTP(w, req)
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
