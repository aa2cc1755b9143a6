package admin

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// doHost sends a request to the admin with the given Host header.
func (f *fixture) doHost(method, path, host string, hdr ...string) (int, string) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.admin.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Without a token the admin answers only requests for a loopback name: a
// page whose name was rebound to 127.0.0.1 sends its own name as Host, and
// is refused with a 421 that says why; it cannot drain a server.
func TestWithoutTokenOnlyLoopbackHosts(t *testing.T) {
	f := newFixture(t, fixtureOpts{dashboard: true})
	port := f.admin.URL[strings.LastIndexByte(f.admin.URL, ':'):]
	for _, tt := range []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1" + port, true},
		{"127.0.0.1", true},
		{"127.1.2.3" + port, true},
		{"localhost" + port, true},
		{"LocalHost", true},
		{"localhost.", true},
		{"dashboard.localhost" + port, true},
		{"a.b.localhost", true},
		{"[::1]" + port, true},
		{"[::1]", true},
		{"[::ffff:127.0.0.1]" + port, true},
		{"evil.example" + port, false},
		{"evil.example", false},
		{"localhost.evil.example", false},
		{"evillocalhost", false},
		{"127.0.0.1.nip.io" + port, false},
		{"x_y.localhost", false},
		{".localhost", false},
		{"10.0.0.1" + port, false},
		{"0.0.0.0" + port, false},
		{"[::]" + port, false},
		{"[fe80::1%25lo]" + port, false},
	} {
		for _, path := range []string{"/api/overview", "/metrics", "/dashboard/", "/api/events?x"} {
			if path == "/api/events?x" && tt.ok {
				continue // a stream does not end
			}
			code, body := f.doHost(http.MethodGet, path, tt.host)
			switch {
			case tt.ok && code != http.StatusOK:
				t.Errorf("Host %q %s: %d, want 200: %s", tt.host, path, code, body)
			case !tt.ok && code != http.StatusMisdirectedRequest:
				t.Errorf("Host %q %s: %d, want 421: %s", tt.host, path, code, body)
			case !tt.ok:
				var e errorBody
				if json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error, "only requests for localhost") || !strings.Contains(e.Error, "admin.token") {
					t.Errorf("Host %q: the 421 does not say why: %s", tt.host, body)
				}
			}
		}
	}

	// HTTP/1.0 may leave the Host out: that names no loopback either.
	c, err := net.Dial("tcp", strings.TrimPrefix(f.admin.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /api/overview HTTP/1.0\r\n\r\n")
	if b, _ := io.ReadAll(c); !strings.HasPrefix(string(b), "HTTP/1.0 421 ") {
		t.Errorf("no Host: %q", b)
	}

	// A rebinding page drains nothing, even looking same-origin.
	srv, _ := f.state.Servers.Lookup("app|" + f.serverURL(0))
	code, _ := f.doHost(http.MethodPost, drainPath("app", f.serverURL(0), "drain"), "evil.example"+port,
		"Origin", "http://evil.example"+port, "Sec-Fetch-Site", "same-origin")
	if code != http.StatusMisdirectedRequest || srv.Draining() {
		t.Fatalf("drain from a rebound name: %d, draining %v", code, srv.Draining())
	}
	// A page of another origin cannot drain through a loopback name either.
	code, body := f.doHost(http.MethodPost, drainPath("app", f.serverURL(0), "drain"), "127.0.0.1"+port, "Origin", "http://evil.example")
	if code != http.StatusForbidden || srv.Draining() || !strings.Contains(body, "cross-origin request refused") {
		t.Fatalf("cross-origin drain: %d %s", code, body)
	}
	code, _ = f.doHost(http.MethodPost, drainPath("app", f.serverURL(0), "drain"), "localhost"+port, "Origin", "http://localhost"+port)
	if code != http.StatusOK || !srv.Draining() {
		t.Fatalf("same-origin drain on localhost: %d", code)
	}
}

// With a token, the token is the guard: any Host is answered.
func TestWithTokenAnyHost(t *testing.T) {
	f := newFixture(t, fixtureOpts{token: adminToken})
	for _, host := range []string{"usher.internal:9090", "10.0.0.5", "127.0.0.1"} {
		if code, body := f.doHost(http.MethodGet, "/api/overview", host, "Authorization", "Bearer "+adminToken); code != http.StatusOK {
			t.Errorf("Host %q with the token: %d %s", host, code, body)
		}
		if code, _ := f.doHost(http.MethodGet, "/api/overview", host); code != http.StatusUnauthorized {
			t.Errorf("Host %q without the token: %d, want 401", host, code)
		}
	}
}
