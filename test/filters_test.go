package test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// countingBackend answers 200 "ok" from the path it is asked, with CORS
// headers of its own that let every origin in (a server that knows CORS
// badly), and counts what reaches it by path.
type countingBackend struct {
	url  string
	mu   sync.Mutex
	hits map[string]int
}

func startCountingBackend(t *testing.T) *countingBackend {
	t.Helper()
	b := &countingBackend{hits: map[string]int{}}
	s := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.hits[r.Method+" "+r.URL.Path]++
		b.mu.Unlock()
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Vary", "Accept-Encoding")
		w.Write([]byte("ok"))
	})
	b.url = s.URL
	return b
}

func (b *countingBackend) count(key string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hits[key]
}

func (b *countingBackend) total() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, c := range b.hits {
		n += c
	}
	return n
}

const ipFiltersTpl = `
admin: { address: "127.0.0.1:0" }
entrypoints:
  web:     { address: "127.0.0.1:0" }
  proxied: { address: "127.0.0.1:0", trustedProxies: ["127.0.0.0/8"] }
  v6:      { address: "[::1]:0" }
http:
  routers:
    local:    { rule: "PathPrefix(` + "`/local`" + `)",    middlewares: [allow-local], service: app }
    other:    { rule: "PathPrefix(` + "`/other`" + `)",    middlewares: [allow-other], service: app }
    deny:     { rule: "PathPrefix(` + "`/deny`" + `)",     middlewares: [deny-loopback], service: app }
    client:   { rule: "PathPrefix(` + "`/client`" + `)",   middlewares: [allow-client], service: app }
    depth:    { rule: "PathPrefix(` + "`/depth`" + `)",    middlewares: [allow-depth], service: app }
    excluded: { rule: "PathPrefix(` + "`/excluded`" + `)", middlewares: [deny-excluded], service: app }
  middlewares:
    allow-local:   { ipAllowList: { sourceRange: ["127.0.0.1", "::1"] } }
    allow-other:   { ipAllowList: { sourceRange: ["192.0.2.0/24", "2001:db8::/32"] } }
    deny-loopback: { ipDenyList: { sourceRange: ["::1/128", "10.0.0.0/8"] } }
    allow-client:  { ipAllowList: { sourceRange: ["203.0.113.0/24", "2001:db8:1::/48"] } }
    allow-depth:   { ipAllowList: { sourceRange: ["198.51.100.0/24", "2001:db8::/32"], ipStrategy: { depth: 2 } } }
    deny-excluded: { ipDenyList: { sourceRange: ["198.51.100.0/24"], ipStrategy: { excludedIPs: ["10.0.0.0/8", "fd00::/8"] } } }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`

