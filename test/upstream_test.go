package test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawBackend is a server on 127.0.0.1 that hands each connection to handle:
// a server that misbehaves byte by byte, as no library server would.
func rawBackend(t *testing.T, handle func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { mu.Lock(); delete(conns, c); mu.Unlock(); c.Close() }()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// answerByPath reads requests one after another and writes, for each, what
// answers gives for its path; an answer ending in "<close>" closes the
// connection there.
func answerByPath(answers map[string]string) func(c net.Conn) {
	return func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			a, ok := answers[req.URL.Path]
			if !ok {
				a = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
			}
			a, closing := strings.CutSuffix(a, "<close>")
			if _, err := io.WriteString(c, a); err != nil || closing {
				return
			}
		}
	}
}

// cutBodies are responses whose body ends before its framing says.
var cutBodies = map[string]string{
	"/short":     "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello<close>",
	"/chunk-cut": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n<close>",
	"/bad-size":  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nhello\r\n0\r\n\r\n",
	"/bad-crlf":  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX3\r\nabc\r\n0\r\n\r\n",
	"/whole":     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
}

// TestServerCuttingItsBodyShortIsNeverPassedOnWhole: over HTTP/1.1 the
// client's connection ends without the response's end, over HTTP/2 the
// stream is reset; the access log says the server cut it, a metric counts it.
func TestServerCuttingItsBodyShortIsNeverPassedOnWhole(t *testing.T) {
	be := rawBackend(t, answerByPath(cutBodies))
	certFile, keyFile, roots := selfSigned(t, t.TempDir(), "cut.test")
	logPath := filepath.Join(t.TempDir(), "access.log")
	u := startUsher(t, config(`
accessLog: { path: "{{log}}", format: json }
admin: { address: "127.0.0.1:0" }
entrypoints:
  web: { address: "127.0.0.1:0" }
  websecure: { address: "127.0.0.1:0", tls: {} }
tls:
  certificates: [ { certFile: "{{cert}}", keyFile: "{{key}}" } ]
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "log", logPath, "cert", certFile, "key", keyFile, "be", be))
	addr := u.addrs["websecure"]
	h2 := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: "cut.test"},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	h1 := &http.Client{Timeout: 5 * time.Second}
	cut := 0
	for path := range cutBodies {
		for _, c := range []struct {
			client *http.Client
			url    string
			proto  int
		}{{h1, u.url("web"), 1}, {h2, "https://cut.test", 2}} {
			resp, err := c.client.Get(c.url + path)
			if err != nil {
				t.Fatalf("HTTP/%d %s: %v", c.proto, path, err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != c.proto {
				t.Fatalf("%s: client spoke %s", path, resp.Proto)
			}
			if path == "/whole" {
				if err != nil || string(b) != "hello" {
					t.Errorf("HTTP/%d %s: %q %v, want the whole body", c.proto, path, b, err)
				}
				continue
			}
			cut++
			if err == nil {
				t.Errorf("HTTP/%d %s: the client read %q as a whole response", c.proto, path, b)
			}
		}
	}
	var lines []map[string]any
	waitFor(t, 5*time.Second, func() bool {
		lines = readJSONLines(t, logPath)
		return len(lines) >= 2*len(cutBodies)
	})
	logged := 0
	for _, l := range lines {
		if l["error"] == "upstream: body cut short" {
			logged++
		} else if l["path"] != "/whole" {
			t.Errorf("a cut body logged without its error: %v", l)
		}
	}
	if logged != cut {
		t.Errorf("%d access log lines say the server cut the body, want %d", logged, cut)
	}
	_, metrics := get(t, "http://"+u.addrs["admin"]+"/metrics")
	if want := `usher_upstream_truncated_total{service="app"} 8` + "\n"; !strings.Contains(metrics, want) {
		t.Errorf("metrics lack %q", want)
	}
}

// TestClientAbandonIs499AndServerFailuresAreExplainedAtDebug: a client that
// goes away before its response is logged and counted as 499; the cause of a
// 502 is logged at debug level with the service and the server, whose URL
// never shows its password.
func TestClientAbandonIs499AndServerFailuresAreExplainedAtDebug(t *testing.T) {
	started := make(chan struct{}, 1)
	slow := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-r.Context().Done()
	})
	logPath := filepath.Join(t.TempDir(), "access.log")
	u := startUsher(t, config(`
log: { level: debug, format: json }
accessLog: { path: "{{log}}", format: json }
admin: { address: "127.0.0.1:0" }
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    slow: { rule: "Path(`+"`/slow`"+`)", service: slow }
    dead: { rule: "Path(`+"`/dead`"+`)", service: dead }
  services:
    slow: { loadBalancer: { servers: [ { url: "{{slow}}" } ] } }
    dead: { loadBalancer: { servers: [ { url: "http://ops:s3cret@127.0.0.1:1" } ] } }
`, "log", logPath, "slow", slow.URL))

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", u.url("web")+"/slow", nil)
	go func() { <-started; cancel() }()
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("the request should have been canceled")
	}
	if status, _ := get(t, u.url("web")+"/dead"); status != 502 {
		t.Fatalf("dead server: %d", status)
	}

	var lines []map[string]any
	waitFor(t, 5*time.Second, func() bool {
		lines = readJSONLines(t, logPath)
		return len(lines) >= 2
	})
	for _, l := range lines {
		switch l["path"] {
		case "/slow":
			if l["status"] != 499.0 || l["error"] != "client: went away" || l["service"] != "slow" {
				t.Errorf("abandoned request logged as %v", l)
			}
		case "/dead":
			if l["status"] != 502.0 || l["error"] != "upstream: no response" {
				t.Errorf("502 logged as %v", l)
			}
		}
	}
	_, metrics := get(t, "http://"+u.addrs["admin"]+"/metrics")
	if want := `usher_requests_total{code="499",entrypoint="web",router="slow",service="slow"} 1` + "\n"; !strings.Contains(metrics, want) {
		t.Errorf("metrics lack %q", want)
	}
	var cause logLine
	waitFor(t, 5*time.Second, func() bool {
		for _, line := range strings.Split(u.logText(), "\n") {
			if strings.Contains(line, `"msg":"upstream: no response"`) {
				cause = nil
				if err := jsonUnmarshal(line, &cause); err == nil {
					return true
				}
			}
		}
		return false
	})
	if cause["level"] != "DEBUG" || cause["service"] != "dead" || cause["server"] != "http://********@127.0.0.1:1" ||
		cause["status"] != 502.0 || !strings.Contains(cause["error"].(string), "connection refused") {
		t.Errorf("the cause of the 502 is logged as %v", cause)
	}
	if strings.Contains(u.logText(), "s3cret") || strings.Contains(u.logText(), "ops:") {
		t.Error("the log holds the server URL's password")
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// TestServersEarlyAnswerReachesTheUploader: a server that refuses an upload
// from its headers (a 413) and closes, or stops reading, is heard by the
// client in the middle of its upload, on both kinds of entrypoint.
func TestServersEarlyAnswerReachesTheUploader(t *testing.T) {
	stop := make(chan struct{})
	be := rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large")
		if req.URL.Path == "/hold" {
			<-stop // reads no more of the upload
		}
	})
	t.Cleanup(func() { close(stop) }) // before rawBackend's own, which waits for this handler
	certFile, keyFile, roots := selfSigned(t, t.TempDir(), "up.test")
	u := startUsher(t, config(`
entrypoints:
  web: { address: "127.0.0.1:0" }
  websecure: { address: "127.0.0.1:0", tls: {} }
tls:
  certificates: [ { certFile: "{{cert}}", keyFile: "{{key}}" } ]
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "cert", certFile, "key", keyFile, "be", be))
	addr := u.addrs["websecure"]
	h2 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: "up.test"},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	upload := strings.Repeat("x", 16<<20)
	for _, path := range []string{"/close", "/hold"} {
		// HTTP/1.1, Go's client, which writes its body while it reads the
		// answer: the answer comes while the upload goes on, every time
		// (the connection is not reset under the client's writes, which it
		// would report instead).
		for i := range 5 {
			h1 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
			resp, err := h1.Post("http://"+u.addrs["web"]+path, "application/octet-stream", strings.NewReader(upload))
			if err != nil {
				t.Fatalf("HTTP/1.1 POST %s (%d): %v, want the server's 413", path, i, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 413 || string(b) != "too large" {
				t.Errorf("HTTP/1.1 POST %s (%d): %d %q, want the server's 413", path, i, resp.StatusCode, b)
			}
		}
		req, _ := http.NewRequest("POST", "https://up.test"+path, strings.NewReader(upload))
		resp, err := h2.Do(req)
		if err != nil {
			t.Fatalf("HTTP/2 POST %s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 413 || string(b) != "too large" {
			t.Errorf("HTTP/2 POST %s: %d %q, want the server's 413", path, resp.StatusCode, b)
		}
	}
}

// TestEarlyHintsReachTheClient: a server's 103 is passed on by usher's
// HTTP/1.1 entrypoint before the final response; its 100 is not.
func TestEarlyHintsReachTheClient(t *testing.T) {
	be := rawBackend(t, answerByPath(map[string]string{
		"/": "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </app.js>; rel=preload\r\n\r\n" +
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	}))
	u := startUsher(t, config(lbTpl, "addr", "127.0.0.1:0", "extra", "", "servers", serverList(be)))
	c, err := net.Dial("tcp", u.addrs["web"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	var statuses []string
	for len(statuses) < 4 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", statuses, err)
		}
		if strings.HasPrefix(line, "HTTP/1.1 ") {
			statuses = append(statuses, line[9:12])
			if line[9:12] == "200" {
				break
			}
		}
		if strings.HasPrefix(line, "Link: ") && !strings.Contains(line, "app.js") {
			t.Errorf("Link %q", line)
		}
	}
	if strings.Join(statuses, " ") != "103 200" {
		t.Fatalf("the client got %v, want 103 then 200", statuses)
	}
}

// TestPostsToAServerThatClosesIdleConnections: like Node, uvicorn or
// gunicorn, the server closes a keep-alive connection idle for a moment; the
// POSTs that come after get their answer, each seen once by the server.
func TestPostsToAServerThatClosesIdleConnections(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	idleClosed := make(chan struct{}, 16)
	be := rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			c.SetReadDeadline(time.Now().Add(30 * time.Millisecond)) // its keep-alive timeout
			req, err := http.ReadRequest(br)
			if err != nil {
				idleClosed <- struct{}{}
				return
			}
			c.SetReadDeadline(time.Time{})
			b, _ := io.ReadAll(req.Body)
			mu.Lock()
			seen = append(seen, string(b))
			mu.Unlock()
			io.WriteString(c, "HTTP/1.1 201 Created\r\nContent-Length: "+strconv.Itoa(len(b))+"\r\n\r\n"+string(b))
		}
	})
	for _, extra := range []string{"", "retry: { attempts: 0 }"} {
		u := startUsher(t, config(lbTpl, "addr", "127.0.0.1:0", "extra", extra, "servers", serverList(be)))
		mu.Lock()
		seen = nil
		mu.Unlock()
		for i := range 3 {
			body := "order=" + strconv.Itoa(i)
			resp, err := http.Post(u.url("web")+"/orders", "application/x-www-form-urlencoded", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 201 || string(b) != body {
				t.Fatalf("%q: POST %d after the server closed its idle connection: %d %q", extra, i, resp.StatusCode, b)
			}
			<-idleClosed
		}
		mu.Lock()
		if len(seen) != 3 {
			t.Errorf("%q: the server saw %v, want each POST once", extra, seen)
		}
		mu.Unlock()
		u.stop()
	}
}

