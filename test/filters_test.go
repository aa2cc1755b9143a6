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
