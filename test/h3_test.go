package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// h3Config is a TLS entrypoint with http3 where app.test is routed and
// other.test (also in the certificate) is not, beside a TLS entrypoint
// without http3.
const h3Config = `
entrypoints:
  websecure: { address: "127.0.0.1:0", tls: {}, http3: {{h3}}, gracePeriod: 2s }
  plain:     { address: "127.0.0.1:0", tls: {} }
tls:
  certificates: [ { certFile: "{{cert}}", keyFile: "{{key}}" } ]
http:
  routers:
    app: { rule: "Host(` + "`app.test`" + `)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`

// h3Client is quic-go's HTTP/3 client, dialing addr whatever the URL's host.
func h3Client(addr string, roots *x509.CertPool) (*http.Client, *http3.Transport) {
	tr := &http3.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ClientSessionCache: tls.NewLRUClientSessionCache(8)},
		Dial: func(ctx context.Context, _ string, tc *tls.Config, qc *quic.Config) (*quic.Conn, error) {
			return quic.DialAddrEarly(ctx, addr, tc, qc)
		},
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, tr
}

// tcpClient speaks HTTP/2 (h2) or HTTP/1.1 over TLS to addr.
func tcpClient(addr string, roots *x509.CertPool, h2 bool) *http.Client {
	tc := &tls.Config{RootCAs: roots}
	if !h2 {
		tc.NextProtos = []string{"http/1.1"}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   tc,
		ForceAttemptHTTP2: h2,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
}

func startH3(t *testing.T, h3 string, be string) (u *usher, roots *x509.CertPool, dir string) {
	t.Helper()
	dir = t.TempDir()
	cert, key, roots := selfSigned(t, dir, "app.test", "other.test")
	u = startUsher(t, config(h3Config, "h3", h3, "cert", cert, "key", key, "be", be))
	return u, roots, dir
}

// An HTTP/3 client gets answers through usher from an HTTP/1.1 backend:
// GET, POST with a body both ways, and a response streamed as the backend
// writes it.
func TestHTTP3ServesThroughUsher(t *testing.T) {
	release := make(chan struct{})
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			h := sha256.New()
			n, _ := io.Copy(h, r.Body)
			fmt.Fprintf(w, "%s %s %s %d %s", r.Method, r.Header.Get("X-Forwarded-Proto"), r.Header.Get("Early-Data"), n, hex.EncodeToString(h.Sum(nil)))
		case "/stream":
			io.WriteString(w, "first\n")
			w.(http.Flusher).Flush()
			select {
			case <-release: // the client has read the first part
			case <-r.Context().Done():
				return
			}
			io.WriteString(w, "second\n")
		case "/cut": // the backend dies halfway through its response
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, "only ten.\n")
			w.(http.Flusher).Flush()
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
		}
	})
	u, roots, _ := startH3(t, "true", be.URL)
	addr := u.addrs["websecure"]
	client, tr := h3Client(addr, roots)
	defer tr.Close()

	resp, err := client.Get("https://app.test/echo")
	if err != nil {
		t.Fatalf("GET over HTTP/3: %v; log:\n%s", err, u.logText())
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	empty := sha256.Sum256(nil)
	if resp.ProtoMajor != 3 || resp.StatusCode != 200 || string(b) != "GET https  0 "+hex.EncodeToString(empty[:]) {
		t.Errorf("GET: %s %d %q", resp.Proto, resp.StatusCode, b)
	}
	if v := resp.Header.Get("Alt-Svc"); v != "" {
		t.Errorf("an HTTP/3 response announces HTTP/3 again: Alt-Svc %q", v)
	}

	body := make([]byte, 3<<20+17) // several flow-control windows
	rand.Read(body)
	sum := sha256.Sum256(body)
	resp, err = client.Post("https://app.test/echo", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST over HTTP/3: %v", err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("POST https  %d %s", len(body), hex.EncodeToString(sum[:])); string(b) != want {
		t.Errorf("POST: got %q, want %q", b, want)
	}

	resp, err = client.Get("https://app.test/stream")
	if err != nil {
		t.Fatalf("streaming GET: %v", err)
	}
	defer resp.Body.Close()
	first := make([]byte, len("first\n"))
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first\n" {
		t.Fatalf("first part of the stream: %q, %v", first, err)
	}
	close(release) // the second part exists only now: the first was not held back
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "second\n" {
		t.Errorf("rest of the stream: %q, %v", rest, err)
	}

	// quic-go raises the socket buffers (as root it may pass the kernel's
	// limits) before usher checks them: no false alarm.
	if os.Geteuid() == 0 && strings.Contains(u.logText(), "UDP socket buffers") {
		t.Errorf("UDP buffer warning as root:\n%s", u.logText())
	}

	// A response cut short upstream is cut short for the client too (the
	// stream is reset), never passed off as whole.
	// (Whether the headers got out first is a matter of buffering.)
	if resp, err = client.Get("https://app.test/cut"); err == nil {
		if b, err := io.ReadAll(resp.Body); err == nil {
			t.Errorf("a cut response read as whole: %q", b)
		}
		resp.Body.Close()
	}

	// A host without a route on the entrypoint gets the same 404 as on TCP.
	resp, err = client.Get("https://other.test/echo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unrouted host over HTTP/3: %d, want 404", resp.StatusCode)
	}
}

