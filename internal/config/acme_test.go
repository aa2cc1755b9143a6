package config

import (
	"strings"
	"testing"
)

func TestValidateCertResolvers(t *testing.T) {
	cases := []struct {
		name, text string
		want       []string
	}{
		{
			name: "valid",
			text: `entrypoints:
  web: { address: ":80" }
  websecure: { address: ":443", tls: { certResolver: le } }
certResolvers:
  le: { acme: { email: ops@example.com, caServer: "https://acme.example/dir", challenge: http-01,
        onDemand: { ask: "http://127.0.0.1:9/ask", rateLimit: { average: 5, period: 1m } } } }
  alpn: { acme: { challenge: tls-alpn-01 } }
  dns: { acme: { challenge: dns-01, dns: { provider: rfc2136, server: "127.0.0.1:53", tsigKey: usher, tsigAlgorithm: hmac-sha256, tsigSecret: "c2VjcmV0" } } }
http:
  routers:
    a: { rule: "Host(` + "`a.example.com`" + `)", service: s, tls: { certResolver: alpn, domains: [ { main: b.example.com, sans: [c.example.com] } ] } }
    b: { rule: "PathPrefix(` + "`/`" + `)", service: s, tls: { certResolver: le, domains: [ { main: d.example.com } ] } }
    w: { rule: "PathPrefix(` + "`/`" + `)", service: s, tls: { certResolver: dns, domains: [ { main: "*.example.com" } ] } }
  services:
    s: { loadBalancer: { servers: [ { url: "http://127.0.0.1:1" } ] } }
`,
		},
		{
			name: "bad",
			text: `entrypoints:
  websecure: { address: ":443", tls: { certResolver: lee } }
certResolvers:
  le: { acme: { email: "not an address", caServer: "http://acme.example/dir", challenge: http01, caRoots: /nonexistent/roots.pem } }
  h1: { acme: { challenge: http-01, onDemand: { ask: "ftp://x", rateLimit: { average: 0 } } } }
  dns: { acme: { challenge: dns-01, dns: { provider: rfc2137, tsigKey: k, tsigSecret: "not base64!" } } }
  nodns: { acme: { challenge: dns-01 } }
  empty: {}
http:
  routers:
    a: { rule: "PathPrefix(` + "`/`" + `)", service: s, tls: { certResolver: le } }
    b: { rule: "Host(` + "`b.example.com`" + `)", service: s, tls: { certResolver: le, domains: [ { main: "*.example.com", sans: ["a b"] } ] } }
  services:
    s: { loadBalancer: { servers: [ { url: "http://127.0.0.1:1" } ] } }
`,
			want: []string{
				`entrypoints.websecure.tls.certResolver: certResolver "lee" does not exist; did you mean "le"?`,
				`certResolvers.dns.acme.dns.provider: "rfc2137" is not one of rfc2136`,
				`certResolvers.dns.acme.dns.server: the primary DNS server's address is required`,
				`certResolvers.dns.acme.dns.tsigSecret: the secret is not base64`,
				`certResolvers.nodns.acme.dns: dns-01 needs a DNS provider`,
				`certResolvers.empty.acme: a certResolver needs an acme section`,
				`certResolvers.h1.acme.challenge: http-01 is answered on a plain HTTP entrypoint`,
				`certResolvers.h1.acme.onDemand.ask: "ftp://x" must start with http:// or https://`,
				`certResolvers.h1.acme.onDemand.rateLimit.average: must be 1 or more, got 0`,
				`certResolvers.le.acme.caServer: "http://acme.example/dir" must start with https://`,
				`certResolvers.le.acme.email: "not an address" is not an email address`,
				`certResolvers.le.acme.caRoots:`,
				`certResolvers.le.acme.challenge: "http01" is not one of http-01, tls-alpn-01, dns-01`,
				`http.routers.a.tls.certResolver: the rule names no Host`,
				`http.routers.b.tls.domains[0].main: "*.example.com" is a wildcard, which only the dns-01 challenge can get (this resolver`,
				`http.routers.b.tls.domains[0].sans[0]: "a b" is not a DNS name`,
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("usher.yaml", []byte(tc.text))
			if err != nil {
				t.Fatal(err)
			}
			probs := Validate(c)
			got := probs.Error()
			if len(tc.want) == 0 && len(probs) > 0 {
				t.Fatalf("want valid, got:\n%s", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
			if len(probs) != len(tc.want) {
				t.Errorf("got %d problems, want %d:\n%s", len(probs), len(tc.want), got)
			}
		})
	}
}
