package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usher-lb/usher/internal/rule"
)

// validYAML uses every supported section; certificate files are made by the test.
const validYAML = `log: { level: debug, format: text }
accessLog: { path: /var/log/usher.log }
admin: { address: "127.0.0.1:9090", dashboard: true }
entrypoints:
  web: { address: ":8080", redirectTo: websecure, trustedProxies: [10.0.0.0/8, "::1"] }
  websecure: { address: ":8443", tls: { options: strict } }
  test1: { address: "127.0.0.1:0" }
  test2: { address: "127.0.0.1:0" }
providers:
  file: { watch: true }
http:
  routers:
    api:
      entrypoints: [websecure]
      rule: "Host(` + "`example.com`" + `) && PathPrefix(` + "`/api`" + `)"
      middlewares: [secure, strip]
      service: shop
  services:
    api:
      loadBalancer:
        algorithm: header-hash
        hashKey: X-User
        servers: [ { url: "http://10.0.0.11:8080", weight: 2 }, { url: "https://api.internal/v1" } ]
        sticky: { cookie: { sameSite: none, secure: true } }
        healthCheck: { path: /healthz, expectStatus: "200", expectBody: "^ok$" }
        passiveHealthCheck: { maxEjectedPercent: 30 }
        retry: { onStatus: [502], methods: [GET] }
        whenNoHealthy: panic
    api-next: { loadBalancer: { servers: [ { url: "http://10.0.0.13:8080" } ] } }
    shop:
      weighted: { services: [ { name: mirrored, weight: 0 }, { name: safe } ] }
    mirrored:
      mirror: { service: api, mirrors: [ { name: api-next, percent: 10 } ] }
    safe:
      failover: { service: drained, fallback: api-next }
    drained: { loadBalancer: { servers: [ { url: "http://10.0.0.14:8080", weight: 0 } ] } }
  middlewares:
    secure: { headers: { frameDeny: true, customResponseHeaders: { X-Served-By: usher } } }
    strip: { stripPrefix: { prefixes: [/api] } }
    both: { chain: { middlewares: [secure, strip] } }
    go-https: { redirectScheme: { scheme: https, port: "8443" } }
    rr: { redirectRegex: { regex: "^http://(.*)", replacement: "https://$1" } }
tls:
  certificates: [ { certFile: CERT, keyFile: KEY } ]
  options:
    strict: { minVersion: "1.3", clientAuth: { mode: verify, caFiles: [CERT] } }
`

func writeCerts(t *testing.T) (cert, key string) {
	t.Helper()
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, f := range []string{cert, key} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cert, key
}

func validate(t *testing.T, text string) []string {
	t.Helper()
	cfg, err := parseWith("usher.yaml", text, nil, nil)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	before := Validate(cfg)
	cfg.ApplyDefaults()
	after := Validate(cfg)
	// Defaults fill only what is valid: they never add or hide a problem.
	if before.Error() != after.Error() {
		t.Errorf("problems differ with defaults:\nbefore %v\nafter  %v", before, after)
	}
	if len(after) == 0 {
		return nil
	}
	return strings.Split(after.Error(), "\n")
}

func TestValidateAcceptsAValidConfig(t *testing.T) {
	cert, key := writeCerts(t)
	text := strings.NewReplacer("CERT", cert, "KEY", key).Replace(validYAML)
	if got := validate(t, text); got != nil {
		t.Errorf("problems in a valid config:\n  %s", strings.Join(got, "\n  "))
	}
}