// HTTP/1.1 and HTTP/2 responses of a routed host on an http3 entrypoint
// announce HTTP/3 on the entrypoint's port; a host without a route there,
// and an entrypoint without http3, do not.
func TestHTTP3AltSvc(t *testing.T) {
	be := backend(t, "app")
	u, roots, _ := startH3(t, "true", be.URL)
	_, port, _ := net.SplitHostPort(u.addrs["websecure"])
	want := `h3=":` + port + `"; ma=86400`
	for _, c := range []struct {
		name, ep, url string
		h2            bool
		want          string
	}{
		{"HTTP/2", "websecure", "https://app.test/", true, want},
		{"HTTP/1.1", "websecure", "https://app.test/", false, want},
		{"HTTP/2, unrouted host", "websecure", "https://other.test/", true, ""},
		{"HTTP/1.1, unrouted host", "websecure", "https://other.test/", false, ""},
		{"entrypoint without http3", "plain", "https://app.test/", true, ""},
	} {
		resp, err := tcpClient(u.addrs[c.ep], roots, c.h2).Get(c.url)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		resp.Body.Close()
		if wantMajor := map[bool]int{true: 2, false: 1}[c.h2]; resp.ProtoMajor != wantMajor {
			t.Errorf("%s: client spoke %s", c.name, resp.Proto)
		}
		if got := strings.Join(resp.Header.Values("Alt-Svc"), ", "); got != c.want {
			t.Errorf("%s: Alt-Svc %q, want %q", c.name, got, c.want)
		}
	}
	// What Alt-Svc announces is what answers: an HTTP/3 client on that port.
	client, tr := h3Client("127.0.0.1:"+port, roots)
	defer tr.Close()
	resp, err := client.Get("https://app.test/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "app" || resp.ProtoMajor != 3 {
		t.Errorf("over HTTP/3 on the announced port: %s %q", resp.Proto, b)
	}
}

// advertisedPort changes the port Alt-Svc announces, not the one usher
// listens on.
func TestHTTP3AdvertisedPort(t *testing.T) {
	be := backend(t, "app")
	u, roots, _ := startH3(t, "{ advertisedPort: 443 }", be.URL)
	resp, err := tcpClient(u.addrs["websecure"], roots, true).Get("https://app.test/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Alt-Svc"); got != `h3=":443"; ma=86400` {
		t.Errorf("Alt-Svc %q", got)
	}
}

