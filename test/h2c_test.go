package test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const h2cConfig = `
entrypoints:
  web: { address: "127.0.0.1:0", h2c: true, gracePeriod: 5s }
  plain: { address: "127.0.0.1:0" }
http:
  routers:
    all: { rule: "PathPrefix(` + "`/`" + `)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`

// h2cClient speaks HTTP/2 in the clear with prior knowledge, as gRPC
// clients and service meshes do.
func h2cClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p}, Timeout: 10 * time.Second}
}

// TestH2CPriorKnowledge: an h2c entrypoint serves HTTP/2 clients that start
// with the preface, many streams on one connection, and HTTP/1.1 clients on
// the same port; the server behind gets each request as usual.
func TestH2CPriorKnowledge(t *testing.T) {
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %d", r.Method, r.URL.Path, len(b))
	})
	u := startUsher(t, config(h2cConfig, "be", be.URL))
	c := h2cClient()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Post(fmt.Sprintf("%s/s/%d", u.url("web"), i), "text/plain", strings.NewReader(strings.Repeat("x", i*1000)))
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := fmt.Sprintf("POST /s/%d %d", i, i*1000); resp.Proto != "HTTP/2.0" || resp.StatusCode != 200 || string(b) != want {
				errs <- fmt.Errorf("stream %d: %s %d %q, want HTTP/2.0 200 %q", i, resp.Proto, resp.StatusCode, b, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// HTTP/1.1 on the same port.
	resp, err := http.Get(u.url("web") + "/one")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Proto != "HTTP/1.1" || string(b) != "GET /one 0" {
		t.Errorf("HTTP/1.1 on the h2c entrypoint: %s %q", resp.Proto, b)
	}

	// An entrypoint without h2c does not speak HTTP/2: the preface is not a
	// request it serves.
	if resp, err := h2cClient().Get(u.url("plain") + "/"); err == nil {
		resp.Body.Close()
		t.Errorf("the preface on an entrypoint without h2c got %s %d", resp.Proto, resp.StatusCode)
	}
}

// TestH2CUpgrade: curl --http2 on an http:// URL asks for `Upgrade: h2c`;
// usher switches, and answers the request on stream 1 in HTTP/2.
func TestH2CUpgrade(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is not installed (scripts/test.sh installs it)")
	}
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" || r.Header.Get("Http2-Settings") != "" {
			t.Errorf("the server got the client's upgrade fields: %v", r.Header)
		}
		io.WriteString(w, "upgraded "+r.URL.Path)
	})
	u := startUsher(t, config(h2cConfig, "be", be.URL))
	out, err := exec.Command("curl", "-sS", "-v", "--http2", "--max-time", "10", u.url("web")+"/a", u.url("web")+"/b").CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{"< HTTP/1.1 101 Switching Protocols", "< HTTP/2 200", "upgraded /a", "upgraded /b"} {
		if !strings.Contains(s, want) {
			t.Errorf("curl's output lacks %q:\n%s", want, s)
		}
	}
	// Without h2c the upgrade is ignored: HTTP/1.1 all the way.
	out, err = exec.Command("curl", "-sS", "-v", "--http2", "--max-time", "10", u.url("plain")+"/c").CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	if s := string(out); strings.Contains(s, "101") || !strings.Contains(s, "< HTTP/1.1 200") || !strings.Contains(s, "upgraded /c") {
		t.Errorf("an upgrade to an entrypoint without h2c:\n%s", s)
	}
}

// TestH2CGracefulShutdown: a stream in flight on an h2c connection when usher
// is told to stop gets its whole response; a new connection is refused.
func TestH2CGracefulShutdown(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})
	u := startUsher(t, config(h2cConfig, "be", be.URL))
	res := make(chan string, 1)
	go func() {
		resp, err := h2cClient().Get(u.url("web") + "/slow")
		if err != nil {
			res <- err.Error()
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- fmt.Sprintf("%s %s %v", resp.Proto, b, err)
	}()
	<-started
	u.cmd.Process.Signal(syscall.SIGTERM)
	// The listener closes at once: once it refuses, the shutdown is on.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", u.addrs["web"])
		if err != nil {
			break
		}
		c.Close()
		select {
		case <-ctx.Done():
			t.Fatal("the listener still accepts 5s after SIGTERM")
		case <-time.After(10 * time.Millisecond):
		}
	}
	close(release)
	if got := <-res; got != "HTTP/2.0 finished <nil>" {
		t.Fatalf("the stream in flight at shutdown: %s", got)
	}
	select {
	case <-u.done:
	case <-time.After(10 * time.Second):
		t.Fatal("usher did not exit after its h2c stream ended")
	}
}
