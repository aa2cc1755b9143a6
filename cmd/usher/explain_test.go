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
		"  web: { address: \"127.0.0.1:0\" }\n" +
		"http:\n" +
		"  routers:\n" +
		"    api:  { rule: \"Host(`example.com`) && PathPrefix(`/api`)\", middlewares: [strip, sec], service: app }\n" +
		"    team: { rule: \"Header(`X-Team`, `ops`)\", service: app }\n" +
		"  middlewares:\n" +
		"    strip: { stripPrefix: { prefixes: [/api] } }\n" +
		"    hdr:   { headers: { frameDeny: true } }\n" +
		"    sec:   { chain: { middlewares: [hdr] } }\n" +
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
		{[]string{"--url", "https://EXAMPLE.com:8443/api/users"}, 0, []string{
			"GET https://EXAMPLE.com:8443/api/users",
			"  entrypoint   web",
			"  router       api",
			"  rule         Host(`example.com`) && PathPrefix(`/api`)",
			"  middlewares  strip -> hdr",
			"  service      app",
		}},
		{[]string{"--url", "http://x/", "--header", "X-Team: ops", "--method", "delete"}, 0, []string{
			"DELETE http://x/", "  router       team", "  middlewares  (none)",
		}},
		{[]string{"--url", "http://nowhere/"}, 1, []string{"  why          no router of any entrypoint matches: usher answers 404"}},
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
