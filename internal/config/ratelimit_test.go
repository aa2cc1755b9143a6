package config

import (
	"slices"
	"testing"
)

func TestValidateRateLimit(t *testing.T) {
	for _, c := range []struct {
		name, static, mw string
		want             []string
	}{
		{"the design's shape", "", `{ rateLimit: { average: 100, period: 1s, burst: 50, key: clientIP, store: memory, onStoreError: allow } }`, nil},
		{"every key kind", "", `{ rateLimit: { average: 1, key: "header:X-Tenant", ipv6Subnet: 64, maxKeys: 10 } }`, nil},
		{"claim and apiKey", "", `{ inFlightReq: { amount: 10, key: "claim:sub" } }`, nil},
		{"redis with its section", "redis: { address: 127.0.0.1:6379 }\n", `{ rateLimit: { average: 1, key: apiKey, store: redis, onStoreError: deny } }`, nil},
		{"redis without its section", "", `{ rateLimit: { average: 1, store: redis } }`, []string{
			"usher.yaml:4: http.middlewares.m.rateLimit.store: store: redis needs the static `redis` section (redis: { address: host:port })",
		}},
		{"bad values", "", `{ rateLimit: { average: 0, burst: -1, key: cookie, store: disk, onStoreError: retry, ipv6Subnet: 129, maxKeys: -2 } }`, []string{
			`usher.yaml:4: http.middlewares.m.rateLimit.average: average must be 1 or more requests per period, got 0`,
			`usher.yaml:4: http.middlewares.m.rateLimit.burst: burst cannot be negative, got -1`,
			`usher.yaml:4: http.middlewares.m.rateLimit.key: unknown key "cookie": clientIP, host, apiKey, header:NAME or claim:NAME`,
			`usher.yaml:4: http.middlewares.m.rateLimit.ipv6Subnet: an IPv6 prefix length is 0 to 128, got 129`,
			`usher.yaml:4: http.middlewares.m.rateLimit.store: "disk" is not one of memory, redis`,
			`usher.yaml:4: http.middlewares.m.rateLimit.onStoreError: "retry" is not one of allow, deny`,
			`usher.yaml:4: http.middlewares.m.rateLimit.maxKeys: maxKeys cannot be negative, got -2`,
		}},
		{"too fast", "", `{ rateLimit: { average: 2000000, period: 1s } }`, []string{
			`usher.yaml:4: http.middlewares.m.rateLimit.average: 2000000 requests per 1s is more than one a microsecond, which usher cannot count`,
		}},
		{"bad inFlightReq", "", `{ inFlightReq: { amount: 0, key: "header:bad header" } }`, []string{
			`usher.yaml:4: http.middlewares.m.inFlightReq.amount: amount must be 1 or more, got 0`,
			`usher.yaml:4: http.middlewares.m.inFlightReq.key: "bad header" is not a valid header name (key: header:NAME)`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := "http:\n  middlewares:\n    x: { headers: { frameDeny: true } }\n    m: " + c.mw + "\n" + c.static
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
