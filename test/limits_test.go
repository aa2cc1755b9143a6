package test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawConn is one client connection to usher, spoken to byte by byte.
type rawConn struct {
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string, from net.IP) *rawConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != nil {
		d.LocalAddr = &net.TCPAddr{IP: from}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{c: c, br: bufio.NewReader(c)}
}

// get sends a GET of path on the connection and reads the response whole.
func (rc *rawConn) get(path string) (*http.Response, string, error) {
	rc.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(rc.c, "GET %s HTTP/1.1\r\nHost: limits.test\r\n\r\n", path); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), err
}

// refused asserts that the connection got usher's refusal: a 503 with
// Retry-After, then the connection's end.
func (rc *rawConn) refused(t *testing.T, what string) {
	t.Helper()
	resp, _, err := rc.get("/")
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !resp.Close {
		t.Fatalf("%s: got %d %v, want 503 with Retry-After and Connection: close", what, resp.StatusCode, resp.Header)
	}
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := rc.br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("%s: after the 503 read %d, %v; want the connection closed", what, n, err)
	}
}

func (rc *rawConn) served(t *testing.T, what string) {
	t.Helper()
	resp, body, err := rc.get("/")
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if resp.StatusCode != 200 || body != "app" {
		t.Fatalf("%s: got %d %q, want 200 from the server", what, resp.StatusCode, body)
	}
}

// admittedSoon dials until a connection is served: a connection closed by a
// client frees its place when usher sees it closed, a moment later.
func admittedSoon(t *testing.T, addr, what string) *rawConn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rc := dialRaw(t, addr, nil)
		resp, _, err := rc.get("/")
		if err == nil && resp.StatusCode == 200 {
			return rc
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still refused (%v)", what, err)
		}
		rc.c.Close()
		time.Sleep(10 * time.Millisecond)
	}
}

func metricsOf(t *testing.T, u *usher) string {
	t.Helper()
	_, m := get(t, "http://"+u.addrs["admin"]+"/metrics")
	return m
}

const connLimitsTpl = `
admin: { address: "127.0.0.1:0" }
entrypoints:
  web: { address: "127.0.0.1:0", maxConnections: {{max}}, maxConnectionsPerIP: {{perIP}} }
providers: { file: {} }
http:
  routers:
    all: { rule: "PathPrefix(` + "`/`" + `)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`

