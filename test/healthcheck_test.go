package test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// freeAddr is a port of 127.0.0.1 that was free a moment ago: usher
// healthcheck reads a fixed port from the config, so the config gets one.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// healthcheck runs `usher healthcheck` with args: its exit code and output.
func healthcheck(t *testing.T, args ...string) (int, string) {
	t.Helper()
	out, err := exec.Command(usherBin, append([]string{"healthcheck"}, args...)...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// usher healthcheck exits 0 when the usher it is pointed at serves (the
// admin's /ping, even with a token it does not have; the entrypoints when
// there is no admin), and 1 with a one-line reason when not.
func TestHealthcheck(t *testing.T) {
	be := backend(t, "a")
	adminAddr := freeAddr(t)
	cfg := fmt.Sprintf(`
entrypoints:
  web: { address: "127.0.0.1:0" }
admin: { address: %q, token: s3cret }
http:
  routers: { r: { rule: "PathPrefix(`+"`/`"+`)", service: s } }
  services: { s: { loadBalancer: { servers: [ { url: %q } ] } } }
`, adminAddr, be.URL)
	u := startUsher(t, cfg)

	if code, out := healthcheck(t, "-c", u.path); code != 0 {
		t.Fatalf("healthcheck -c of a serving usher: exit %d: %s", code, out)
	}
	if code, out := healthcheck(t, "--address", adminAddr, "--timeout", "2s"); code != 0 || out != "" {
		t.Fatalf("healthcheck --address: exit %d: %q", code, out)
	}
	// Run where the config is, with no flag at all, as the image's
	// HEALTHCHECK does (its working directory holds usher.yaml).
	cmd := exec.Command(usherBin, "healthcheck")
	cmd.Dir = filepath.Dir(u.path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("healthcheck with the defaults: %v: %s", err, out)
	}

	dead := freeAddr(t)
	code, out := healthcheck(t, "--address", dead, "--timeout", "1s")
	if code != 1 || !strings.HasPrefix(out, "unhealthy: admin at "+dead+" does not answer") || strings.Count(out, "\n") != 1 {
		t.Fatalf("healthcheck of nothing: exit %d: %q", code, out)
	}
	if code, out := healthcheck(t, "--address", "127.0.0.1:0"); code != 1 || !strings.Contains(out, "no fixed port") {
		t.Fatalf("healthcheck of port 0: exit %d: %q", code, out)
	}
	if code, _ := healthcheck(t, "--bogus"); code != 2 {
		t.Fatalf("an unknown flag: exit %d, want 2", code)
	}

	// No admin section: the entrypoints are what can be checked.
	webAddr := freeAddr(t)
	noAdmin := fmt.Sprintf(`
entrypoints:
  web: { address: %q }
http:
  routers: { r: { rule: "PathPrefix(`+"`/`"+`)", service: s } }
  services: { s: { loadBalancer: { servers: [ { url: %q } ] } } }
`, webAddr, be.URL)
	u2 := startUsher(t, noAdmin)
	if code, out := healthcheck(t, "-c", u2.path); code != 0 {
		t.Fatalf("healthcheck of an usher without admin: exit %d: %s", code, out)
	}
	u2.stop()
	code, out = healthcheck(t, "-c", u2.path, "--timeout", "1s")
	if code != 1 || !strings.Contains(out, "entrypoint web does not accept connections") {
		t.Fatalf("healthcheck of a stopped usher without admin: exit %d: %q", code, out)
	}
	if err := os.WriteFile(u2.path, []byte("entrypoints: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out = healthcheck(t, "-c", u2.path, "--timeout", "1s")
	if code == 0 {
		return // an usher of someone else answers on the default address
	}
	if code != 1 || !strings.Contains(out, "could not be read") {
		t.Fatalf("healthcheck with a broken config and nothing on the default address: exit %d: %q", code, out)
	}
}
