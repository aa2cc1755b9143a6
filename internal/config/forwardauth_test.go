package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidateForwardAuth(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{
			name: "valid",
			text: `http:
  middlewares:
    fwd:
      forwardAuth:
        address: "https://auth.internal:9443/check?group=admins"
        authRequestHeaders: [Authorization, Cookie]
        authResponseHeaders: [X-User, X-Groups]
        authResponseHeadersRegex: "^X-Auth-"
        addAuthCookiesToResponse: [session]
        headerField: X-User
        maxBodySize: 64KiB
        timeout: 2s
        cache: { maxBytes: 1MiB, maxTTL: 30s, vary: [X-Forwarded-Uri] }
`,
		},
		{
			name: "problems",
			text: `http:
  middlewares:
    none: { forwardAuth: {} }
    ftp: { forwardAuth: { address: "ftp://auth/" } }
    user: { forwardAuth: { address: "http://usher:s3cret@auth/" } }
    port: { forwardAuth: { address: "http://auth:99999/" } }
    frag: { forwardAuth: { address: "http://auth/#x" } }
    names:
      forwardAuth:
        address: http://auth/
        authRequestHeaders: ["bad name"]
        authResponseHeaders: [Content-Length, "X:Y"]
        authResponseHeadersRegex: "(["
        addAuthCookiesToResponse: ["a=b"]
        headerField: "x y"
        maxConns: -1
        tls: { cert: /nonexistent/c.pem }
        cache: { vary: ["a b"] }
`,
			want: []string{
				`usher.yaml:7: http.middlewares.frag.forwardAuth.address: "http://auth/#x" cannot have a fragment`,
				`usher.yaml:4: http.middlewares.ftp.forwardAuth.address: "ftp://auth/" must start with http:// or https://`,
				`usher.yaml:11: http.middlewares.names.forwardAuth.authRequestHeaders[0]: "bad name" is not a valid header name`,
				`usher.yaml:12: http.middlewares.names.forwardAuth.authResponseHeaders[1]: "X:Y" is not a valid header name`,
				`usher.yaml:14: http.middlewares.names.forwardAuth.addAuthCookiesToResponse[0]: "a=b" is not a valid cookie name`,
				`usher.yaml:12: http.middlewares.names.forwardAuth.authResponseHeaders[0]: "Content-Length" belongs to one connection and cannot be copied from the auth server's answer`,
				"usher.yaml:13: http.middlewares.names.forwardAuth.authResponseHeadersRegex: bad regexp: error parsing regexp: missing closing ]: `[`",
				`usher.yaml:15: http.middlewares.names.forwardAuth.headerField: "x y" is not a valid header name`,
				`usher.yaml:16: http.middlewares.names.forwardAuth.maxConns: must be 0 or more, got -1`,
				`usher.yaml:17: http.middlewares.names.forwardAuth.tls.cert: cannot read /nonexistent/c.pem: no such file or directory`,
				`usher.yaml:17: http.middlewares.names.forwardAuth.tls: cert and key go together: set both or neither`,
				`usher.yaml:18: http.middlewares.names.forwardAuth.cache.vary[0]: "a b" is not a valid header name`,
				`usher.yaml:3: http.middlewares.none.forwardAuth.address: an address is required, like http://127.0.0.1:9000/auth`,
				`usher.yaml:6: http.middlewares.port.forwardAuth.address: "http://auth:99999/" has port 99999, out of range: a port is a number from 1 to 65535`,
				`usher.yaml:5: http.middlewares.user.forwardAuth.address: "http://********@auth/" has a user:password@, which is not sent; the auth server gets the client's Authorization (use tls.cert and tls.key for usher to prove itself)`,
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

func TestForwardAuthDefaults(t *testing.T) {
	cfg, err := parseWith("usher.yaml", `http:
  middlewares:
    a: { forwardAuth: { address: "http://auth/", cache: {} } }
    b: { forwardAuth: { address: "http://auth/", timeout: 1s, maxConns: 2, cache: { maxBytes: 1KiB, maxTTL: 1s } } }
`, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ApplyDefaults()
	a := cfg.HTTP.Middlewares["a"].Spec.(*ForwardAuth)
	if a.Timeout.D() != 5*time.Second || a.MaxConns != 64 || a.Cache.MaxBytes != 16<<20 || a.Cache.MaxTTL.D() != 5*time.Minute {
		t.Errorf("defaults: %+v %+v", a, a.Cache)
	}
	b := cfg.HTTP.Middlewares["b"].Spec.(*ForwardAuth)
	if b.Timeout.D() != time.Second || b.MaxConns != 2 || b.Cache.MaxBytes != 1024 || b.Cache.MaxTTL.D() != time.Second {
		t.Errorf("values written were changed: %+v %+v", b, b.Cache)
	}
}