// TestClientsBadBodiesBlameNoServer: a client whose request body is
// malformed, cut or too slow gets a 400 (408) and its connection closed;
// no server is blamed: 16 such requests over 4 servers with passive health
// checks eject none of them (they used to eject 2), and the access log says
// it was the client.
func TestClientsBadBodiesBlameNoServer(t *testing.T) {
	var servers []string
	var hits [4]atomic.Int32
	for i := range 4 {
		servers = append(servers, backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, "ok")
		}).URL)
	}
	logPath := filepath.Join(t.TempDir(), "access.log")
	u := startUsher(t, config(`
accessLog: { path: "{{log}}", format: json }
admin: { address: "127.0.0.1:0" }
entrypoints:
  web: { address: "127.0.0.1:0", readTimeout: 1s }
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: app }
  services:
    app:
      loadBalancer:
        passiveHealthCheck: { maxFailures: 3, window: 1m, ejectFor: 1m }
        servers: [ {{servers}} ]
`, "log", logPath, "servers", serverList(servers...)))
	bad := []struct {
		name, head, body, status string
		stall                    bool
	}{
		{"bad chunk size", "Transfer-Encoding: chunked", "5\r\nhello\r\nzz\r\n", "400", false},
		{"chunk cut", "Transfer-Encoding: chunked", "5\r\nhel", "400", false},
		{"bad chunk end", "Transfer-Encoding: chunked", "5\r\nhelloXX0\r\n\r\n", "400", false},
		{"short body", "Content-Length: 100", "only ten b", "400", false},
		{"body too slow", "Content-Length: 100", "ten bytes.", "408", true},
	}
	for i := range 16 {
		b := bad[i%len(bad)]
		if b.stall && i >= len(bad) {
			b = bad[0] // one slow body is enough: each costs the read timeout
		}
		c, err := net.Dial("tcp", u.addrs["web"])
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "PUT /items/1 HTTP/1.1\r\nHost: shop.test\r\n"+b.head+"\r\n\r\n"+b.body)
		if !b.stall {
			c.(*net.TCPConn).CloseWrite() // the client has sent all it will
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: no answer: %v", b.name, err)
		}
		io.ReadAll(resp.Body)
		if got := strconv.Itoa(resp.StatusCode); got != b.status || !resp.Close {
			t.Errorf("%s: %s, Connection: %q; want %s and the connection closed", b.name, resp.Status, resp.Header.Get("Connection"), b.status)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("%s: the connection stays open after the answer (%v)", b.name, err)
		}
		c.Close()
	}
	_, metrics := get(t, "http://"+u.addrs["admin"]+"/metrics")
	ejected := 0
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "usher_server_ejected{") {
			ejected++
			if !strings.HasSuffix(line, " 0") {
				t.Errorf("a client's bad body ejected a server: %s", line)
			}
		}
	}
	if ejected != 4 {
		t.Errorf("%d servers in usher_server_ejected, want 4", ejected)
	}
	for i := range hits {
		hits[i].Store(0)
	}
	for range 8 {
		if status, _ := get(t, u.url("web")+"/"); status != 200 {
			t.Fatalf("GET after the bad bodies: %d", status)
		}
	}
	for i := range hits {
		if hits[i].Load() == 0 {
			t.Errorf("server %d takes no traffic any more", i)
		}
	}
	var lines []map[string]any
	waitFor(t, 5*time.Second, func() bool {
		lines = readJSONLines(t, logPath)
		return len(lines) >= 16
	})
	for _, l := range lines[:16] {
		if e := l["error"]; e != "client: bad request body" && e != "client: request body timeout" {
			t.Errorf("a bad body logged as %v", l)
		}
	}
}