// TestMaxConnections: with maxConnections N, N keep-alive connections are
// served; the N+1th gets a 503 with Retry-After and is closed, counted and
// logged; once one closes, a new one gets in.
func TestMaxConnections(t *testing.T) {
	be := backend(t, "app")
	u := startUsher(t, config(connLimitsTpl, "be", be.URL, "max", "3", "perIP", "0"))
	addr := u.addrs["web"]
	var held []*rawConn
	for i := range 3 {
		rc := dialRaw(t, addr, nil)
		rc.served(t, fmt.Sprintf("connection %d", i+1))
		held = append(held, rc)
	}
	dialRaw(t, addr, nil).refused(t, "connection 4")
	firstRefusal := time.Now()
	for i, rc := range held {
		rc.served(t, fmt.Sprintf("connection %d, again", i+1)) // those in keep being served
	}
	held[0].c.Close()
	admittedSoon(t, addr, "a connection after one closed")
	dialRaw(t, addr, nil).refused(t, "connection 4, again")
	m := metricsOf(t, u)
	if !strings.Contains(m, `usher_entrypoint_connections_rejected_total{entrypoint="web",reason="maxConnections"} `) {
		t.Errorf("metrics lack the refusals:\n%s", grepLines(m, "rejected"))
	}
	if !strings.Contains(u.logText(), "connections refused: limit reached") {
		t.Error("the refusal was not logged")
	}
	// Two refusals: one line, unless the 10s of the rate limit passed
	// between them (a slow run).
	if n, most := strings.Count(u.logText(), "connections refused: limit reached"), 1+int(time.Since(firstRefusal)/(10*time.Second)); n < 1 || n > most {
		t.Errorf("refusals logged %d times, want 1 to %d (at most one line per 10s)", n, most)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestMaxConnectionsPerIP: one client address gets its share, another
// address still gets in.
func TestMaxConnectionsPerIP(t *testing.T) {
	be := backend(t, "app")
	u := startUsher(t, config(connLimitsTpl, "be", be.URL, "max", "0", "perIP", "2"))
	addr := u.addrs["web"]
	for i := range 2 {
		dialRaw(t, addr, nil).served(t, fmt.Sprintf("connection %d from 127.0.0.1", i+1))
	}
	dialRaw(t, addr, nil).refused(t, "connection 3 from 127.0.0.1")
	other := dialRaw(t, addr, net.IPv4(127, 0, 0, 2))
	other.served(t, "a connection from 127.0.0.2")
	if m := metricsOf(t, u); !strings.Contains(m, `usher_entrypoint_connections_rejected_total{entrypoint="web",reason="maxConnectionsPerIP"} 1`) {
		t.Errorf("metrics:\n%s", grepLines(m, "rejected"))
	}
}

// TestReloadChangesConnectionLimits: limits apply on reload, without a
// restart; connections open above a lowered limit stay.
func TestReloadChangesConnectionLimits(t *testing.T) {
	be := backend(t, "app")
	u := startUsher(t, config(connLimitsTpl, "be", be.URL, "max", "1", "perIP", "0"))
	addr := u.addrs["web"]
	first := dialRaw(t, addr, nil)
	first.served(t, "connection 1")
	dialRaw(t, addr, nil).refused(t, "connection 2 under maxConnections 1")

	if l := u.rewrite(config(connLimitsTpl, "be", be.URL, "max", "3", "perIP", "0")); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	if strings.Contains(u.logText(), "restart usher to apply it") {
		t.Error("a change of connection limits was said to need a restart")
	}
	second, third := dialRaw(t, addr, nil), dialRaw(t, addr, nil)
	second.served(t, "connection 2 under maxConnections 3")
	third.served(t, "connection 3 under maxConnections 3")
	dialRaw(t, addr, nil).refused(t, "connection 4 under maxConnections 3")

	if l := u.rewrite(config(connLimitsTpl, "be", be.URL, "max", "1", "perIP", "0")); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	for i, rc := range []*rawConn{first, second, third} {
		rc.served(t, fmt.Sprintf("connection %d, open before the limit was lowered", i+1))
	}
	dialRaw(t, addr, nil).refused(t, "a new connection over the lowered limit")
}

const queueTpl = `
admin: { address: "127.0.0.1:0" }
entrypoints:
  web: { address: "127.0.0.1:0" }
providers: { file: {} }
http:
  routers:
    all: { rule: "PathPrefix(` + "`/`" + `)", service: app }
  services:
    app:
      loadBalancer:
        maxConnsPerServer: 1
        queue: { maxSize: {{size}}, timeout: {{timeout}} }
        servers: [ { url: "{{be}}" } ]
`

// gate is a server that answers a request only when told to, and says when
// one arrives: a server at its capacity, on demand.
type gate struct {
	arrived chan string
	release chan struct{}
}

func gateBackend(t *testing.T) (*gate, string) {
	g := &gate{arrived: make(chan string, 100), release: make(chan struct{}, 100)}
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		g.arrived <- r.URL.Path
		select {
		case <-g.release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "app")
	})
	return g, be.URL
}

type answer struct {
	status int
	retry  string
	took   time.Duration
	err    error
}

func getAsync(t *testing.T, addr, path string) chan answer {
	ch := make(chan answer, 1)
	rc := dialRaw(t, addr, nil)
	go func() {
		start := time.Now()
		resp, _, err := rc.get(path)
		a := answer{err: err, took: time.Since(start)}
		if err == nil {
			a.status, a.retry = resp.StatusCode, resp.Header.Get("Retry-After")
		}
		ch <- a
	}()
	return ch
}

