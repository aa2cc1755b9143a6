package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// configured fills the zero fields of o with the values usher's config gives
// them by default (internal/config's ApplyDefaults), as a load balancer's
// transport always has them.
func configured(o Options) Options {
	if o.DialTimeout == 0 {
		o.DialTimeout = 2 * time.Second
	}
	if o.IdleConnTimeout == 0 {
		o.IdleConnTimeout = 90 * time.Second
	}
	if o.MaxIdleConnsPerHost == 0 {
		o.MaxIdleConnsPerHost = 256
	}
	return o
}

// front starts a real HTTP server on loopback that forwards every request to the
// backend through an Upstream, as usher's service handler does.
func front(t testing.TB, backend string, opts Options, ro RequestOptions) (*httptest.Server, *Upstream) {
	t.Helper()
	u, _ := url.Parse(backend)
	up, err := NewUpstream(u, configured(opts))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if out := up.Serve(w, r, ro); out.Abort {
			panic(http.ErrAbortHandler)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, up
}

func TestForwardsRequestAndResponse(t *testing.T) {
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen-Host", r.Host)
		w.Header().Set("X-Seen-Uri", r.RequestURI)
		w.Header().Set("X-Seen-Conn", r.Header.Get("Connection")+"|"+r.Header.Get("X-Hop")+"|"+r.Header.Get("Keep-Alive"))
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.Header().Set("Connection", "X-Internal")
		w.Header().Set("X-Internal", "secret-hop")
		fmt.Fprintf(w, "%s %d %q", r.Method, r.ContentLength, body)
	}))
	defer back.Close()
	tests := []struct {
		name     string
		passHost bool
		method   string
		path     string
		body     io.Reader
		wantBody string
		wantHost string
	}{
		{"get", true, "GET", "/a/b?x=1&y=%20", nil, `GET 0 ""`, "front.test"},
		{"post", true, "POST", "/p", strings.NewReader("hello"), `POST 5 "hello"`, "front.test"},
		{"chunked post", false, "POST", "/p", io.MultiReader(strings.NewReader("hel"), strings.NewReader("lo")), `POST -1 "hello"`, ""},
		{"encoded path", true, "GET", "/a%2Fb/c", nil, `GET 0 ""`, "front.test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := front(t, back.URL, Options{}, RequestOptions{PassHost: tc.passHost})
			req, _ := http.NewRequest(tc.method, f.URL+tc.path, tc.body)
			if _, ok := tc.body.(*strings.Reader); !ok && tc.body != nil {
				req.ContentLength = -1
			}
			req.Host = "front.test"
			req.Header.Set("Connection", "X-Hop")
			req.Header.Set("X-Hop", "must-not-pass")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != tc.wantBody {
				t.Errorf("body = %q, want %q", b, tc.wantBody)
			}
			want := tc.wantHost
			if want == "" {
				want = strings.TrimPrefix(back.URL, "http://")
			}
			if got := resp.Header.Get("X-Seen-Host"); got != want {
				t.Errorf("host seen = %q, want %q", got, want)
			}
			if got := resp.Header.Get("X-Seen-Uri"); got != tc.path {
				t.Errorf("uri seen = %q, want %q", got, tc.path)
			}
			if got := resp.Header.Get("X-Seen-Conn"); got != "||" {
				t.Errorf("hop-by-hop headers reached the server: %q", got)
			}
			if got := resp.Header.Values("Set-Cookie"); len(got) != 2 {
				t.Errorf("Set-Cookie = %q, want two", got)
			}
			if got := resp.Header.Get("X-Internal"); got != "" {
				t.Errorf("response hop header passed: %q", got)
			}
		})
	}
}

func TestReusesConnections(t *testing.T) {
	var conns atomic.Int32
	back := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	back.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	back.Start()
	defer back.Close()
	f, _ := front(t, back.URL, Options{}, RequestOptions{})
	for i := 0; i < 50; i++ {
		resp, err := http.Get(f.URL)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("server saw %d connections for 50 sequential requests, want 1", n)
	}
}

