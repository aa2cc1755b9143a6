package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateRedisStores: a config whose limits share Redis validates with
// no Redis running (validate builds every middleware, and never dials), and
// a problem of a middleware that several routers use is said once.
func TestValidateRedisStores(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	body := `
http:
  middlewares:
    per-key: { rateLimit: { average: 5, key: apiKey, store: redis } }
  routers:
    a: { rule: "Host(` + "`a`" + `)", middlewares: [per-key], service: app }
    b: { rule: "Host(` + "`b`" + `)", middlewares: [per-key], service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "http://127.0.0.1:9" } ] } }
`
	good := write("good.yaml", "entrypoints:\n  web: { address: \":8080\" }\nredis: { address: \"127.0.0.1:1\" }\n"+body)
	var out, errb bytes.Buffer
	if code := cmdValidate([]string{"-c", good}, &out, &errb); code != 0 {
		t.Fatalf("with a redis section: exit %d: %s", code, errb.String())
	}
	bad := write("bad.yaml", "entrypoints:\n  web: { address: \":8080\" }\n"+body)
	out.Reset()
	errb.Reset()
	if code := cmdValidate([]string{"-c", bad}, &out, &errb); code != 1 {
		t.Fatalf("without a redis section: exit %d", code)
	}
	if n := strings.Count(errb.String(), "needs the static `redis` section"); n != 1 {
		t.Errorf("the problem is said %d times:\n%s", n, errb.String())
	}
}