// TestIPFiltersThroughUsher: the lists judge the client IP as usher knows
// it (the peer, or the address its trusted proxies name), or the address
// X-Forwarded-For holds at a depth; refused requests get 403 and never
// reach the server; IPv4 and IPv6 alike.
func TestIPFiltersThroughUsher(t *testing.T) {
	be := startCountingBackend(t)
	u := startUsher(t, config(ipFiltersTpl, "be", be.url))
	for _, c := range []struct {
		ep, path string
		xff      string
		want     int
	}{
		{"web", "/local", "", 200},
		{"v6", "/local", "", 200},
		{"web", "/other", "", 403},
		{"v6", "/other", "", 403},
		{"web", "/deny", "", 200},
		{"v6", "/deny", "", 403},
		// The client IP trusted proxies name; a spoofed one from anyone else counts for nothing.
		{"proxied", "/client", "203.0.113.9", 200},
		{"proxied", "/client", "2001:db8:1::9", 200},
		{"proxied", "/client", "203.0.113.9, 192.0.2.1", 403},
		{"web", "/client", "203.0.113.9", 403},
		// Depth 2: the second address from the right of what reached usher.
		{"proxied", "/depth", "198.51.100.7, 10.0.0.1", 200},
		{"proxied", "/depth", "2001:db8::7, 10.0.0.1", 200},
		{"proxied", "/depth", "10.0.0.1, 198.51.100.7", 403},
		{"proxied", "/depth", "198.51.100.7", 403}, // fewer addresses than the depth
		{"web", "/depth", "198.51.100.7, 10.0.0.1", 403},
		// The rightmost address that is not one of the excluded proxies.
		{"proxied", "/excluded", "192.0.2.1, 198.51.100.7, fd00::2, 10.0.0.1", 403},
		{"proxied", "/excluded", "198.51.100.7, 192.0.2.1, 10.0.0.1", 200},
		{"proxied", "/excluded", "10.0.0.2, 10.0.0.1", 403}, // no client among them
	} {
		var fields []string
		if c.xff != "" {
			fields = append(fields, "X-Forwarded-For: "+c.xff)
		}
		before := be.total()
		resp, body := send(t, "GET", u.url(c.ep)+c.path, nil, fields...)
		what := c.ep + " " + c.path + " X-Forwarded-For " + c.xff
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d %q, want %d", what, resp.StatusCode, body, c.want)
		}
		reached := be.total() - before
		switch {
		case c.want == 403 && (reached != 0 || body != "Forbidden\n"):
			t.Errorf("%s: refused with body %q, and %d requests reached the server", what, body, reached)
		case c.want == 200 && (reached != 1 || body != "ok"):
			t.Errorf("%s: %q, %d requests reached the server", what, body, reached)
		}
	}
	_, metrics := get(t, "http://"+u.addrs["admin"]+"/metrics")
	for _, want := range []string{
		`usher_middleware_decisions_total{kind="ipAllowList",middleware="allow-local",result="allow"} 2`,
		`usher_middleware_decisions_total{kind="ipAllowList",middleware="allow-other",result="deny"} 2`,
		`usher_middleware_decisions_total{kind="ipDenyList",middleware="deny-loopback",result="deny"} 1`,
		`usher_middleware_decisions_total{kind="ipAllowList",middleware="allow-depth",result="allow"} 2`,
		`usher_middleware_decisions_total{kind="ipAllowList",middleware="allow-depth",result="deny"} 3`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestBadCIDRIsAConfigErrorWithItsPath: usher validate names the key of a
// bad range, and usher refuses to start on it.
func TestBadCIDRIsAConfigErrorWithItsPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usher.yaml")
	os.WriteFile(path, []byte(`entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  middlewares:
    office: { ipAllowList: { sourceRange: ["10.0.0.0/8", "10.0.0.0/33", "2001:db8::/129"] } }
`), 0o644)
	out, err := exec.Command(usherBin, "validate", "-c", path).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("validate: %v %s", err, out)
	}
	for _, want := range []string{
		`usher.yaml:5: http.middlewares.office.ipAllowList.sourceRange[1]: "10.0.0.0/33" is not a CIDR`,
		`usher.yaml:5: http.middlewares.office.ipAllowList.sourceRange[2]: "2001:db8::/129" is not a CIDR`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
	if out, err := exec.Command(usherBin, "run", "-c", path).CombinedOutput(); err == nil || !strings.Contains(string(out), "sourceRange[1]") {
		t.Errorf("run: %v %s", err, out)
	}
}

const browserDefencesTpl = `
admin: { address: "127.0.0.1:0" }
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    api:  { rule: "PathPrefix(` + "`/api`" + `)", middlewares: [api-cors, isolate], service: app }
    form: { rule: "PathPrefix(` + "`/`" + `)", middlewares: [forms], service: app }
  middlewares:
    api-cors:
      cors:
        allowOrigins: ["https://app.example.com", "*.example.com"]
        allowMethods: [GET, POST, PUT]
        allowHeaders: [Content-Type, X-Request-Id]
        exposeHeaders: [X-Total]
        allowCredentials: true
        maxAge: 600
    isolate:
      headers:
        permissionsPolicy: "camera=(), geolocation=(self)"
        crossOriginOpenerPolicy: same-origin
        crossOriginEmbedderPolicy: require-corp
        crossOriginResourcePolicy: same-site
    forms: { csrf: { trustedOrigins: ["https://sso.example.com"], bypassPaths: ["/webhooks/", "POST /hooks/{id}"] } }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`

