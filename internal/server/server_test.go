package server

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/runtime"
)

func TestSetForwarded(t *testing.T) {
	trusted, _ := parseTrust([]string{"10.0.0.0/8", "192.168.1.1"})
	tests := []struct {
		name, remote, xff, realIP, port string
		tls                             bool
		wantXFF, wantReal, proto        string
		client, wantPort                string
	}{
		{"direct client", "203.0.113.5:4000", "", "", "", false, "203.0.113.5", "203.0.113.5", "http", "203.0.113.5", "8080"},
		{"spoofed from untrusted", "203.0.113.5:4000", "1.2.3.4", "1.2.3.4", "1", true, "203.0.113.5", "203.0.113.5", "https", "203.0.113.5", "8080"},
		{"through trusted proxy", "10.1.2.3:4000", "198.51.100.7", "", "", false, "198.51.100.7, 10.1.2.3", "198.51.100.7", "http", "198.51.100.7", "8080"},
		{"trusted proxy's port kept", "10.1.2.3:4000", "198.51.100.7", "", "443", false, "198.51.100.7, 10.1.2.3", "198.51.100.7", "http", "198.51.100.7", "443"},
		{"chain of trusted proxies", "10.1.2.3:4000", "198.51.100.7, 192.168.1.1", "", "", false, "198.51.100.7, 192.168.1.1, 10.1.2.3", "198.51.100.7", "http", "198.51.100.7", "8080"},
		{"ipv6 peer", "[2001:db8::1]:4000", "", "", "", false, "2001:db8::1", "2001:db8::1", "http", "2001:db8::1", "8080"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The Host names port 9999; the client connected to 8080.
			r := httptest.NewRequest("GET", "http://shop.test:9999/x", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if tc.realIP != "" {
				r.Header.Set("X-Real-Ip", tc.realIP)
			}
			if tc.port != "" {
				r.Header.Set("X-Forwarded-Port", tc.port)
			}
			if tc.tls {
				r.TLS = &tlsState
			}
			client := trusted.setForwarded(r, trusted.peerOf(r), []string{"8080"})
			if client.String() != tc.client {
				t.Errorf("client = %s, want %s", client, tc.client)
			}
			for k, want := range map[string]string{"X-Forwarded-For": tc.wantXFF, "X-Real-Ip": tc.wantReal, "X-Forwarded-Proto": tc.proto, "X-Forwarded-Host": "shop.test:9999", "X-Forwarded-Port": tc.wantPort} {
				if got := r.Header.Values(k); len(got) != 1 || got[0] != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{"Example.COM:8080": "example.com", "example.com": "example.com", "[::1]:80": "::1", "[2001:db8::1]": "2001:db8::1", "": ""} {
		if got := hostOnly(in); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

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
	cfg.ApplyDefaults()
	snap, pending, err := runtime.Compile(context.Background(), cfg, runtime.NewState())
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

var tlsState = tls.ConnectionState{}
