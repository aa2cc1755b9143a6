package config

import (
	"strings"
	"testing"
	"time"
)

// A health check that probes would send malformed (a path that is no path, a
// Host or header value no server would accept, an interval that rounds the
// default timeout to nothing) is refused where it is written, rather than
// failing every probe and taking the servers down.
func TestValidateHealthCheckRequests(t *testing.T) {
	got := validate(t, `http:
  services:
    a:
      loadBalancer:
        servers: [ { url: "http://a" } ]
        healthCheck: { path: "/%zz", hostname: "a b", interval: 1ns }
    b:
      loadBalancer:
        servers: [ { url: "http://a" } ]
        healthCheck: { path: "//evil.example/x", timeout: 1us, headers: { X-A: "1\r\nX-Injected: 1", Host: "x/y" } }
    c:
      loadBalancer:
        servers: [ { url: "http://a" } ]
        healthCheck: { path: "/healthz?deep=1", hostname: "health.example:8080", headers: { X-Probe: "usher	1" } }
`)
	want := []string{
		`usher.yaml:6: http.services.a.loadBalancer.healthCheck.path: "/%zz" is not a path: invalid URL escape "%zz"`,
		`usher.yaml:6: http.services.a.loadBalancer.healthCheck.hostname: "a b" is not a host name (a Host header: letters, digits, -._~ and the like, an optional :port)`,
		`usher.yaml:6: http.services.a.loadBalancer.healthCheck.interval: interval 1ns is below 1ms`,
		`usher.yaml:10: http.services.b.loadBalancer.healthCheck.path: "//evil.example/x" must be a path and an optional query, with no host nor fragment`,
		`usher.yaml:10: http.services.b.loadBalancer.healthCheck.timeout: timeout 1µs is below 1ms`,
		`usher.yaml:10: http.services.b.loadBalancer.healthCheck.headers.Host: "x/y" is not a host name`,
		`usher.yaml:10: http.services.b.loadBalancer.healthCheck.headers.X-A: the value holds a control character (CR, LF, NUL...)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// The probe timeout has one default, here: 1s, or 4/5 of a shorter interval.
func TestHealthCheckTimeoutDefault(t *testing.T) {
	for _, tc := range []struct {
		interval, want time.Duration
	}{
		{0, time.Second}, // interval 3s by default
		{10 * time.Second, time.Second},
		{500 * time.Millisecond, 400 * time.Millisecond},
		{2 * time.Millisecond, 1600 * time.Microsecond},
		{time.Millisecond, time.Millisecond}, // never below 1ms
	} {
		lb := &LoadBalancer{Servers: []Server{{URL: "http://a"}}, HealthCheck: &HealthCheck{Interval: Duration(tc.interval)}}
		cfg := &Config{HTTP: &HTTP{Services: map[string]*Service{"a": {LoadBalancer: lb}}}}
		cfg.ApplyDefaults()
		if got := lb.HealthCheck.Timeout.D(); got != tc.want {
			t.Errorf("interval %s: timeout %s, want %s", tc.interval, got, tc.want)
		}
		if ps := Validate(cfg); len(ps) > 0 {
			t.Errorf("interval %s: %v", tc.interval, ps)
		}
	}
}