// A UDP port already taken is an error at start that names it, though the
// TCP port is free.
func TestHTTP3BusyUDPPortFailsAtStart(t *testing.T) {
	var udp net.PacketConn
	var port string
	for range 20 { // a UDP port whose TCP twin is free
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ = net.SplitHostPort(pc.LocalAddr().String())
		if ln, err := net.Listen("tcp", "127.0.0.1:"+port); err == nil {
			ln.Close()
			udp = pc
			break
		}
		pc.Close()
	}
	if udp == nil {
		t.Skip("no UDP port with a free TCP twin")
	}
	defer udp.Close()
	dir := t.TempDir()
	cert, key, _ := selfSigned(t, dir, "app.test")
	cfg := strings.Replace(config(h3Config, "h3", "true", "cert", cert, "key", key, "be", "http://127.0.0.1:1"),
		`websecure: { address: "127.0.0.1:0"`, `websecure: { address: "127.0.0.1:`+port+`"`, 1)
	path := filepath.Join(dir, "usher.yaml")
	os.WriteFile(path, []byte(cfg), 0o644)
	cmd := exec.Command(usherBin, "run", "-c", path)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("usher kept running with its UDP port taken; output:\n%s", out)
	}
	if err == nil {
		t.Fatalf("usher exited 0 with its UDP port taken; output:\n%s", out)
	}
	for _, want := range []string{"websecure", "http3", "127.0.0.1:" + port, "address already in use"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the start error does not say %q:\n%s", want, out)
		}
	}
}

// A reload changes the service and the certificate under HTTP/3: the
// connection open before it goes on, answered by the new service, and a
// new connection gets the new certificate.
func TestHTTP3KeepsServingAcrossReload(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	u, roots, dir := startH3(t, "true", a.URL)
	addr := u.addrs["websecure"]
	client, tr := h3Client(addr, roots)
	defer tr.Close()
	h3get := func(c *http.Client) (string, error) {
		resp, err := c.Get("https://app.test/")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		bb, err := io.ReadAll(resp.Body)
		return string(bb), err
	}
	if got, err := h3get(client); err != nil || got != "a" {
		t.Fatalf("before the reload: %q, %v", got, err)
	}

	dir2 := filepath.Join(dir, "new")
	os.Mkdir(dir2, 0o755)
	cert2, key2, roots2 := selfSigned(t, dir2, "app.test")
	cfg := config(h3Config, "h3", "true", "cert", cert2, "key", key2, "be", b.URL)
	cfg = strings.Replace(cfg, `websecure: { address: "127.0.0.1:0"`, `websecure: { address: "`+addr+`"`, 1)
	cfg = strings.Replace(cfg, `plain:     { address: "127.0.0.1:0"`, `plain:     { address: "`+u.addrs["plain"]+`"`, 1)
	if l := u.rewrite(cfg); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	if got, err := h3get(client); err != nil || got != "b" {
		t.Errorf("on the connection opened before the reload: %q, %v", got, err)
	}
	fresh, tr2 := h3Client(addr, roots2)
	defer tr2.Close()
	if got, err := h3get(fresh); err != nil || got != "b" {
		t.Errorf("a new connection trusting only the new certificate: %q, %v", got, err)
	}
}

// On SIGTERM a request in flight over HTTP/3 finishes within the grace
// period; one that would outlast it is cut when it ends, and usher exits.
func TestHTTP3GracefulShutdown(t *testing.T) {
	started := make(chan string, 2)
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "begun ")
		w.(http.Flusher).Flush()
		started <- r.URL.Path
		if r.URL.Path == "/hang" {
			<-r.Context().Done() // until usher gives up on it
			return
		}
		time.Sleep(300 * time.Millisecond) // the request's own length, not a synchronisation
		io.WriteString(w, "and done")
	})
	u, roots, _ := startH3(t, "true", be.URL)
	client, tr := h3Client(u.addrs["websecure"], roots)
	defer tr.Close()
	type result struct {
		body string
		err  error
		at   time.Time
	}
	fetch := func(path string, res chan<- result) {
		resp, err := client.Get("https://app.test" + path)
		if err != nil {
			res <- result{err: err, at: time.Now()}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{string(b), err, time.Now()}
	}
	short, hang := make(chan result, 1), make(chan result, 1)
	go fetch("/short", short)
	go fetch("/hang", hang)
	<-started
	<-started
	sig := time.Now()
	u.cmd.Process.Signal(syscall.SIGTERM)
	if r := <-short; r.err != nil || r.body != "begun and done" {
		t.Errorf("request in flight at SIGTERM: %q, %v", r.body, r.err)
	}
	const grace = 2 * time.Second // h3Config's gracePeriod
	r := <-hang
	if r.err == nil {
		t.Errorf("the request that outlasts the grace period ended as whole: %q", r.body)
	}
	if d := r.at.Sub(sig); d < grace-300*time.Millisecond || d > grace+time.Second {
		t.Errorf("the hanging request was cut %v after the signal, want about %v", d, grace)
	}
	select {
	case <-u.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("usher did not exit; log:\n%s", u.logText())
	}
	// A race build sleeps 1s at exit.
	if took := time.Since(sig); took > grace+1500*time.Millisecond {
		t.Errorf("usher took %v to exit after the signal, grace %v", took, grace)
	}
}

