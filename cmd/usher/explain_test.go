package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExplainCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usher.yaml")
	cfg := "entrypoints:\n" +
		"  web: { address: \":8080\", trustedProxies: [10.0.0.0/8] }\n" +
		"  alt: { address: \"127.0.0.1:9000\" }\n" +
		"http:\n" +
		"  routers:\n" +
		"    api:  { rule: \"Host(`example.com`) && PathPrefix(`/api`)\", middlewares: [strip, sec, fwdauth], service: app }\n" +
		"    team: { rule: \"Header(`X-Team`, `ops`)\", service: app }\n" +
		"    fwd:  { rule: \"Header(`X-Forwarded-Proto`, `https`)\", service: app, entrypoints: [web] }\n" +
		"  middlewares:\n" +
		"    strip: { stripPrefix: { prefixes: [/api] } }\n" +
		"    hdr:   { headers: { frameDeny: true } }\n" +
		"    sec:   { chain: { middlewares: [hdr] } }\n" +
		"    fwdauth: { forwardAuth: { address: \"http://127.0.0.1:1/auth\" } }\n" +
		"  services:\n" +
		"    app: { loadBalancer: { servers: [ { url: \"http://127.0.0.1:1\" } ] } }\n"
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		want []string // lines of stdout, or of stderr when code is 2
	}{
		{[]string{"--url", "http://EXAMPLE.com:8080/api/users"}, 0, []string{
			"GET http://EXAMPLE.com:8080/api/users",
			"  entrypoint   web",
			"  client       0.0.0.0",
			"  router       api",
			"  rule         Host(`example.com`) && PathPrefix(`/api`)",
			"  middlewares  strip (stripPrefix) -> hdr (headers) -> fwdauth (forwardAuth)",
			"  guards       fwdauth: the auth server's answer when it is not 2xx; 503 when it fails",
			"  service      app",
			"  server       http://127.0.0.1:1",
		}},
		{[]string{"--url", "http://x:9000/", "--header", "X-Team: ops", "--method", "delete"}, 0, []string{
			"DELETE http://x:9000/", "  entrypoint   alt", "  router       team", "  middlewares  (none)",
		}},
		// The served path: an untrusted client's X-Forwarded-Proto is replaced
		// before the rules see it, a trusted proxy's is kept.
		{[]string{"--url", "http://x:8080/", "--header", "X-Forwarded-Proto: https"}, 1, []string{
			"  why          no router of entrypoint web (it listens on port 8080) matches: usher answers 404",
		}},
		{[]string{"--url", "http://x:8080/", "--header", "X-Forwarded-Proto: https", "--client-ip", "10.1.1.1"}, 0, []string{
			"  client       10.1.1.1", "  router       fwd",
		}},
		{[]string{"--url", "https://example.com/api/users"}, 1, []string{"  why          no entrypoint listens on port 443, the URL's (alt on 9000, web on 8080): name the entrypoint"}},
		{[]string{"--url", "https://example.com/api/users", "--entrypoint", "web"}, 0, []string{"  router       api", "in plain HTTP, as entrypoint web serves it"}},
		{[]string{"--url", "http://nowhere:8080/"}, 1, []string{"  why          no router of entrypoint web (it listens on port 8080) matches: usher answers 404"}},
		{[]string{"--url", "http://x/", "--entrypoint", "nope"}, 2, []string{`no HTTP entrypoint "nope"`}},
		{[]string{}, 2, []string{"url is required"}},
		{[]string{"--url", "http://x/", "extra"}, 2, []string{`unexpected argument "extra"`}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runMain(append([]string{"explain", "-c", path}, tt.args...), &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, &stdout, &stderr)
			}
			out := stdout.String()
			if code == 2 {
				out = stderr.String()
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("missing %q in:\n%s", w, out)
				}
			}
		})
	}
}
