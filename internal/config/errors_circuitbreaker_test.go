package config

import (
	"strings"
	"testing"
)

func TestValidateErrorsAndCircuitBreaker(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{
			name: "valid",
			text: `http:
  services:
    pages: { loadBalancer: { servers: [ { url: "http://127.0.0.1:9" } ] } }
  middlewares:
    e1: { errors: { status: ["500-599", "404"], service: pages, query: "/{status}.html" } }
    e2: { errors: { status: ["502"], service: pages, query: "err?code={status}&from={url}" } }
    e3: { errors: { status: [" 400 - 499 "], service: pages } }
    e4: { errors: { status: ["404,500-599"], statusRewrites: { "418": 404, "502-504": 500 }, service: pages, query: "/{status}.html?was={originalStatus}" } }
    cb1: { circuitBreaker: { expression: "NetworkErrorRatio() > 0.5" } }
    cb2:
      circuitBreaker:
        expression: "ResponseCodeRatio(500, 600, 0, 600) > 0.25 || (LatencyAtQuantileMS(50.0) > 100 && !(NetworkErrorRatio() < 0.1))"
        checkPeriod: 250ms
        fallbackDuration: 30s
        recoveryDuration: 1m
        responseCode: 529
`,
		},
		{
			name: "problems",
			text: `http:
  services:
    pages: { loadBalancer: { servers: [ { url: "http://127.0.0.1:9" } ] } }
  middlewares:
    none: { errors: {} }
    bad:
      errors:
        status: ["5xx", "600", "599-500", "99"]
        service: pagez
        query: "/{code}.html"
    url: { errors: { status: ["500"], service: pages, query: "//evil.example/x" } }
    frag: { errors: { status: ["500"], service: pages, query: "/x#y" } }
    brace: { errors: { status: ["500"], service: pages, query: "/{status" } }
    cbNone: { circuitBreaker: {} }
    rw1: { errors: { status: ["500"], service: pages, statusRewrites: { "500-510": 503, "505": 500 } } }
    rw2: { errors: { status: ["500,5x"], service: pages, statusRewrites: { "500": 1000 } } }
    cbBad:
      circuitBreaker:
        expression: "NetworkErrorRatio() > 0.5 && LatencyAtQuantileMS(0) > 1"
        responseCode: 99
`,
			want: []string{
				`usher.yaml:8: http.middlewares.bad.errors.status[0]: "5xx" is not a status (404) or a range of statuses (500-599)`,
				`usher.yaml:8: http.middlewares.bad.errors.status[1]: "600": statuses are 100 to 599`,
				`usher.yaml:8: http.middlewares.bad.errors.status[2]: "599-500": the range ends before it starts`,
				`usher.yaml:8: http.middlewares.bad.errors.status[3]: "99": statuses are 100 to 599`,
				`usher.yaml:9: http.middlewares.bad.errors.service: service "pagez" does not exist; did you mean "pages"?`,
				`usher.yaml:10: http.middlewares.bad.errors.query: "/{code}.html": unknown placeholder {code}; the placeholders are {status}, {originalStatus} and {url}`,
				`usher.yaml:13: http.middlewares.brace.errors.query: "/{status" has a { without its }`,
				`usher.yaml:19: http.middlewares.cbBad.circuitBreaker.expression: column 50: the quantile of LatencyAtQuantileMS is a percentile, above 0 and at most 100, got 0`,
				`usher.yaml:20: http.middlewares.cbBad.circuitBreaker.responseCode: a status from 200 to 599, got 99`,
				`usher.yaml:14: http.middlewares.cbNone.circuitBreaker.expression: an expression is required, like NetworkErrorRatio() > 0.5`,
				`usher.yaml:12: http.middlewares.frag.errors.query: "/x#y" must be a path and query, without spaces or a fragment`,
				`usher.yaml:5: http.middlewares.none.errors.status: at least one status or range is required, like "500-599" or "404"`,
				`usher.yaml:5: http.middlewares.none.errors.service: a service name is required`,
				`usher.yaml:15: http.middlewares.rw1.errors.statusRewrites: "505" overlaps another key: a status is rewritten by one key only`,
				`usher.yaml:16: http.middlewares.rw2.errors.status[0]: "5x" is not a status (404) or a range of statuses (500-599)`,
				`usher.yaml:16: http.middlewares.rw2.errors.statusRewrites: "500": 1000 is not a status from 100 to 599`,
				`usher.yaml:11: http.middlewares.url.errors.query: "//evil.example/x" must be a path on the error service, not a URL`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := validate(t, tc.text)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}
