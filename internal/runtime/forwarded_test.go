package runtime

import (
	"context"
	"crypto/tls"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/usher-lb/usher/internal/config"
)

func TestSetForwarded(t *testing.T) {
	trusted, _ := parseTrust([]string{"10.0.0.0/8", "192.168.1.1"})
	tests := []struct {
		name, remote, xff, realIP string
		tls                       bool
		wantXFF, wantReal, proto  string
		client                    string
	}{
		{"direct client", "203.0.113.5:4000", "", "", false, "203.0.113.5", "203.0.113.5", "http", "203.0.113.5"},
		{"spoofed from untrusted", "203.0.113.5:4000", "1.2.3.4", "1.2.3.4", true, "203.0.113.5", "203.0.113.5", "https", "203.0.113.5"},
		{"through trusted proxy", "10.1.2.3:4000", "198.51.100.7", "", false, "198.51.100.7, 10.1.2.3", "198.51.100.7", "http", "198.51.100.7"},
		{"chain of trusted proxies", "10.1.2.3:4000", "198.51.100.7, 192.168.1.1", "", false, "198.51.100.7, 192.168.1.1, 10.1.2.3", "198.51.100.7", "http", "198.51.100.7"},
		{"ipv6 peer", "[2001:db8::1]:4000", "", "", false, "2001:db8::1", "2001:db8::1", "http", "2001:db8::1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://shop.test:8080/x", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if tc.realIP != "" {
				r.Header.Set("X-Real-Ip", tc.realIP)
			}
			if tc.tls {
				r.TLS = &tlsState
			}
			client := trusted.setForwarded(r)
			if client.String() != tc.client {
				t.Errorf("client = %s, want %s", client, tc.client)
			}
			for k, want := range map[string]string{"X-Forwarded-For": tc.wantXFF, "X-Real-Ip": tc.wantReal, "X-Forwarded-Proto": tc.proto, "X-Forwarded-Host": "shop.test:8080", "X-Forwarded-Port": "8080"} {
				if got := r.Header.Get(k); got != want {
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

var tlsState = tls.ConnectionState{}

func TestHostPort(t *testing.T) {
	for in, want := range map[string]string{"a.test:8080": "8080", "a.test": "", "[::1]:443": "443", "[::1]": "", "": ""} {
		if got := hostPort(in); got != want {
			t.Errorf("hostPort(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkRoute measures routing one request among 100 routers on an
// entrypoint: forwarded headers, host, priorities.
func BenchmarkRoute(b *testing.B) {
	cfg := rawLBConfig("http://10.0.0.1:80")
	cfg.HTTP.Routers = map[string]*config.Router{"last": {Rule: "Host(`last.example.com`)", Service: "app"}}
	for i := range 99 {
		n := strconv.Itoa(i)
		cfg.HTTP.Routers["r"+n] = &config.Router{Rule: "Host(`svc" + n + ".example.com`) && PathPrefix(`/api/" + n + "`)", Service: "app"}
	}
	c, err := Check(cfg)
	if err != nil {
		b.Fatal(err)
	}
	snap, _, err := Compile(context.Background(), c, NewState())
	if err != nil {
		b.Fatal(err)
	}
	ep, err := NewEntrypoint("web", cfg.Entrypoints["web"], "127.0.0.1:8080")
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://last.example.com/some/path", nil)
	req.RemoteAddr = "203.0.113.5:4000"
	b.ReportAllocs()
	for b.Loop() {
		clear(req.Header)
		if rt, _ := snap.Route(ep, req); rt == nil || rt.Name != "last" {
			b.Fatal("no route")
		}
	}
}
