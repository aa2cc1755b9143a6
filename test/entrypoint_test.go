package test

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEntrypointLimitsAndTimeouts(t *testing.T) {
	be := backend(t, "app")
	u := startUsher(t, config(`
entrypoints:
  web: { address: "127.0.0.1:0", maxHeaderBytes: 4KiB, readHeaderTimeout: 300ms }
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "be", be.URL))
	req, _ := http.NewRequest("GET", u.url("web")+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("16KiB of headers against maxHeaderBytes 4KiB: %d, want 431", resp.StatusCode)
	}
	// Slowloris: headers that never end are cut off after readHeaderTimeout.
	c, err := net.Dial("tcp", u.addrs["web"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.Copy(io.Discard, c) // returns when usher closes the connection
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("a slow header block kept the connection for %v; readHeaderTimeout is 300ms", took)
	}
}

func TestFileWatchReloadsFileAndDirectoryWithoutSignal(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	u := startUsher(t, config(`
providers:
  file: { watch: true, directory: conf.d }
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    a: { rule: "Path(`+"`/a`"+`)", service: a }
  services:
    a: { loadBalancer: { servers: [ { url: "{{a}}" } ] } }
`, "a", a.URL), "conf.d/.keep", "")
	dir := filepath.Join(filepath.Dir(u.path), "conf.d")
	u.drainLog()
	// A new file in the directory adds a router: no SIGHUP, the watch sees it.
	os.WriteFile(filepath.Join(dir, "b.yaml"), []byte(config(`
http:
  routers:
    b: { rule: "Path(`+"`/b`"+`)", service: b }
  services:
    b: { loadBalancer: { servers: [ { url: "{{b}}" } ] } }
`, "b", b.URL)), 0o644)
	waitFor(t, 10*time.Second, func() bool {
		status, body := get(t, u.url("web")+"/b")
		return status == 200 && body == "b"
	})
	if status, body := get(t, u.url("web")+"/a"); status != 200 || body != "a" {
		t.Fatalf("/a after the directory changed: %d %q", status, body)
	}
}

// waitFor polls cond until it holds or the time is up: for changes usher makes
// on its own (a file watch) where the test has no signal to wait on.
func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