// curlHeaders runs curl and returns the status line's code and the
// response's header lines, lowercased names.
func curlHeaders(t *testing.T, args ...string) (string, map[string]string) {
	t.Helper()
	out, err := exec.Command("curl", append([]string{"-sS", "-o", "/dev/null", "-D", "-", "--max-time", "10"}, args...)...).Output()
	if err != nil {
		t.Fatalf("curl %q: %v", args, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\r\n")
	code := strings.Fields(lines[0])[1]
	h := map[string]string{}
	for _, l := range lines[1:] {
		if k, v, ok := strings.Cut(l, ":"); ok {
			h[strings.ToLower(k)] = strings.TrimSpace(v)
		}
	}
	return code, h
}

// TestCORSAnsweredAtTheEdge: preflights, allowed or not, are answered by
// usher and never reach the server, which counts what it gets; responses
// carry usher's CORS headers, not the server's, and Vary: Origin always.
func TestCORSAnsweredAtTheEdge(t *testing.T) {
	be := startCountingBackend(t)
	u := startUsher(t, config(browserDefencesTpl, "be", be.url))
	api := u.url("web") + "/api/items"

	code, h := curlHeaders(t, "-X", "OPTIONS", api,
		"-H", "Origin: https://app.example.com", "-H", "Access-Control-Request-Method: PUT",
		"-H", "Access-Control-Request-Headers: content-type, x-request-id")
	if code != "204" {
		t.Errorf("preflight: %s %v", code, h)
	}
	for k, want := range map[string]string{
		"access-control-allow-origin":      "https://app.example.com",
		"access-control-allow-methods":     "GET, POST, PUT",
		"access-control-allow-headers":     "content-type, x-request-id",
		"access-control-allow-credentials": "true",
		"access-control-max-age":           "600",
		"vary":                             "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
	} {
		if h[k] != want {
			t.Errorf("preflight: %s %q, want %q", k, h[k], want)
		}
	}
	for _, c := range []struct{ origin, method, headers string }{
		{"https://evil.com", "PUT", ""},
		{"https://example.com", "GET", ""},
		{"https://app.example.com.evil.com", "GET", ""},
		{"https://app.example.com", "DELETE", ""},
		{"https://app.example.com", "PUT", "authorization"},
	} {
		args := []string{"-X", "OPTIONS", api, "-H", "Origin: " + c.origin, "-H", "Access-Control-Request-Method: " + c.method}
		if c.headers != "" {
			args = append(args, "-H", "Access-Control-Request-Headers: "+c.headers)
		}
		code, h := curlHeaders(t, args...)
		if code != "403" {
			t.Errorf("preflight %v: %s, want 403", c, code)
		}
		for k := range h {
			if strings.HasPrefix(k, "access-control-") {
				t.Errorf("refused preflight %v has %s", c, k)
			}
		}
	}
	if n := be.total(); n != 0 {
		t.Fatalf("%d preflights reached the server", n)
	}

	for _, c := range []struct{ origin, want string }{
		{"https://app.example.com", "https://app.example.com"},
		{"https://a.b.example.com", "https://a.b.example.com"},
		{"https://evil.com", ""},
		{"", ""},
	} {
		fields := []string{}
		if c.origin != "" {
			fields = append(fields, "Origin: "+c.origin)
		}
		resp, body := send(t, "POST", api, strings.NewReader("{}"), fields...)
		h := resp.Header
		if resp.StatusCode != 200 || body != "ok" {
			t.Errorf("origin %q: %d %q", c.origin, resp.StatusCode, body)
		}
		if got := h.Get("Access-Control-Allow-Origin"); got != c.want {
			t.Errorf("origin %q: Allow-Origin %q, want %q (the server's \"*\" must not pass)", c.origin, got, c.want)
		}
		if v := h.Values("Vary"); len(v) != 1 || v[0] != "Accept-Encoding, Origin" {
			t.Errorf("origin %q: Vary %q", c.origin, v)
		}
		wantCreds, wantExpose := "", ""
		if c.want != "" {
			wantCreds, wantExpose = "true", "X-Total"
		}
		if h.Get("Access-Control-Allow-Credentials") != wantCreds || h.Get("Access-Control-Expose-Headers") != wantExpose {
			t.Errorf("origin %q: %v", c.origin, h)
		}
		for k, want := range map[string]string{
			"Permissions-Policy":           "camera=(), geolocation=(self)",
			"Cross-Origin-Opener-Policy":   "same-origin",
			"Cross-Origin-Embedder-Policy": "require-corp",
			"Cross-Origin-Resource-Policy": "same-site",
		} {
			if h.Get(k) != want {
				t.Errorf("%s %q, want %q", k, h.Get(k), want)
			}
		}
	}
	if n := be.count("POST /api/items"); n != 4 {
		t.Errorf("the server got %d of 4 requests", n)
	}
	_, metrics := get(t, "http://"+u.addrs["admin"]+"/metrics")
	for _, want := range []string{
		`usher_middleware_decisions_total{kind="cors",middleware="api-cors",result="allow"} 3`,
		`usher_middleware_decisions_total{kind="cors",middleware="api-cors",result="deny"} 6`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}

	// A reload changes the origins at once.
	cfg := strings.Replace(config(browserDefencesTpl, "be", be.url), `allowOrigins: ["https://app.example.com", "*.example.com"]`, `allowOrigins: ["https://new.example.org"]`, 1)
	if l := u.rewrite(cfg); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	for origin, want := range map[string]string{"https://new.example.org": "204", "https://app.example.com": "403"} {
		if code, _ := curlHeaders(t, "-X", "OPTIONS", api, "-H", "Origin: "+origin, "-H", "Access-Control-Request-Method: PUT"); code != want {
			t.Errorf("after the reload, a preflight from %s: %s, want %s", origin, code, want)
		}
	}
	if n := be.count("OPTIONS /api/items"); n != 0 {
		t.Errorf("%d preflights reached the server", n)
	}
}

// TestCSRFRefusesCrossOriginForms: a browser's cross-site POST, PUT, PATCH
// or DELETE gets 403 with a body that says why and never reaches the
// server; same-origin ones, safe methods, non-browsers, trusted origins and
// bypass paths pass.
func TestCSRFRefusesCrossOriginForms(t *testing.T) {
	be := startCountingBackend(t)
	u := startUsher(t, config(browserDefencesTpl, "be", be.url))
	web := u.url("web")
	self := web // an old browser's Origin on a form of this very site
	for _, c := range []struct {
		method, path string
		fields       []string
		want         int
	}{
		{"POST", "/cart", []string{"Sec-Fetch-Site: cross-site", "Origin: https://evil.example"}, 403},
		{"PUT", "/cart", []string{"Sec-Fetch-Site: same-site", "Origin: https://a.example.com"}, 403},
		{"PATCH", "/cart", []string{"Sec-Fetch-Site: cross-site"}, 403},
		{"DELETE", "/cart", []string{"Sec-Fetch-Site: cross-site"}, 403},
		{"POST", "/cart", []string{"Origin: https://evil.example"}, 403},
		{"POST", "/webhooks", []string{"Sec-Fetch-Site: cross-site"}, 403},
		{"POST", "/cart", []string{"Sec-Fetch-Site: same-origin", "Origin: " + self}, 200},
		{"POST", "/cart", []string{"Sec-Fetch-Site: none"}, 200},
		{"POST", "/cart", []string{"Origin: " + self}, 200},
		{"POST", "/cart", nil, 200},
		{"GET", "/cart", []string{"Sec-Fetch-Site: cross-site", "Origin: https://evil.example"}, 200},
		{"POST", "/cart", []string{"Sec-Fetch-Site: cross-site", "Origin: https://sso.example.com"}, 200},
		{"POST", "/webhooks/stripe", []string{"Sec-Fetch-Site: cross-site", "Origin: https://evil.example"}, 200},
		{"POST", "/hooks/42", []string{"Sec-Fetch-Site: cross-site"}, 200},
		{"PUT", "/hooks/42", []string{"Sec-Fetch-Site: cross-site"}, 403},
	} {
		before := be.total()
		resp, body := send(t, c.method, web+c.path, strings.NewReader("a=1"), c.fields...)
		what := c.method + " " + c.path + " " + strings.Join(c.fields, "; ")
		reached := be.total() - before
		switch {
		case resp.StatusCode != c.want:
			t.Errorf("%s: %d %q, want %d", what, resp.StatusCode, body, c.want)
		case c.want == 403 && (reached != 0 || !strings.HasPrefix(body, "Forbidden: cross-origin request refused.") || !strings.Contains(body, "CSRF")):
			t.Errorf("%s: body %q, %d requests reached the server", what, body, reached)
		case c.want == 200 && reached != 1:
			t.Errorf("%s: %d requests reached the server", what, reached)
		}
	}
	_, metrics := get(t, "http://"+u.addrs["admin"]+"/metrics")
	for _, want := range []string{
		`usher_middleware_decisions_total{kind="csrf",middleware="forms",result="deny"} 7`,
		`usher_middleware_decisions_total{kind="csrf",middleware="forms",result="allow"} 7`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
}
