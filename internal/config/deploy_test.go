package config

import (
	"slices"
	"testing"
)

func TestValidateDeployment(t *testing.T) {
	for _, c := range []struct {
		name, weighted string
		want           []string
	}{
		{"the design's canary", `services: [ { name: stable, weight: 100 }, { name: next, weight: 0 } ]
        canary: { service: next, steps: [10, 50, 100], interval: 30s, maxErrorRate: 1%, maxP99: 500ms, minRequests: 100 }`, nil},
		{"canary defaults", `services: [ { name: stable }, { name: next, weight: 0 } ]
        canary: { service: next, maxErrorRate: 0.5 }`, nil},
		{"buckets", `services: [ { name: stable }, { name: next } ]
        bucketBy: "cookie:uid"
        variantHeader: X-Variant`, nil},
		{"bad canary", `services: [ { name: stable, weight: 0 }, { name: next } ]
        canary: { service: next, steps: [0, 50, 40, 101], interval: 1ms, maxErrorRate: "two%", minRequests: -1 }`, []string{
			`usher.yaml:8: http.services.shop.weighted.canary.service: the canary needs another service with a weight above 0 to take the traffic it does not get`,
			`usher.yaml:8: http.services.shop.weighted.canary.steps[0]: a step is the canary's share in percent, 1 to 100, got 0`,
			`usher.yaml:8: http.services.shop.weighted.canary.steps[2]: steps must increase, got 40 after 50`,
			`usher.yaml:8: http.services.shop.weighted.canary.steps[3]: a step is the canary's share in percent, 1 to 100, got 101`,
			`usher.yaml:8: http.services.shop.weighted.canary.interval: interval must be 10ms or more, got 1ms`,
			`usher.yaml:8: http.services.shop.weighted.canary.maxErrorRate: expected a percentage from 0% to 100% (like 1% or 0.5%), got "two%"`,
			`usher.yaml:8: http.services.shop.weighted.canary.minRequests: must be 0 or more, got -1`,
		}},
		{"canary not an arm", `services: [ { name: stable }, { name: next } ]
        canary: { service: nxt }`, []string{
			`usher.yaml:8: http.services.shop.weighted.canary.service: "nxt" is not one of this weighted service's services (stable, next); did you mean "next"?`,
		}},
		{"bad buckets", `services: [ { name: stable }, { name: next } ]
        bucketBy: "session"
        sticky: { cookie: { name: v } }`, []string{
			`usher.yaml:8: http.services.shop.weighted.bucketBy: unknown key "session": cookie:NAME, header:NAME, claim:NAME or clientIP`,
			`usher.yaml:8: http.services.shop.weighted.bucketBy: bucketBy and sticky both pin a user to a service; keep one`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := `http:
  services:
    stable: { loadBalancer: { servers: [ { url: "http://127.0.0.1:1" } ] } }
    next: { loadBalancer: { servers: [ { url: "http://127.0.0.1:2" } ] } }
    shop:
      weighted:
        ` + c.weighted + "\n"
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

func TestParsePercent(t *testing.T) {
	for in, want := range map[string]float64{"1%": 0.01, "0.5%": 0.005, "1": 0.01, " 100 % ": 1, "0": 0} {
		if got, err := ParsePercent(in); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1%", "101%", "x", "NaN"} {
		if _, err := ParsePercent(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
