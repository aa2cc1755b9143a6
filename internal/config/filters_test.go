package config

import (
	"slices"
	"testing"
)

func TestValidateFiltersAndBrowserDefences(t *testing.T) {
	for _, c := range []struct {
		name, mw string
		want     []string
	}{
		{"the design's allow list", `{ ipAllowList: { sourceRange: ["10.0.0.0/8"] } }`, nil},
		{"the design's deny list", `{ ipDenyList: { sourceRange: ["192.0.2.0/24"] } }`, nil},
		{"IPv6, bare IPs, a strategy", `{ ipAllowList: { sourceRange: ["2001:db8::/32", "::1", "192.0.2.7"], ipStrategy: { depth: 2 } } }`, nil},
		{"excluded IPs", `{ ipDenyList: { sourceRange: ["192.0.2.0/24"], ipStrategy: { excludedIPs: ["10.0.0.0/8", "fd00::1"] } } }`, nil},
		{"bad ranges", `{ ipAllowList: { sourceRange: ["10.0.0.0/8", "10.0.0.0/33", "example.com", "fe80::1%eth0"] } }`, []string{
			`usher.yaml:4: http.middlewares.m.ipAllowList.sourceRange[1]: "10.0.0.0/33" is not a CIDR (like 10.0.0.0/8 or 2001:db8::/32)`,
			`usher.yaml:4: http.middlewares.m.ipAllowList.sourceRange[2]: "example.com" is neither a CIDR (like 10.0.0.0/8) nor an IP address`,
			`usher.yaml:4: http.middlewares.m.ipAllowList.sourceRange[3]: "fe80::1%eth0" is neither a CIDR (like 10.0.0.0/8) nor an IP address`,
		}},
		{"no range", `{ ipDenyList: { sourceRange: [] } }`, []string{
			`usher.yaml:4: http.middlewares.m.ipDenyList.sourceRange: at least one CIDR or IP address is required (like 10.0.0.0/8)`,
		}},
		{"bad strategy", `{ ipDenyList: { sourceRange: ["10.0.0.0/8"], ipStrategy: { depth: 1, excludedIPs: ["10.0.0.0/80"] } } }`, []string{
			`usher.yaml:4: http.middlewares.m.ipDenyList.ipStrategy: depth and excludedIPs are two ways of picking the client from X-Forwarded-For: set one`,
			`usher.yaml:4: http.middlewares.m.ipDenyList.ipStrategy.excludedIPs[0]: "10.0.0.0/80" is not a CIDR (like 10.0.0.0/8 or 2001:db8::/32)`,
		}},
		{"negative depth", `{ ipAllowList: { sourceRange: ["10.0.0.0/8"], ipStrategy: { depth: -1 } } }`, []string{
			`usher.yaml:4: http.middlewares.m.ipAllowList.ipStrategy.depth: -1 is not a depth: 1 is the rightmost address of X-Forwarded-For`,
		}},
		{"a strategy with no trusted proxy", `{ ipAllowList: { sourceRange: ["10.0.0.0/8"], ipStrategy: { depth: 1 } } }
entrypoints: { web: { address: ":8080" } }`, []string{
			`usher.yaml:4: http.middlewares.m.ipAllowList.ipStrategy: it reads X-Forwarded-For, which usher keeps only from an entrypoint's trustedProxies, and no entrypoint has any: every request would be refused; list your proxies in trustedProxies (and then usher's client IP, without ipStrategy, is likely what you want)`,
		}},
		{"a strategy with a trusted proxy", `{ ipAllowList: { sourceRange: ["10.0.0.0/8"], ipStrategy: { depth: 1 } } }
entrypoints: { web: { address: ":8080", trustedProxies: ["10.0.0.1"] } }`, nil},
		{"the design's cors", `{ cors: { allowOrigins: ["https://app.example.com", "*.example.com"], allowMethods: [GET, POST], allowHeaders: [Content-Type], allowCredentials: false, maxAge: 600 } }`, nil},
		{"cors with every key", `{ cors: { allowOrigins: ["https://*.example.com:8443", "http://localhost:3000"], allowMethods: ["*"], allowHeaders: ["*"], exposeHeaders: [X-Total], allowCredentials: true, maxAge: 0 } }`, nil},
		{"credentials for any origin", `{ cors: { allowOrigins: ["*"], allowCredentials: true, exposeHeaders: ["*"] } }`, []string{
			`usher.yaml:4: http.middlewares.m.cors.allowCredentials: not with allowOrigins "*": every site could then read answers made with its visitors' cookies; list the origins instead (browsers refuse credentials with "*" too)`,
			`usher.yaml:4: http.middlewares.m.cors.exposeHeaders[0]: "*" is not a wildcard with allowCredentials (browsers read it as a header named "*"); list the headers`,
		}},
		{"bad cors values", `{ cors: { allowOrigins: ["app.example.com", "https://a.example.com/", "https://a.*.com", "null"], allowMethods: [GET, "GET", "P OST"], allowHeaders: ["*", X-A], maxAge: -1 } }`, []string{
			`usher.yaml:4: http.middlewares.m.cors.allowOrigins[0]: "app.example.com" has no scheme: write https://app.example.com (an origin is scheme://host[:port]), or *.app.example.com for its subdomains`,
			`usher.yaml:4: http.middlewares.m.cors.allowOrigins[1]: "https://a.example.com/" is not an origin: write scheme://host[:port], without path, query or user (like https://app.example.com)`,
			`usher.yaml:4: http.middlewares.m.cors.allowOrigins[2]: "https://a.*.com": a wildcard stands for the leftmost labels only, like *.example.com or https://*.example.com`,
			`usher.yaml:4: http.middlewares.m.cors.allowOrigins[3]: the origin "null" cannot be allowed: sandboxed documents and local files send it, and any site can make one; write "*" for any origin`,
			`usher.yaml:4: http.middlewares.m.cors.allowMethods[1]: "GET" is listed twice`,
			`usher.yaml:4: http.middlewares.m.cors.allowMethods[2]: "P OST" is not a valid method`,
			`usher.yaml:4: http.middlewares.m.cors.allowHeaders[0]: "*" stands for any header name: list it alone`,
			`usher.yaml:4: http.middlewares.m.cors.maxAge: -1 is not a number of seconds (0 or more)`,
		}},
		{"no origins", `{ cors: { allowMethods: [GET] } }`, []string{
			`usher.yaml:4: http.middlewares.m.cors.allowOrigins: at least one origin is required (like "https://app.example.com", "*.example.com" or "*")`,
		}},
		{"the design's csrf", `{ csrf: { trustedOrigins: [], bypassPaths: [] } }`, nil},
		{"csrf with values", `{ csrf: { trustedOrigins: ["https://sso.example.com", "http://localhost:3000"], bypassPaths: ["/webhooks/", "POST /api/{id}/hook"] } }`, nil},
		{"bad csrf values", `{ csrf: { trustedOrigins: ["sso.example.com", "https://a.example.com/x"], bypassPaths: ["webhooks", "/a/", "/a/"] } }`, []string{
			`usher.yaml:4: http.middlewares.m.csrf.trustedOrigins[0]: "sso.example.com" is not an origin: write scheme://host[:port] (like https://app.example.com)`,
			`usher.yaml:4: http.middlewares.m.csrf.trustedOrigins[1]: "https://a.example.com/x" is not an origin: write scheme://host[:port] (like https://app.example.com)`,
			`usher.yaml:4: http.middlewares.m.csrf.bypassPaths[0]: "webhooks" is not a path pattern (like /webhooks/, /hook or "POST /api/{id}"): at offset 0: host/path missing /`,
			`usher.yaml:4: http.middlewares.m.csrf.bypassPaths[2]: "/a/" conflicts with bypassPaths[1] "/a/": they match the same requests and neither is more specific`,
		}},
		{"new security headers", `{ headers: { permissionsPolicy: "camera=(), geolocation=(self)", crossOriginOpenerPolicy: same-origin, crossOriginEmbedderPolicy: 'require-corp; report-to="e"', crossOriginResourcePolicy: same-site } }`, nil},
		{"bad policies", `{ headers: { crossOriginOpenerPolicy: same-orign, crossOriginEmbedderPolicy: require, crossOriginResourcePolicy: "*" } }`, []string{
			`usher.yaml:4: http.middlewares.m.headers.crossOriginOpenerPolicy: "same-orign" is not one of same-origin, same-origin-allow-popups, noopener-allow-popups, unsafe-none; did you mean "same-origin"?`,
			`usher.yaml:4: http.middlewares.m.headers.crossOriginEmbedderPolicy: "require" is not one of require-corp, credentialless, unsafe-none`,
			`usher.yaml:4: http.middlewares.m.headers.crossOriginResourcePolicy: "*" is not one of same-origin, same-site, cross-origin`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := "http:\n  middlewares:\n    x: { headers: { frameDeny: true } }\n    m: " + c.mw + "\n"
			var got []string
			if _, err := parseWith("usher.yaml", text, nil, nil); err != nil {
				got = []string{err.Error()}
			} else {
				got = validate(t, text)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got\n  %q\nwant\n  %q", got, c.want)
			}
		})
	}
}
