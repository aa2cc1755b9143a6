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

var tlsState = tls.ConnectionState{}

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
		if rt, _, err := snap.Route(ep, req, ep.Clean(req)); err != nil || rt == nil || rt.Name != "last" {
			b.Fatal("no route")
		}
	}
}