// 0-RTT is refused unless zeroRTT is on; then a request sent in early data
// reaches the backend marked Early-Data: 1.
func TestHTTP3ZeroRTT(t *testing.T) {
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "early="+r.Header.Get("Early-Data"))
	})
	for _, c := range []struct {
		h3        string
		used0RTT  bool
		wantEarly string
	}{
		{"true", false, "early="},
		{"{ zeroRTT: true }", true, "early=1"},
	} {
		t.Run(c.h3, func(t *testing.T) {
			u, roots, _ := startH3(t, c.h3, be.URL)
			addr := u.addrs["websecure"]
			cache := tls.NewLRUClientSessionCache(8)
			used := make(chan bool, 2)
			dial := func() (*http.Client, *http3.Transport) {
				tr := &http3.Transport{
					TLSClientConfig: &tls.Config{RootCAs: roots, ClientSessionCache: cache},
					Dial: func(ctx context.Context, _ string, tc *tls.Config, qc *quic.Config) (*quic.Conn, error) {
						conn, err := quic.DialAddrEarly(ctx, addr, tc, qc)
						if err == nil {
							go func() {
								<-conn.HandshakeComplete()
								used <- conn.ConnectionState().Used0RTT
							}()
						}
						return conn, err
					},
				}
				return &http.Client{Transport: tr, Timeout: 10 * time.Second}, tr
			}
			// The first connection gets a session ticket; the second resumes
			// with it and sends its GET in early data.
			c1, tr1 := dial()
			resp, err := c1.Get("https://app.test/")
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
			tr1.Close()
			c2, tr2 := dial()
			defer tr2.Close()
			req, _ := http.NewRequest(http3.MethodGet0RTT, "https://app.test/", nil)
			resp, err = c2.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != c.wantEarly {
				t.Errorf("backend saw %q, want %q", b, c.wantEarly)
			}
			<-used // the first connection's
			if u0 := <-used; u0 != c.used0RTT {
				t.Errorf("0-RTT used on the second connection: %v, want %v", u0, c.used0RTT)
			}
		})
	}
}

// QUIC connections count in the entrypoint's connection metrics, from the
// handshake to the close.
func TestHTTP3ConnectionsCounted(t *testing.T) {
	be := backend(t, "app")
	dir := t.TempDir()
	cert, key, roots := selfSigned(t, dir, "app.test")
	u := startUsher(t, "admin: { address: \"127.0.0.1:0\" }\n"+config(h3Config, "h3", "true", "cert", cert, "key", key, "be", be.URL))
	metric := func(line string) bool {
		_, m := get(t, "http://"+u.addrs["admin"]+"/metrics")
		return strings.Contains(m, line+"\n")
	}
	client, tr := h3Client(u.addrs["websecure"], roots)
	resp, err := client.Get("https://app.test/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, want := range []string{`usher_connections_total{entrypoint="websecure"} 1`, `usher_open_connections{entrypoint="websecure"} 1`} {
		if !metric(want) {
			t.Errorf("no %s", want)
		}
	}
	tr.Close() // sends CONNECTION_CLOSE; usher counts it when it arrives
	deadline := time.Now().Add(5 * time.Second)
	for !metric(`usher_open_connections{entrypoint="websecure"} 0`) {
		if time.Now().After(deadline) {
			t.Fatal("the closed QUIC connection is still counted open")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