func TestValidateProblems(t *testing.T) {
	badRule := "Host(`a`) && (Path(`/x`)"
	_, ruleErr := rule.ParseHTTP(badRule)
	if ruleErr == nil {
		t.Fatalf("rule.ParseHTTP(%q) accepted a broken rule", badRule)
	}
	tests := []struct {
		name, text string
		want       []string
	}{
		{
			name: "static half",
			text: `log: { level: verbose, format: jsn }
accessLog: { format: xml }
admin: { address: "0.0.0.0:9090" }
entrypoints:
  a: { address: "8080", redirectTo: a }
  b: { address: ":80", protocol: quic, redirectTo: c }
  c: { address: ":8443", trustedProxies: [10.0.0.0/33, example.com] }
  d: { address: ":99999", redirectTo: b }
  e: { address: ":8443" }
`,
			want: []string{
				`usher.yaml:1: log.level: "verbose" is not one of debug, info, warn, error`,
				`usher.yaml:1: log.format: "jsn" is not one of json, text; did you mean "json"?`,
				`usher.yaml:2: accessLog.format: "xml" is not one of json, text`,
				`usher.yaml:3: admin.token: a token is required when the admin API listens beyond loopback (address "0.0.0.0:9090")`,
				`usher.yaml:5: entrypoints.a.address: "8080" is not host:port (like :8080 or 127.0.0.1:8080)`,
				`usher.yaml:5: entrypoints.a.redirectTo: an entrypoint cannot redirect to itself`,
				`usher.yaml:6: entrypoints.b.protocol: "quic" is not one of http, tcp, udp`,
				`usher.yaml:7: entrypoints.c.trustedProxies[0]: "10.0.0.0/33" is neither a CIDR (like 10.0.0.0/8) nor an IP address`,
				`usher.yaml:7: entrypoints.c.trustedProxies[1]: "example.com" is neither a CIDR (like 10.0.0.0/8) nor an IP address`,
				`usher.yaml:8: entrypoints.d.address: ":99999" has no valid port (0 to 65535)`,
				`usher.yaml:8: entrypoints.d.redirectTo: entrypoint "b" is not an http entrypoint`,
				`usher.yaml:9: entrypoints.e.address: address ":8443" is already used by entrypoint "c"`,
			},
		},
		{
			name: "tracing",
			text: `tracing: { otlpEndpoint: "127.0.0.1:4318", sampleRatio: 1.5 }
`,
			want: []string{
				`usher.yaml:1: tracing.otlpEndpoint: "127.0.0.1:4318" is not an http:// or https:// URL with a host (like http://127.0.0.1:4318)`,
				`usher.yaml:1: tracing.sampleRatio: 1.5 is not between 0 and 1`,
			},
		},
		{
			name: "tracing endpoint with credentials",
			text: `tracing: { otlpEndpoint: "https://user:hunter2@otel.example.com" }
`,
			want: []string{
				`usher.yaml:1: tracing.otlpEndpoint: the URL must not hold credentials`,
			},
		},
		{
			name: "tracing without endpoint",
			text: `tracing: { serviceName: edge }
`,
			want: []string{
				`usher.yaml:1: tracing.otlpEndpoint: an OTLP/HTTP endpoint is required (like http://127.0.0.1:4318)`,
			},
		},
		{
			name: "not supported yet",
			text: `entrypoints:
  pg: { address: ":5432", protocol: tcp }
  dns: { address: ":53", protocol: udp }
  h3: { address: ":443", http3: true, tls: { certResolver: le } }
providers:
  docker: {}
certResolvers:
  le: { acme: { email: a@b.c, challenge: tls-alpn-01 } }
cluster: {}
tcp:
  routers: { pg: { rule: "HostSNI(` + "`*`" + `)", service: pg } }
udp:
  services: { dns: { loadBalancer: { servers: [ { address: "10.0.0.1:53" } ] } } }
`,
			want: []string{
				`usher.yaml:3: entrypoints.dns.protocol: protocol udp is not supported by this version of usher`,
				`usher.yaml:2: entrypoints.pg.protocol: protocol tcp is not supported by this version of usher`,
				`usher.yaml:9: cluster: cluster is not supported by this version of usher`,
				`usher.yaml:10: tcp: TCP routing is not supported by this version of usher`,
				`usher.yaml:12: udp: UDP routing is not supported by this version of usher`,
			},
		},
		{
			name: "routers",
			text: `entrypoints:
  web: { address: ":80" }
  pg: { address: ":5432", protocol: tcp }
http:
  routers:
    a: { rule: "` + badRule + `", service: ap, middlewares: [strip, nope], entrypoints: [web, pg, wbe] }
    b: { service: api, tls: { options: nope } }
    c: { rule: "Path(` + "`/`" + `)" }
  services:
    api: { loadBalancer: { servers: [ { url: "http://a" } ] } }
  middlewares:
    strip: { stripPrefix: { prefixes: [/a] } }
`,
			want: []string{
				`usher.yaml:3: entrypoints.pg.protocol: protocol tcp is not supported by this version of usher`,
				`usher.yaml:6: http.routers.a.rule: ` + ruleErr.Error(),
				`usher.yaml:6: http.routers.a.service: service "ap" does not exist; did you mean "api"?`,
				`usher.yaml:6: http.routers.a.middlewares[1]: middleware "nope" does not exist`,
				`usher.yaml:6: http.routers.a.entrypoints[1]: entrypoint "pg" is not an http entrypoint`,
				`usher.yaml:6: http.routers.a.entrypoints[2]: entrypoint "wbe" does not exist; did you mean "web"?`,
				`usher.yaml:7: http.routers.b.rule: a rule is required, like Host(` + "`example.com`" + `)`,
				`usher.yaml:7: http.routers.b.tls.options: TLS options "nope" do not exist`,
				`usher.yaml:8: http.routers.c.service: a service name is required`,
			},
		},
		{
			name: "services",
			text: `http:
  services:
    none: {}
    two:
      loadBalancer: { servers: [ { url: "http://a" } ] }
      failover: { service: none, fallback: none }
    lb:
      loadBalancer:
        algorithm: round-robbin
        hashBalanceFactor: 0.5
        servers:
          - { url: "ftp://a" }
          - { url: "http://", weight: -1 }
          - { url: "http://a:b" }
          - { url: "http://a/?q=1" }
    hash:
      loadBalancer: { algorithm: cookie-hash, servers: [ { url: "http://a", weight: 0 } ] }
    empty:
      loadBalancer: { servers: [] }
    checks:
      loadBalancer:
        servers: [ { url: "http://a" } ]
        sticky: { cookie: { name: "a b", sameSite: none, maxAge: -1 } }
        healthCheck: { mode: udp, path: healthz, expectStatus: "399-200", expectBody: "(", interval: 1s, timeout: 2s, port: 70000 }
        passiveHealthCheck: { maxEjectedPercent: 120 }
        retry: { attempts: -1, onStatus: [999], methods: ["GE T"] }
        whenNoHealthy: "502"
        transport: { tls: { cert: /nonexistent/cert.pem } }
`,
			want: []string{
				`usher.yaml:23: http.services.checks.loadBalancer.sticky.cookie.name: "a b" is not a valid cookie name`,
				`usher.yaml:23: http.services.checks.loadBalancer.sticky.cookie.sameSite: sameSite none needs secure: true (browsers drop such cookies otherwise)`,
				`usher.yaml:23: http.services.checks.loadBalancer.sticky.cookie.maxAge: must be 0 or more, got -1`,
				`usher.yaml:24: http.services.checks.loadBalancer.healthCheck.mode: "udp" is not one of http, tcp, grpc`,
				`usher.yaml:24: http.services.checks.loadBalancer.healthCheck.path: "healthz" must start with /`,
				`usher.yaml:24: http.services.checks.loadBalancer.healthCheck.port: port must be 1 to 65535, got 70000`,
				`usher.yaml:24: http.services.checks.loadBalancer.healthCheck.expectStatus: range "399-200" ends before it starts`,
				"usher.yaml:24: http.services.checks.loadBalancer.healthCheck.expectBody: bad regexp: error parsing regexp: missing closing ): `(`",
				`usher.yaml:24: http.services.checks.loadBalancer.healthCheck.timeout: timeout 2s is longer than the interval 1s between probes`,
				`usher.yaml:25: http.services.checks.loadBalancer.passiveHealthCheck.maxEjectedPercent: a percentage is 0 to 100, got 120`,
				`usher.yaml:26: http.services.checks.loadBalancer.retry.attempts: must be 0 or more, got -1`,
				`usher.yaml:26: http.services.checks.loadBalancer.retry.onStatus[0]: 999 is not an HTTP status (100 to 599)`,
				`usher.yaml:26: http.services.checks.loadBalancer.retry.methods[0]: "GE T" is not a method usher retries (GET, HEAD, OPTIONS, PUT, DELETE, POST, PATCH, TRACE, in capitals)`,
				`usher.yaml:27: http.services.checks.loadBalancer.whenNoHealthy: "502" is not one of 503, panic; did you mean "503"?`,
				`usher.yaml:28: http.services.checks.loadBalancer.transport.tls.cert: cannot read /nonexistent/cert.pem: no such file or directory`,
				`usher.yaml:28: http.services.checks.loadBalancer.transport.tls: cert and key go together: set both or neither`,
				`usher.yaml:19: http.services.empty.loadBalancer.servers: a load balancer needs at least one server`,
				`usher.yaml:17: http.services.hash.loadBalancer.servers: every server has weight 0, so none would get traffic (a drained pool is allowed as the main service of a failover)`,
				`usher.yaml:17: http.services.hash.loadBalancer.hashKey: algorithm cookie-hash needs hashKey, the name of the cookie to hash`,
				`usher.yaml:12: http.services.lb.loadBalancer.servers[0].url: "ftp://a" must start with http:// or https://`,
				`usher.yaml:13: http.services.lb.loadBalancer.servers[1].url: "http://" has no host`,
				`usher.yaml:13: http.services.lb.loadBalancer.servers[1].weight: weight must be 0 or more, got -1`,
				`usher.yaml:14: http.services.lb.loadBalancer.servers[2].url: "http://a:b" has an invalid port "b": a port is a number from 1 to 65535`,
				`usher.yaml:15: http.services.lb.loadBalancer.servers[3].url: "http://a/?q=1" cannot have a query or a fragment`,
				`usher.yaml:9: http.services.lb.loadBalancer.algorithm: "round-robbin" is not one of round-robin, random, least-connections, p2c, ewma, least-time, ip-hash, uri-hash, header-hash, cookie-hash; did you mean "round-robin"?`,
				`usher.yaml:10: http.services.lb.loadBalancer.hashBalanceFactor: hashBalanceFactor must be 1 or more, got 0.5`,
				`usher.yaml:3: http.services.none: a service needs one of loadBalancer, weighted, mirror, failover`,
				`usher.yaml:4: http.services.two: a service is exactly one of loadBalancer, weighted, mirror, failover; got loadBalancer and failover`,
				`usher.yaml:6: http.services.two.failover.fallback: the fallback is the main service itself`,
			},
		},
		{
			name: "references and cycles",
			text: `http:
  services:
    a: { weighted: { services: [ { name: b }, { name: ghost } ] } }
    b: { mirror: { service: c, mirrors: [ { name: a, percent: 101 } ] } }
    c: { failover: { service: a, fallback: d } }
    d: { loadBalancer: { servers: [ { url: "http://x" } ] } }
    e: { mirror: { service: e, mirrors: [] } }
    w: { weighted: { services: [] } }
  middlewares:
    m1: { chain: { middlewares: [m2] } }
    m2: { chain: { middlewares: [m3, m1] } }
    m3: { chain: { middlewares: [] } }
    self: { chain: { middlewares: [self, missing] } }
`,
			want: []string{
				`usher.yaml:3: http.services.a.weighted.services[1].name: service "ghost" does not exist`,
				`usher.yaml:4: http.services.b.mirror.mirrors[0].percent: a percentage is 0 to 100, got 101`,
				`usher.yaml:7: http.services.e.mirror.mirrors: a mirror needs at least one service to copy requests to`,
				`usher.yaml:8: http.services.w.weighted.services: a weighted service needs at least one service`,
				`usher.yaml:3: http.services.a: services refer to each other in a cycle: a -> b -> c -> a`,
				`usher.yaml:3: http.services.a: services refer to each other in a cycle: a -> b -> a`,
				`usher.yaml:7: http.services.e: services refer to each other in a cycle: e -> e`,
				`usher.yaml:12: http.middlewares.m3.chain.middlewares: a chain needs at least one middleware`,
				`usher.yaml:13: http.middlewares.self.chain.middlewares[1]: middleware "missing" does not exist`,
				`usher.yaml:10: http.middlewares.m1: chains include each other in a cycle: m1 -> m2 -> m1`,
				`usher.yaml:13: http.middlewares.self: chains include each other in a cycle: self -> self`,
			},
		},
		{
			name: "middlewares",
			text: `http:
  middlewares:
    s: { stripPrefix: { prefixes: [] } }
    s2: { stripPrefix: { prefixes: [api] } }
    a: { addPrefix: {} }
    r: { replacePath: { path: x } }
    rs: { redirectScheme: { scheme: ftp, port: "0" } }
    rs2: { redirectScheme: {} }
    rr: { redirectRegex: { regex: "[" } }
    h: { headers: { customRequestHeaders: { "Bad Header": x }, stsSeconds: -1 } }
`,
			want: []string{
				`usher.yaml:5: http.middlewares.a.addPrefix.prefix: a path is required, starting with /`,
				`usher.yaml:10: http.middlewares.h.headers.customRequestHeaders.Bad Header: "Bad Header" is not a valid header name`,
				`usher.yaml:10: http.middlewares.h.headers.stsSeconds: must be 0 or more, got -1`,
				`usher.yaml:6: http.middlewares.r.replacePath.path: "x" must start with /`,
				"usher.yaml:9: http.middlewares.rr.redirectRegex.regex: bad regexp: error parsing regexp: missing closing ]: `[`",
				`usher.yaml:9: http.middlewares.rr.redirectRegex.replacement: a replacement is required`,
				`usher.yaml:7: http.middlewares.rs.redirectScheme.scheme: "ftp" is not one of http, https`,
				`usher.yaml:7: http.middlewares.rs.redirectScheme.port: "0" is not a port (1 to 65535)`,
				`usher.yaml:8: http.middlewares.rs2.redirectScheme.scheme: a scheme is required (http or https)`,
				`usher.yaml:3: http.middlewares.s.stripPrefix.prefixes: at least one prefix is required`,
				`usher.yaml:4: http.middlewares.s2.stripPrefix.prefixes[0]: "api" must start with /`,
			},
		},
		{
			name: "tls",
			text: `tls:
  certificates:
    - { certFile: /nonexistent/a.pem }
  options:
    a: { minVersion: "1.3", maxVersion: "1.2", clientAuth: { mode: verify } }
    b: { minVersion: "1.1", clientAuth: { mode: optional, caFiles: [/nonexistent/ca.pem] } }
`,
			want: []string{
				`usher.yaml:3: tls.certificates[0].keyFile: keyFile is required`,
				`usher.yaml:3: tls.certificates[0].certFile: cannot read /nonexistent/a.pem: no such file or directory`,
				`usher.yaml:5: tls.options.a.maxVersion: maxVersion 1.2 is below minVersion 1.3`,
				`usher.yaml:5: tls.options.a.clientAuth.caFiles: mode verify needs at least one CA file to verify client certificates against`,
				`usher.yaml:6: tls.options.b.minVersion: "1.1" is not one of 1.2, 1.3`,
				`usher.yaml:6: tls.options.b.clientAuth.mode: "optional" is not one of none, request, require, verifyIfGiven, verify`,
				`usher.yaml:6: tls.options.b.clientAuth.caFiles[0]: cannot read /nonexistent/ca.pem: no such file or directory`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := validate(t, tc.text)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestValidateCodeBuiltConfig(t *testing.T) {
	// A config built in code has no positions and may hold nil entries; its
	// problems still name the path.
	c := &Config{
		Entrypoints: map[string]*Entrypoint{"web": nil},
		HTTP: &HTTP{
			Routers:     map[string]*Router{"r": nil},
			Services:    map[string]*Service{"s": nil},
			Middlewares: map[string]*Middleware{"m": nil, "k": {Kind: "nope", Spec: &Chain{}}, "x": {Kind: "chain", Spec: Chain{}}},
		},
	}
	c.ApplyDefaults()
	want := []string{
		`entrypoints.web: the entrypoint is empty; it needs at least an address`,
		`http.routers.r: the router is empty; it needs a rule and a service`,
		`http.services.s: the service is empty; it needs one of loadBalancer, weighted, mirror, failover`,
		`http.middlewares.k: unknown middleware kind "nope"`,
		`http.middlewares.m: the middleware is empty; it needs one key naming its kind`,
		`http.middlewares.x: middleware of kind "chain" holds a config.Chain, not a *Chain`,
	}
	if got := Validate(c).Error(); got != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
	if Validate(nil) != nil {
		t.Error("Validate(nil) found problems")
	}
}
