package test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
)

// pathsTpl: a deny rule on /admin (a router to a service that answers 403) in
// front of an app that records what it gets, on entrypoints with each of the
// path settings, and one without the deny rule.
const pathsTpl = `
entrypoints:
  web:   { address: "127.0.0.1:0" }
  open:  { address: "127.0.0.1:0" }
  raw:   { address: "127.0.0.1:0", sanitizePath: false }
  slash: { address: "127.0.0.1:0", allowEncodedSlash: true }
  tls:   { address: "127.0.0.1:0", tls: {} }
tls:
  certificates: [ { certFile: "{{cert}}", keyFile: "{{key}}" } ]
http:
  routers:
    deny:     { rule: "PathPrefix(` + "`/admin`" + `)", entrypoints: [web, raw, slash], service: denied }
    all:      { rule: "PathPrefix(` + "`/`" + `)", service: app }
    denyTLS:  { rule: "PathPrefix(` + "`/admin`" + `)", entrypoints: [tls], service: denied, tls: {} }
    allTLS:   { rule: "PathPrefix(` + "`/`" + `)", entrypoints: [tls], service: app, tls: {} }
  services:
    denied: { loadBalancer: { servers: [ { url: "{{denied}}" } ] } }
    app:    { loadBalancer: { servers: [ { url: "{{app}}" } ] } }
`

// A deny rule on /admin cannot be walked past with another spelling of
// /admin, and the server gets the path usher routed.
func TestPathsAreNormalizedBeforeRouting(t *testing.T) {
	app, seen := recordingBackend(t)
	denied := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "denied")
	})
	certFile, keyFile, roots := selfSigned(t, t.TempDir(), "shop.test")
	u := startUsher(t, config(pathsTpl, "app", app, "denied", denied.URL, "cert", certFile, "key", keyFile))
	send := func(ep, target string) int {
		t.Helper()
		return rawRequest(t, u.addrs[ep], "GET "+target+" HTTP/1.1\r\nHost: shop.test\r\n\r\n").StatusCode
	}
	noneSeen := func(what string) {
		t.Helper()
		select {
		case s := <-seen:
			t.Errorf("%s: the app got %q", what, s.target)
		default:
		}
	}
	// Spellings of /admin: the deny rule sees /admin; without it the
	// server gets /admin.
	bypasses := []string{"/admin", "//admin", "///admin", "/./admin", "/public/../admin", "/%2e%2e/admin",
		"/%2E./admin", "/.%2e/admin", "/a/b/../../admin", "/%61dmin", "/public\\..\\admin", "/\\admin",
		"/x/..//admin", "/%2e/admin", "http://shop.test/x/../admin"}
	for _, target := range bypasses {
		if got := send("web", target); got != http.StatusForbidden {
			t.Errorf("web: GET %s: %d, want 403 from the deny rule", target, got)
		}
		noneSeen("web: GET " + target)
		if got := send("open", target); got != http.StatusOK {
			t.Errorf("open: GET %s: %d, want 200", target, got)
			continue
		}
		if s := next(t, seen); s.target != "/admin" {
			t.Errorf("open: GET %s: the server got %q, want /admin", target, s.target)
		}
	}
	// Refused: encoded slash, backslash and NUL, malformed escapes, path
	// parameters hiding a dot segment (Tomcat's /..;/).
	for _, target := range []string{"/%2fadmin", "/%2Fadmin", "/public%2F..%2Fadmin", "/a%5cadmin", "/admin%00", "/a%00", "/..;/admin", "/;x/admin", "/a%zz"} {
		if got := send("web", target); got != http.StatusBadRequest {
			t.Errorf("web: GET %s: %d, want 400", target, got)
		}
		noneSeen("web: GET " + target)
	}
	// Case is kept: /ADMIN is another path.
	if got := send("web", "/ADMIN"); got != http.StatusOK {
		t.Errorf("GET /ADMIN: %d, want 200 from the app", got)
	} else if s := next(t, seen); s.target != "/ADMIN" {
		t.Errorf("GET /ADMIN: the server got %q", s.target)
	}
	// What the server gets is the normal form; the query is left as it came.
	for target, want := range map[string]string{
		"/shop/./cart/../items//42?q=/../x&y=%2e%2e": "/shop/items/42?q=/../x&y=%2e%2e",
		"/caf%c3%a9/%7euser/a%3bb":                   "/caf%C3%A9/~user/a%3Bb",
		"/%252e%252e/admin":                          "/%252e%252e/admin",
		"/a/b/..":                                    "/a/",
		"http://shop.test":                           "/",
	} {
		if got := send("web", target); got != http.StatusOK {
			t.Errorf("GET %s: %d", target, got)
			continue
		}
		if s := next(t, seen); s.target != want {
			t.Errorf("GET %s: the server got %q, want %q", target, s.target, want)
		}
	}
	// allowEncodedSlash: %2F and %5C pass, kept encoded; NUL never does.
	for target, want := range map[string]string{"/files/a%2fb": "/files/a%2Fb", "/files/a%5Cb/./c": "/files/a%5Cb/c"} {
		if got := send("slash", target); got != http.StatusOK {
			t.Errorf("slash: GET %s: %d", target, got)
		} else if s := next(t, seen); s.target != want {
			t.Errorf("slash: GET %s: the server got %q, want %q", target, s.target, want)
		}
	}
	if got := send("slash", "/a%00"); got != http.StatusBadRequest {
		t.Errorf("slash: GET /a%%00: %d, want 400", got)
	}
	// sanitizePath: false passes the path as it came, and the deny rule is
	// walked past: the risk the option documents.
	for _, target := range []string{"//admin", "/%2e%2e/admin", "/%2fadmin"} {
		if got := send("raw", target); got != http.StatusOK {
			t.Errorf("raw: GET %s: %d", target, got)
		} else if s := next(t, seen); s.target != target {
			t.Errorf("raw: GET %s: the server got %q", target, s.target)
		}
	}

	// The same over HTTP/2 on the TLS entrypoint (net/http's server).
	addr := u.addrs["tls"]
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: "shop.test"},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	defer client.CloseIdleConnections()
	h2 := func(rawPath string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "https://shop.test/", nil)
		// The path exactly as written: URL.Path for // (Opaque cannot
		// start with it), URL.Opaque for escapes.
		if p, err := url.PathUnescape(rawPath); err == nil && p == rawPath {
			req.URL.Path = rawPath
		} else {
			req.URL.Opaque = rawPath
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("h2 GET %s: %v", rawPath, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("h2 GET %s: spoke %s", rawPath, resp.Proto)
		}
		return resp.StatusCode
	}
	for _, target := range []string{"//admin", "/./admin", "/public/../admin", "/%2e%2e/admin", "/%2E./admin"} {
		if got := h2(target); got != http.StatusForbidden {
			t.Errorf("h2: GET %s: %d, want 403", target, got)
		}
		noneSeen("h2: GET " + target)
	}
	for _, target := range []string{"/%2fadmin", "/%2Fadmin", "/a%00"} {
		if got := h2(target); got != http.StatusBadRequest {
			t.Errorf("h2: GET %s: %d, want 400", target, got)
		}
	}
	if got := h2("/shop/./a//b/../c"); got != http.StatusOK {
		t.Errorf("h2: GET /shop/./a//b/../c: %d", got)
	} else if s := next(t, seen); s.target != "/shop/a/c" {
		t.Errorf("h2: the server got %q, want /shop/a/c", s.target)
	}
}
