package config

import (
	"reflect"
	"testing"
	"time"
)

func TestApplyDefaults(t *testing.T) {
	cfg, err := parseWith("usher.yaml", `accessLog: {}
admin: {}
tracing: { otlpEndpoint: "http://127.0.0.1:4318" }
entrypoints:
  web: { address: ":80", tls: {} }
  pg: { address: ":5432", protocol: tcp }
providers: { docker: {} }
http:
  services:
    api:
      loadBalancer:
        servers: [ { url: "http://a" }, { url: "http://b", weight: 0 } ]
        sticky: { cookie: {} }
        healthCheck: {}
        passiveHealthCheck: {}
        retry: { onStatus: [], attempts: 0 }
    tcpcheck:
      loadBalancer: { servers: [ { url: "http://a" } ], healthCheck: { mode: tcp } }
    split:
      weighted: { services: [ { name: api }, { name: api, weight: 5 } ], sticky: { cookie: { name: v } } }
    copy:
      mirror: { service: api, mirrors: [ { name: api }, { name: api, percent: 5 } ] }
  middlewares:
    buf: { buffering: {} }
tcp:
  services: { s: { loadBalancer: { servers: [ { address: "a:1" } ] } } }
tls:
  options: { default: { clientAuth: {} } }
`, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ApplyDefaults()

	one, two, yes := 1, 2, true
	zero := 0
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %+v, want %+v", name, got, want)
		}
	}
	check("log", *cfg.Log, Log{Level: "info", Format: "json"})
	check("accessLog", *cfg.AccessLog, AccessLog{Path: "stdout", Format: "json"})
	check("admin", *cfg.Admin, Admin{Address: "127.0.0.1:9090"})
	ratio := 1.0
	check("tracing", *cfg.Tracing, Tracing{OTLPEndpoint: "http://127.0.0.1:4318", ServiceName: "usher", SampleRatio: &ratio})
	check("web", *cfg.Entrypoints["web"], Entrypoint{
		Address: ":80", Protocol: "http", TLS: &EntrypointTLS{Options: "default"},
		ReadHeaderTimeout: Duration(10 * time.Second), IdleTimeout: Duration(180 * time.Second),
		BodyIdleTimeout: Duration(60 * time.Second), MaxHeaderBytes: 64 << 10, GracePeriod: Duration(10 * time.Second),
		SanitizePath: &yes,
	})
	check("pg", *cfg.Entrypoints["pg"], Entrypoint{Address: ":5432", Protocol: "tcp", GracePeriod: Duration(10 * time.Second)})
	check("docker", cfg.Providers.Docker.Endpoint, "unix:///var/run/docker.sock")

	lb := cfg.HTTP.Services["api"].LoadBalancer
	check("api", *lb, LoadBalancer{
		Algorithm:         "round-robin",
		HashBalanceFactor: 1.25,
		Decay:             Duration(10 * time.Second),
		Servers:           []Server{{URL: "http://a", Weight: &one}, {URL: "http://b", Weight: &zero}},
		PassHostHeader:    &yes,
		Sticky:            &Sticky{Cookie: &StickyCookie{Name: "usher_api", Path: "/"}},
		HealthCheck: &HealthCheck{Kind: "http", Path: "/", Method: "GET", Interval: Duration(3 * time.Second),
			Timeout: Duration(time.Second), ExpectStatus: "200-399", HealthyAfter: 2, UnhealthyAfter: 3},
		PassiveHealthCheck: &PassiveHealthCheck{MaxFailures: 5, Window: Duration(10 * time.Second),
			EjectFor: Duration(30 * time.Second), MaxEjectedPercent: 50},
		// Written values, even empty or zero, are kept: they are choices.
		Retry:         &Retry{Attempts: &zero, OnStatus: []int{}, Methods: []string{"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}},
		WhenNoHealthy: "503",
		Transport: &Transport{DialTimeout: Duration(2 * time.Second), ResponseHeaderTimeout: Duration(30 * time.Second),
			IdleConnTimeout: Duration(90 * time.Second), MaxIdleConnsPerHost: 256},
	})
	check("tcp health check", *cfg.HTTP.Services["tcpcheck"].LoadBalancer.HealthCheck, HealthCheck{
		Kind: "tcp", Mode: "tcp", Interval: Duration(3 * time.Second), Timeout: Duration(time.Second), HealthyAfter: 2, UnhealthyAfter: 3})
	check("absent retry", *cfg.HTTP.Services["tcpcheck"].LoadBalancer.Retry, Retry{
		Attempts: &two, OnStatus: []int{502, 503, 504}, Methods: []string{"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}})
	five := 5
	check("weighted", *cfg.HTTP.Services["split"].Weighted, Weighted{
		Services: []WeightedService{{Name: "api", Weight: &one}, {Name: "api", Weight: &five}},
		Sticky:   &Sticky{Cookie: &StickyCookie{Name: "v", Path: "/"}},
	})
	check("mirror", *cfg.HTTP.Services["copy"].Mirror, Mirror{
		Service: "api", Mirrors: []MirrorTarget{{Name: "api", Percent: intp(100)}, {Name: "api", Percent: intp(5)}}, MaxBodySize: 64 << 10})
	check("buffering", *cfg.HTTP.Middlewares["buf"].Spec.(*Buffering), Buffering{MemRequestBodyBytes: 1 << 20})
	check("tcp weight", *cfg.TCP.Services["s"].LoadBalancer.Servers[0].Weight, 1)
	check("tls options", *cfg.TLS.Options["default"], TLSOptions{MinVersion: "1.2", MaxVersion: "1.3", ClientAuth: &ClientAuth{Mode: "none"}})

	// Idempotent: a second pass changes nothing.
	again := cfg.clone(false)
	again.ApplyDefaults()
	if !reflect.DeepEqual(again, cfg) {
		t.Error("ApplyDefaults is not idempotent")
	}

	var empty Config
	empty.ApplyDefaults()
	if empty.Log == nil || empty.Admin != nil || empty.AccessLog != nil || empty.Tracing != nil {
		t.Errorf("empty config after defaults: %+v", empty)
	}
	(*Config)(nil).ApplyDefaults()
}

func TestStickyCookieName(t *testing.T) {
	for in, want := range map[string]string{"api": "usher_api", "shop.v2": "usher_shop.v2", "a b/c": "usher_a_b_c", "é": "usher__"} {
		if got := StickyCookieName(in); got != want {
			t.Errorf("StickyCookieName(%q) = %q, want %q", in, got, want)
		}
	}
}

func intp(n int) *int { return &n }

// tracing.sampleRatio: an explicit 0 stays 0 (record no new trace); absent is 1.
func TestTracingSampleRatio(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       float64
	}{
		{"usher.yaml", "tracing: { otlpEndpoint: \"http://c:4318\", sampleRatio: 0.25 }\n", 0.25},
		{"usher.yaml", "tracing: { otlpEndpoint: \"http://c:4318\", sampleRatio: 0 }\n", 0},
		{"usher.yaml", "tracing: { otlpEndpoint: \"http://c:4318\" }\n", 1},
		{"usher.toml", "[tracing]\notlpEndpoint = \"http://c:4318\"\nsampleRatio = 0.5\n", 0.5},
		{"usher.toml", "[tracing]\notlpEndpoint = \"http://c:4318\"\nsampleRatio = 0\n", 0},
	} {
		cfg, err := parseWith(tc.name, tc.text, nil, nil)
		if err != nil {
			t.Fatalf("%s %q: %v", tc.name, tc.text, err)
		}
		cfg.ApplyDefaults()
		if p := Validate(cfg); p != nil {
			t.Errorf("%s %q: %v", tc.name, tc.text, p)
		}
		if r := cfg.Tracing.SampleRatio; r == nil || *r != tc.want {
			t.Errorf("%s %q: sampleRatio %v, want %v", tc.name, tc.text, r, tc.want)
		}
	}
}
