package health

import (
	"context"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestGRPCProbe: a gRPC check asks grpc-go's own health service, and passes
// only on SERVING, for the server or for the service named.
func TestGRPCProbe(t *testing.T) {
	serve := func(withHealth bool) (string, *health.Server) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := grpc.NewServer()
		var hs *health.Server
		if withHealth {
			hs = health.NewServer()
			healthpb.RegisterHealthServer(s, hs)
		}
		go s.Serve(ln)
		t.Cleanup(s.Stop)
		return "http://" + ln.Addr().String(), hs
	}
	addr, hs := serve(true)
	hs.SetServingStatus("shop.Cart", healthpb.HealthCheckResponse_NOT_SERVING)
	bare, _ := serve(false)
	u := func(s string) *url.URL { v, _ := url.Parse(s); return v }
	for _, tc := range []struct {
		name, url, service string
		ok                 bool
		reason             string
	}{
		{"the server as a whole", addr, "", true, "grpc SERVING"},
		{"a service not serving", addr, "shop.Cart", false, `grpc NOT_SERVING for service "shop.Cart"`},
		{"a service the server does not know", addr, "nope", false, "grpc-status 5 unknown service"},
		{"no health service", bare, "", false, "(the server has no grpc.health.v1.Health service)"},
	} {
		c := &Check{GRPC: true, GRPCService: tc.service, Timeout: 2 * time.Second}
		res := c.probe(context.Background(), u(tc.url), nil, nil)
		if res.ok != tc.ok || !strings.Contains(res.reason, tc.reason) {
			t.Errorf("%s: ok %v %q, want %v and %q", tc.name, res.ok, res.reason, tc.ok, tc.reason)
		}
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	c := &Check{GRPC: true, Timeout: 2 * time.Second}
	if res := c.probe(context.Background(), u(addr), nil, nil); res.ok || res.reason != "grpc NOT_SERVING" {
		t.Errorf("a server gone NOT_SERVING: ok %v %q", res.ok, res.reason)
	}
}