// waitQueued waits until usher counts n requests queued for service app.
func waitQueued(t *testing.T, u *usher, n int) {
	t.Helper()
	want := fmt.Sprintf(`usher_service_queued_total{service="app"} %d`+"\n", n)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(metricsOf(t, u), want) {
		if time.Now().After(deadline) {
			t.Fatalf("not %d queued:\n%s", n, grepLines(metricsOf(t, u), "usher_service"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestQueue: a server at its maxConns makes requests wait in the queue, in
// order; one more than the queue holds gets a 503 at once; one that waits
// past the timeout gets a 503 then; both with Retry-After. A reload changes
// the queue's bounds.
func TestQueue(t *testing.T) {
	g, be := gateBackend(t)
	u := startUsher(t, config(queueTpl, "be", be, "size", "1", "timeout", "5s"))
	addr := u.addrs["web"]

	a := getAsync(t, addr, "/a")
	if p := <-g.arrived; p != "/a" {
		t.Fatalf("first: %s", p)
	}
	b := getAsync(t, addr, "/b")
	waitQueued(t, u, 1)
	c := <-getAsync(t, addr, "/c")
	if c.err != nil || c.status != 503 || c.retry == "" || c.took > time.Second {
		t.Fatalf("queue full: %+v, want a 503 with Retry-After at once", c)
	}
	g.release <- struct{}{}
	if p := <-g.arrived; p != "/b" {
		t.Fatalf("after /a, the server got %s, want the queued /b", p)
	}
	g.release <- struct{}{}
	for name, ch := range map[string]chan answer{"/a": a, "/b": b} {
		if r := <-ch; r.err != nil || r.status != 200 {
			t.Errorf("admitted %s: %+v", name, r)
		}
	}

	// A reload: a short timeout, a longer queue.
	if l := u.rewrite(config(queueTpl, "be", be, "size", "5", "timeout", "300ms")); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	a = getAsync(t, addr, "/a2")
	<-g.arrived
	var waiting []chan answer
	for range 3 {
		waiting = append(waiting, getAsync(t, addr, "/waits"))
	}
	for i, ch := range waiting {
		r := <-ch
		if r.err != nil || r.status != 503 || r.retry == "" {
			t.Errorf("waiter %d: %+v, want 503 with Retry-After after the timeout", i, r)
		}
		if r.took < 250*time.Millisecond || r.took > 3*time.Second {
			t.Errorf("waiter %d answered after %v, want about 300ms", i, r.took)
		}
	}
	g.release <- struct{}{}
	if r := <-a; r.status != 200 {
		t.Errorf("/a2: %+v", r)
	}
	m := metricsOf(t, u)
	for _, want := range []string{
		`usher_service_overload_rejected_total{reason="queueFull",service="app"} 1`,
		`usher_service_overload_rejected_total{reason="queueTimeout",service="app"} 3`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "usher_service"))
		}
	}
}

// TestMaxConnectionsTLS: on a TLS entrypoint a connection over the limit
// is closed without a handshake; the one within it is served.
func TestMaxConnectionsTLS(t *testing.T) {
	be := backend(t, "app")
	certFile, keyFile, roots := selfSigned(t, t.TempDir(), "secure.test")
	u := startUsher(t, config(`
entrypoints:
  websecure: { address: "127.0.0.1:0", tls: {}, maxConnections: 1 }
tls:
  certificates: [ { certFile: "{{cert}}", keyFile: "{{key}}" } ]
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "cert", certFile, "key", keyFile, "be", be.URL))
	addr := u.addrs["websecure"]
	cfg := &tls.Config{RootCAs: roots, ServerName: "secure.test", NextProtos: []string{"http/1.1"}}
	first, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	rc := &rawConn{c: first, br: bufio.NewReader(first)}
	rc.served(t, "the first TLS connection")
	raw := dialRaw(t, addr, nil)
	second := tls.Client(raw.c, cfg)
	second.SetDeadline(time.Now().Add(5 * time.Second))
	if err := second.Handshake(); err == nil {
		t.Fatal("the connection over the limit completed a TLS handshake")
	}
	rc.served(t, "the first TLS connection, again")
}
