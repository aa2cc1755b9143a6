package test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// seenRequest is what a recording backend got: the request target as it came
// on the wire, the fields, and the length of the body it read.
type seenRequest struct {
	target string
	host   string
	h      http.Header
	body   int64
}

// recordingBackend is a raw HTTP/1.1 server on 127.0.0.1 that records each
// request it reads and answers 200 "ok" (101 to an upgrade, then closes).
func recordingBackend(t *testing.T) (url string, seen chan seenRequest) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	seen = make(chan seenRequest, 64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					n, _ := io.Copy(io.Discard, req.Body)
					seen <- seenRequest{target: req.RequestURI, host: req.Host, h: req.Header, body: n}
					if req.Header.Get("Upgrade") != "" {
						io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
						return
					}
					if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String(), seen
}

// rawRequest sends raw on a new connection to addr and reads one response.
func rawRequest(t *testing.T, addr, raw string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no response to %q: %v", raw, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// next returns the request the backend got, or fails when none came.
func next(t *testing.T, seen chan seenRequest) seenRequest {
	t.Helper()
	select {
	case s := <-seen:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("the backend got no request")
		return seenRequest{}
	}
}

// A client that names one of the fields usher sets in Connection (making it
// hop-by-hop) cannot keep it from the server: the client's copy goes, usher's
// stays (the Traefik CVE-2024-45410 class).
func TestConnectionCannotStripUshersFields(t *testing.T) {
	be, seen := recordingBackend(t)
	collector := backend(t, "collector") // takes the spans, so that usher traces
	u := startUsher(t, config(`
tracing: { otlpEndpoint: "{{collector}}" }
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: app, middlewares: [guard] }
  middlewares:
    guard: { headers: { customRequestHeaders: { X-Guard: set-by-usher } } }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "be", be, "collector", collector.URL))
	addr := u.addrs["web"]
	_, port, _ := net.SplitHostPort(addr)
	const clientTrace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for _, name := range []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port", "X-Real-Ip", "X-Request-Id", "Traceparent", "X-Guard"} {
		for _, form := range []string{name, strings.ToLower(name), "keep-alive, " + strings.ToUpper(name) + " ,close"} {
			t.Run(name+"/"+form, func(t *testing.T) {
				value := "from-the-client"
				if name == "Traceparent" {
					value = clientTrace
				}
				resp := rawRequest(t, addr, "GET /x HTTP/1.1\r\nHost: "+addr+"\r\nConnection: "+form+"\r\n"+name+": "+value+"\r\n\r\n")
				if resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				got := next(t, seen)
				want := map[string]string{
					"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Host": addr,
					"X-Forwarded-Port": port, "X-Real-Ip": "127.0.0.1", "X-Guard": "set-by-usher",
					"X-Request-Id": resp.Header.Get("X-Request-Id"),
				}
				for k, v := range want {
					if g := got.h.Values(k); len(g) != 1 || g[0] != v || v == "" {
						t.Errorf("%s at the server: %q, want %q", k, g, v)
					}
				}
				if tp := got.h.Values("Traceparent"); len(tp) != 1 || len(tp[0]) != 55 || tp[0] == clientTrace {
					t.Errorf("Traceparent at the server: %q, want usher's own", tp)
				}
				if c := got.h.Get("Connection"); strings.Contains(strings.ToLower(c), strings.ToLower(name)) {
					t.Errorf("Connection at the server: %q", c)
				}
			})
		}
	}
	// An upgrade keeps its Connection: Upgrade and Upgrade; the other names go.
	resp := rawRequest(t, addr, "GET /ws HTTP/1.1\r\nHost: "+addr+"\r\nConnection: Upgrade, X-Forwarded-For, X-Guard\r\nUpgrade: websocket\r\nX-Guard: client\r\n\r\n")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: status %d", resp.StatusCode)
	}
	got := next(t, seen)
	for k, v := range map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Guard": "set-by-usher", "Upgrade": "websocket", "Connection": "Upgrade"} {
		if g := got.h.Get(k); g != v {
			t.Errorf("upgrade: %s at the server: %q, want %q", k, g, v)
		}
	}
	// A field the client names and usher does not set is gone.
	rawRequest(t, addr, "GET /x HTTP/1.1\r\nHost: "+addr+"\r\nConnection: X-Secret\r\nX-Secret: 1\r\nX-Kept: 2\r\n\r\n")
	got = next(t, seen)
	if got.h.Get("X-Secret") != "" || got.h.Get("X-Kept") != "2" {
		t.Errorf("X-Secret %q (named in Connection), X-Kept %q", got.h.Get("X-Secret"), got.h.Get("X-Kept"))
	}
}

// Fields with an underscore in their names never reach a server (a CGI-style
// server would read X_Forwarded_For as X-Forwarded-For) and change nothing
// usher decides, unless the entrypoint allows them.
func TestUnderscoreFieldsAreDropped(t *testing.T) {
	be, seen := recordingBackend(t)
	logPath := t.TempDir() + "/access.log"
	u := startUsher(t, config(`
accessLog: { path: "{{log}}" }
entrypoints:
  web:     { address: "127.0.0.1:0" }
  trusted: { address: "127.0.0.1:0", trustedProxies: ["127.0.0.0/8"] }
  allow:   { address: "127.0.0.1:0", allowUnderscoresInHeaders: true }
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "be", be, "log", logPath))
	const spoof = "X_Forwarded_For: 1.2.3.4\r\nX_Real_IP: 1.2.3.4\r\nx_custom: 1\r\n"
	for _, ep := range []string{"web", "trusted"} {
		rawRequest(t, u.addrs[ep], "GET /"+ep+" HTTP/1.1\r\nHost: shop.test\r\n"+spoof+"\r\n")
		got := next(t, seen)
		for k := range got.h {
			if strings.Contains(k, "_") {
				t.Errorf("%s: %s reached the server", ep, k)
			}
		}
		if xff, real := got.h.Get("X-Forwarded-For"), got.h.Get("X-Real-Ip"); xff != "127.0.0.1" || real != "127.0.0.1" {
			t.Errorf("%s: X-Forwarded-For %q, X-Real-Ip %q; want 127.0.0.1", ep, xff, real)
		}
	}
	rawRequest(t, u.addrs["allow"], "GET /allow HTTP/1.1\r\nHost: shop.test\r\n"+spoof+"\r\n")
	got := next(t, seen)
	if got.h.Get("X_custom") != "1" || got.h.Get("X_forwarded_for") != "1.2.3.4" {
		t.Errorf("allowUnderscoresInHeaders: the server got %v", got.h)
	}
	// The client IP usher logged is the peer's on every entrypoint.
	var lines []map[string]any
	waitFor(t, 5*time.Second, func() bool { lines = readJSONLines(t, logPath); return len(lines) >= 3 })
	for _, l := range lines {
		if l["clientIp"] != "127.0.0.1" {
			t.Errorf("access log: %s: clientIp %v", l["path"], l["clientIp"])
		}
	}
}

// X-Forwarded-Port is the port the client connected to, whatever its Host
// says; the fields that only a proxy may assert are removed from anyone else
// and kept from a trusted proxy.
func TestProxyAssertedFieldsFromUntrustedPeers(t *testing.T) {
	be, seen := recordingBackend(t)
	u := startUsher(t, config(`
entrypoints:
  web:     { address: "127.0.0.1:0" }
  trusted: { address: "127.0.0.1:0", trustedProxies: ["127.0.0.0/8"] }
http:
  routers:
    all:   { rule: "PathPrefix(`+"`/`"+`)", service: app }
    strip: { rule: "PathPrefix(`+"`/api`"+`)", service: app, middlewares: [strip] }
  middlewares:
    strip: { stripPrefix: { prefixes: ["/api"] } }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "be", be))
	asserted := map[string]string{
		"X-Forwarded-Prefix": "/admin", "True-Client-Ip": "1.2.3.4", "X-Client-Ip": "1.2.3.4",
		"Cf-Connecting-Ip": "1.2.3.4", "X-Original-Url": "/admin", "X-Rewrite-Url": "/admin",
		"X-Original-Uri": "/admin", "Forwarded": "for=1.2.3.4", "X-Forwarded-User": "root",
		"X-Forwarded-Tls-Client-Cert": "MIIB", "Remote-User": "root", "X-Forwarded-Port": "1",
	}
	var raw strings.Builder
	for k, v := range asserted {
		raw.WriteString(k + ": " + v + "\r\n")
	}
	send := func(ep, path string) seenRequest {
		t.Helper()
		rawRequest(t, u.addrs[ep], "GET "+path+" HTTP/1.1\r\nHost: shop.test:9999\r\nX-Custom: kept\r\n"+raw.String()+"\r\n")
		return next(t, seen)
	}
	_, port, _ := net.SplitHostPort(u.addrs["web"])
	got := send("web", "/x")
	for k := range asserted {
		if v := got.h.Values(k); k != "X-Forwarded-Port" && len(v) > 0 {
			t.Errorf("untrusted: %s reached the server: %q", k, v)
		}
	}
	if p := got.h.Values("X-Forwarded-Port"); len(p) != 1 || p[0] != port {
		t.Errorf("untrusted: X-Forwarded-Port %q, want the entrypoint's %s (not the Host's 9999)", p, port)
	}
	if got.h.Get("X-Custom") != "kept" {
		t.Errorf("untrusted: X-Custom %q", got.h.Get("X-Custom"))
	}
	// A middleware sets its own after the removal.
	if got := send("web", "/api/x"); got.h.Get("X-Forwarded-Prefix") != "/api" || got.target != "/x" {
		t.Errorf("stripPrefix: X-Forwarded-Prefix %q, path %q", got.h.Get("X-Forwarded-Prefix"), got.target)
	}
	got = send("trusted", "/x")
	for k, v := range asserted {
		if g := got.h.Values(k); len(g) != 1 || g[0] != v {
			t.Errorf("trusted: %s = %q, want %q", k, g, v)
		}
	}
}

// bytesIn in the access log is the request body bytes usher read and passed
// on, whatever the framing.
func TestAccessLogCountsBytesIn(t *testing.T) {
	be, seen := recordingBackend(t)
	logPath := t.TempDir() + "/access.log"
	u := startUsher(t, config(`
accessLog: { path: "{{log}}" }
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "be", be, "log", logPath))
	addr := u.addrs["web"]
	body := strings.Repeat("x", 1000)
	rawRequest(t, addr, "POST /length HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n"+body)
	rawRequest(t, addr, "POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n")
	rawRequest(t, addr, "GET /none HTTP/1.1\r\nHost: a\r\n\r\n")
	want := map[string]float64{"/length": 1000, "/chunked": 12, "/none": 0}
	for range want {
		s := next(t, seen)
		if s.body != int64(want[s.target]) {
			t.Errorf("%s: the server got %d body bytes, want %v", s.target, s.body, want[s.target])
		}
	}
	var lines []map[string]any
	waitFor(t, 5*time.Second, func() bool { lines = readJSONLines(t, logPath); return len(lines) >= 3 })
	for _, l := range lines {
		if path, _ := l["path"].(string); l["bytesIn"] != want[path] {
			t.Errorf("access log: %s: bytesIn %v, want %v", path, l["bytesIn"], want[path])
		}
	}
}
