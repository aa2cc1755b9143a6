package test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
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

// Requests a front end and a back end could read differently (request
// smuggling) are refused by usher and never reach a server.
func TestAmbiguousRequestsAreRefused(t *testing.T) {
	var reached atomic.Int32
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	})
	u := startUsher(t, config(lbTpl, "addr", "127.0.0.1:0", "extra", "", "servers", serverList(be.URL)))
	tests := []struct {
		name, raw string
		status    int
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"two lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde", 400},
		{"TE not chunked last", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 501},
		{"space before colon", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 0\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", u.addrs["web"])
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, tc.raw)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("%d refused requests reached the server", n)
	}
	if status, body := get(t, u.url("web")+"/"); status != 200 || body != "ok" {
		t.Fatalf("a sane request after them: %d %q", status, body)
	}
}