func TestStalePooledConnectionIsRetried(t *testing.T) {
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer back.Close()
	f, up := front(t, back.URL, Options{}, RequestOptions{})
	get := func() string {
		resp, err := http.Get(f.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return fmt.Sprint(resp.StatusCode, string(b))
	}
	if got := get(); got != "200ok" {
		t.Fatalf("first: %s", got)
	}
	back.CloseClientConnections() // the server drops the idle keep-alive connection
	if up.IdleConns() != 1 {
		t.Fatalf("idle = %d", up.IdleConns())
	}
	if got := get(); got != "200ok" {
		t.Fatalf("after server closed idle conn: %s", got)
	}
}

func TestErrors(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := ln.Addr().String()
	ln.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	tests := []struct {
		name    string
		backend string
		opts    Options
		status  int
	}{
		{"refused", "http://" + refused, Options{}, 502},
		{"timeout", slow.URL, Options{ResponseHeaderTimeout: 100 * time.Millisecond}, 504},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := front(t, tc.backend, tc.opts, RequestOptions{})
			resp, err := http.Get(f.URL)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			if want := http.StatusText(tc.status) + "\n"; string(b) != want {
				t.Errorf("body = %q, want %q (nothing internal)", b, want)
			}
		})
	}
}

func TestClientCancelReachesServer(t *testing.T) {
	canceled := make(chan struct{})
	started := make(chan struct{})
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			close(canceled)
		case <-time.After(10 * time.Second):
		}
	}))
	defer back.Close()
	f, _ := front(t, back.URL, Options{}, RequestOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", f.URL, nil)
	go func() { <-started; cancel() }()
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("request should have been canceled")
	}
	select {
	case <-canceled:
	case <-time.After(5 * time.Second):
		t.Fatal("server never saw the cancellation")
	}
}

func TestStreamsEventsOneByOne(t *testing.T) {
	next := make(chan struct{})
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			<-next
		}
	}))
	defer back.Close()
	f, _ := front(t, back.URL, Options{}, RequestOptions{})
	resp, err := http.Get(f.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := 0; i < 3; i++ {
		// The next event is only sent after we read this one: a proxy that
		// buffered would deadlock here.
		line, err := br.ReadString('\n')
		if err != nil || line != fmt.Sprintf("data: %d\n", i) {
			t.Fatalf("event %d: %q %v", i, line, err)
		}
		br.ReadString('\n')
		next <- struct{}{}
	}
}

func TestTrailersAndHead(t *testing.T) {
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "body")
		w.(http.Flusher).Flush()
		w.Header().Set("X-Sum", "42")
	}))
	defer back.Close()
	f, _ := front(t, back.URL, Options{}, RequestOptions{})
	resp, err := http.Get(f.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "body" || resp.Trailer.Get("X-Sum") != "42" {
		t.Errorf("body %q trailer %q", b, resp.Trailer.Get("X-Sum"))
	}
	resp, err = http.Head(f.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("HEAD status %d", resp.StatusCode)
	}
}

func TestUpgradeTunnel(t *testing.T) {
	// A raw echo protocol behind a 101, as a WebSocket server does.
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "no upgrade", 400)
			return
		}
		c, brw, _ := http.NewResponseController(w).Hijack()
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		io.Copy(c, brw)
	}))
	defer back.Close()
	f, _ := front(t, back.URL, Options{}, RequestOptions{})
	c, err := net.Dial("tcp", strings.TrimPrefix(f.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	for _, msg := range []string{"ping\n", "pong\n"} {
		io.WriteString(c, msg)
		got, err := br.ReadString('\n')
		if err != nil || got != msg {
			t.Fatalf("echo %q: %q %v", msg, got, err)
		}
	}
}

func BenchmarkProxyGET(b *testing.B) {
	body := strings.Repeat("x", 100)
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, body)
	}))
	defer back.Close()
	f, _ := front(b, back.URL, Options{}, RequestOptions{PassHost: true})
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(f.URL)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

func TestNoContentTypeIsAdded(t *testing.T) {
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil // send none
		io.WriteString(w, "<html>looks like html</html>")
	}))
	defer back.Close()
	f, _ := front(t, back.URL, Options{}, RequestOptions{})
	resp, err := http.Get(f.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct, ok := resp.Header["Content-Type"]; ok {
		t.Fatalf("usher added Content-Type %q that the server did not send", ct)
	}
}
