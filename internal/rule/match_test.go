package rule

import (
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// rq describes a request for the tables; build turns it into a *Request.
type rq struct {
	method string // default GET
	host   string // lowercase, no port
	target string // path and query, default "/"
	hdr    []string
	ip     string
}

func (q rq) build(t testing.TB) *Request {
	t.Helper()
	if q.method == "" {
		q.method = "GET"
	}
	if q.target == "" {
		q.target = "/"
	}
	u, err := url.ParseRequestURI(q.target)
	if err != nil {
		t.Fatalf("bad target %q: %v", q.target, err)
	}
	r := &http.Request{Method: q.method, URL: u, Header: http.Header{}, Host: q.host}
	for i := 0; i+1 < len(q.hdr); i += 2 {
		r.Header.Add(q.hdr[i], q.hdr[i+1])
	}
	req := &Request{R: r, Host: q.host}
	if q.ip != "" {
		req.ClientIP = netip.MustParseAddr(q.ip)
	}
	return req
}

type matchCase struct {
	rule string
	req  rq
	want bool
}

func runMatch(t *testing.T, tests []matchCase) {
	t.Helper()
	for _, tt := range tests {
		r, err := ParseHTTP(tt.rule)
		if err != nil {
			t.Errorf("ParseHTTP(%q): %v", tt.rule, err)
			continue
		}
		req := tt.req.build(t)
		if got := r.Match(req); got != tt.want {
			t.Errorf("%s on %+v = %v, want %v", tt.rule, tt.req, got, tt.want)
		}
		n, _ := parse(tt.rule, modeHTTP)
		if got := evalHTTP(n, req); got != tt.want {
			t.Errorf("reference evaluator: %s on %+v = %v, want %v", tt.rule, tt.req, got, tt.want)
		}
	}
}

// evalHTTP evaluates the parsed tree directly, as a reference for the
// compiled program.
func evalHTTP(n *node, req *Request) bool {
	switch n.op {
	case opNot:
		return !evalHTTP(n.kids[0], req)
	case opAnd:
		for _, k := range n.kids {
			if !evalHTTP(k, req) {
				return false
			}
		}
		return true
	case opOr:
		for _, k := range n.kids {
			if evalHTTP(k, req) {
				return true
			}
		}
		return false
	}
	return n.m.matchHTTP(req)
}

func TestMatchHost(t *testing.T) {
	runMatch(t, []matchCase{
		{"Host(`example.com`)", rq{host: "example.com"}, true},
		{"Host(`Example.COM`)", rq{host: "example.com"}, true},
		{"Host(`example.com`)", rq{host: "example.com."}, true},
		{"Host(`example.com.`)", rq{host: "example.com"}, true},
		{"Host(`example.com`)", rq{host: "api.example.com"}, false},
		{"Host(`example.com`)", rq{host: "example.co"}, false},
		{"Host(`example.com`)", rq{host: ""}, false},
		{"Host(`[::1]`)", rq{host: "::1"}, true},
		{"Host(`::1`)", rq{host: "[::1]"}, true},
		{"Host(`127.0.0.1`)", rq{host: "127.0.0.1"}, true},
		{"HostRegexp(`[a-z]+\\.example\\.com`)", rq{host: "api.example.com"}, true},
		{"HostRegexp(`[a-z]+\\.example\\.com`)", rq{host: "api.example.com."}, true},
		{"HostRegexp(`[a-z]+\\.example\\.com`)", rq{host: "x.api.example.com"}, false},
		{"HostRegexp(`[a-z]+\\.example\\.com`)", rq{host: "api.example.com.evil.org"}, false},
		{"HostRegexp(`API\\.Example\\.com`)", rq{host: "api.example.com"}, true},
		{"HostRegexp(`a\\.com|b\\.com`)", rq{host: "b.com"}, true},
		{"HostRegexp(`a\\.com|b\\.com`)", rq{host: "a.com.x"}, false},
		{"HostRegexp(`a\\.com|b\\.com`)", rq{host: "xb.com"}, false},
		{"HostRegexp(`^.+\\.example\\.com$`)", rq{host: "a.example.com"}, true},
	})
}

func TestMatchPath(t *testing.T) {
	runMatch(t, []matchCase{
		{"Path(`/a`)", rq{target: "/a"}, true},
		{"Path(`/a`)", rq{target: "/a/"}, false},
		{"Path(`/a`)", rq{target: "/a?x=1"}, true},
		{"Path(`/a`)", rq{target: "/A"}, false},
		{"Path(`/a b`)", rq{target: "/a%20b"}, true},
		{"PathPrefix(`/api`)", rq{target: "/api"}, true},
		{"PathPrefix(`/api`)", rq{target: "/api/v1"}, true},
		{"PathPrefix(`/api`)", rq{target: "/apix"}, true},
		{"PathPrefix(`/api`)", rq{target: "/ap"}, false},
		{"PathPrefix(`/api/`)", rq{target: "/api"}, false},
		{"PathPrefix(`/`)", rq{target: "/anything"}, true},
		{"PathRegexp(`^/v[0-9]+/`)", rq{target: "/v2/users"}, true},
		{"PathRegexp(`^/v[0-9]+/`)", rq{target: "/x/v2/users"}, false},
		{"PathRegexp(`[0-9]+`)", rq{target: "/a1"}, true},
		{"PathRegexp(`\\.(css|js)$`)", rq{target: "/static/app.js"}, true},
		{"PathRegexp(`\\.(css|js)$`)", rq{target: "/static/app.json"}, false},
	})
}

func TestMatchMethod(t *testing.T) {
	runMatch(t, []matchCase{
		{"Method(`GET`)", rq{method: "GET"}, true},
		{"Method(`get`)", rq{method: "GET"}, true},
		{"Method(`GET`)", rq{method: "get"}, true},
		{"Method(`GET`)", rq{method: "POST"}, false},
		{"Method(`GET`)", rq{method: "GETX"}, false},
		{"Method(`PURGE`)", rq{method: "PURGE"}, true},
	})
}

func TestMatchHeader(t *testing.T) {
	runMatch(t, []matchCase{
		{"Header(`X-Env`, `prod`)", rq{hdr: []string{"X-Env", "prod"}}, true},
		{"Header(`x-env`, `prod`)", rq{hdr: []string{"X-Env", "prod"}}, true},
		{"Header(`X-Env`, `prod`)", rq{hdr: []string{"X-Env", "dev", "X-Env", "prod"}}, true},
		{"Header(`X-Env`, `prod`)", rq{hdr: []string{"X-Env", "Prod"}}, false},
		{"Header(`X-Env`, `prod`)", rq{hdr: []string{"X-Env", "prod,dev"}}, false},
		{"Header(`X-Env`, `prod`)", rq{hdr: []string{"X-Other", "prod"}}, false},
		{"Header(`X-Env`, `prod`)", rq{}, false},
		{"Header(`X-Env`, ``)", rq{hdr: []string{"X-Env", ""}}, true},
		{"Header(`X-Env`, ``)", rq{}, false},
		{"HeaderRegexp(`X-Env`, `^pr`)", rq{hdr: []string{"X-Env", "prod"}}, true},
		{"HeaderRegexp(`X-Env`, `od`)", rq{hdr: []string{"X-Env", "prod"}}, true},
		{"HeaderRegexp(`X-Env`, `^od`)", rq{hdr: []string{"X-Env", "prod"}}, false},
		{"HeaderRegexp(`X-Env`, `^d`)", rq{hdr: []string{"X-Env", "prod", "X-Env", "dev"}}, true},
		{"HeaderRegexp(`X-Env`, `.*`)", rq{}, false},
	})
}

func TestMatchQuery(t *testing.T) {
	runMatch(t, []matchCase{
		{"Query(`a`, `1`)", rq{target: "/?a=1"}, true},
		{"Query(`a`, `1`)", rq{target: "/?a=2"}, false},
		{"Query(`a`, `1`)", rq{target: "/?b=1&a=1"}, true},
		{"Query(`a`, `1`)", rq{target: "/?a=2&a=1"}, true},
		{"Query(`a`, `1`)", rq{target: "/?aa=1"}, false},
		{"Query(`a`, `1`)", rq{target: "/?a=11"}, false},
		{"Query(`a`, `1`)", rq{target: "/?a=1;b=2"}, false}, // ';' pairs are dropped, as url.ParseQuery
		{"Query(`a`, `1`)", rq{target: "/?b=2;c&a=1"}, true},
		{"Query(`a`, `1`)", rq{target: "/?a=%31"}, true},
		{"Query(`a`, `1`)", rq{target: "/?%61=1"}, true},
		{"Query(`a`, `1`)", rq{target: "/?a=%3"}, false},
		{"Query(`a`, `1`)", rq{target: "/?a=1%zz"}, false},
		{"Query(`a`, `hello world`)", rq{target: "/?a=hello+world"}, true},
		{"Query(`a`, `hello world`)", rq{target: "/?a=hello%20world"}, true},
		{"Query(`a`, `hello+world`)", rq{target: "/?a=hello%2Bworld"}, true},
		{"Query(`a`, `hello+world`)", rq{target: "/?a=hello+world"}, false},
		{"Query(`a b`, `1`)", rq{target: "/?a+b=1"}, true},
		{"Query(`a`, ``)", rq{target: "/?a"}, true},
		{"Query(`a`, ``)", rq{target: "/?a="}, true},
		{"Query(`a`, ``)", rq{target: "/?a=1"}, false},
		{"Query(`a`)", rq{target: "/?a"}, true},
		{"Query(`a`)", rq{target: "/?a="}, true},
		{"Query(`a`)", rq{target: "/?x=1&&a=x"}, true},
		{"Query(`a`)", rq{target: "/?ab=1"}, false},
		{"Query(`a`)", rq{target: "/?b=a"}, false},
		{"Query(`a`)", rq{target: "/?a=%zz"}, false},
		{"Query(`a`)", rq{target: "/"}, false},
		{"QueryRegexp(`a`, `^[0-9]+$`)", rq{target: "/?a=123"}, true},
		{"QueryRegexp(`a`, `^[0-9]+$`)", rq{target: "/?a=12x"}, false},
		{"QueryRegexp(`a`, `^[0-9]+$`)", rq{target: "/?a=x&a=12"}, true},
		{"QueryRegexp(`a`, `^[0-9]+$`)", rq{target: "/?a=%31%32"}, true},
		{"QueryRegexp(`a`, `^x y$`)", rq{target: "/?a=x+y"}, true},
		{"QueryRegexp(`a`, `.`)", rq{target: "/?a=%zz"}, false},
	})
}

func TestMatchClientIP(t *testing.T) {
	runMatch(t, []matchCase{
		{"ClientIP(`10.0.0.0/8`)", rq{ip: "10.1.2.3"}, true},
		{"ClientIP(`10.0.0.0/8`)", rq{ip: "11.0.0.1"}, false},
		{"ClientIP(`10.0.0.0/8`)", rq{ip: "::ffff:10.1.2.3"}, true},
		{"ClientIP(`10.0.0.0/8`)", rq{}, false},
		{"ClientIP(`10.0.0.1/8`)", rq{ip: "10.9.9.9"}, true},
		{"ClientIP(`::1`)", rq{ip: "::1"}, true},
		{"ClientIP(`::1`)", rq{ip: "127.0.0.1"}, false},
		{"ClientIP(`192.168.1.7`)", rq{ip: "192.168.1.7"}, true},
		{"ClientIP(`192.168.1.7`)", rq{ip: "192.168.1.8"}, false},
		{"ClientIP(`::ffff:10.0.0.0/104`)", rq{ip: "10.1.1.1"}, true},
		{"ClientIP(`::ffff:192.168.1.7`)", rq{ip: "192.168.1.7"}, true},
		{"ClientIP(`fe80::/10`)", rq{ip: "fe80::1%eth0"}, true},
		{"ClientIP(`2001:db8::/32`)", rq{ip: "2001:db8:1::1"}, true},
		{"ClientIP(`2001:db8::/32`)", rq{ip: "2001:db9::1"}, false},
	})
}

func TestMatchOperators(t *testing.T) {
	a, b, c := rq{host: "a"}, rq{host: "b"}, rq{host: "c"}
	ax, ay := rq{host: "a", target: "/x"}, rq{host: "a", target: "/y"}
	bx, by := rq{host: "b", target: "/x"}, rq{host: "b", target: "/y"}
	cx := rq{host: "c", target: "/x"}
	runMatch(t, []matchCase{
		// && binds tighter than ||.
		{"Host(`a`) || Host(`b`) && Path(`/x`)", ay, true},
		{"Host(`a`) || Host(`b`) && Path(`/x`)", by, false},
		{"Host(`a`) || Host(`b`) && Path(`/x`)", bx, true},
		{"Host(`b`) && Path(`/x`) || Host(`a`)", ay, true},
		{"(Host(`a`) || Host(`b`)) && Path(`/x`)", ay, false},
		{"(Host(`a`) || Host(`b`)) && Path(`/x`)", bx, true},
		{"(Host(`a`) || Host(`b`)) && Path(`/x`)", cx, false},
		// ! binds tighter than &&.
		{"!Host(`a`) && Path(`/x`)", ax, false},
		{"!Host(`a`) && Path(`/x`)", cx, true},
		{"!(Host(`a`) && Path(`/x`))", ax, false},
		{"!(Host(`a`) && Path(`/x`))", ay, true},
		{"!(Host(`a`) || Host(`b`))", a, false},
		{"!(Host(`a`) || Host(`b`))", c, true},
		{"!!Host(`a`)", a, true},
		{"!!!Host(`a`)", a, false},
		{"Host(`a`) && Path(`/x`) || Host(`b`) && Path(`/y`)", ax, true},
		{"Host(`a`) && Path(`/x`) || Host(`b`) && Path(`/y`)", by, true},
		{"Host(`a`) && Path(`/x`) || Host(`b`) && Path(`/y`)", ay, false},
		{"Host(`a`) && Path(`/x`) || Host(`b`) && Path(`/y`)", bx, false},
		{"Host(`a`) || Host(`b`) || Host(`c`)", c, true},
		{"Host(`a`) && !Host(`b`) && !(Path(`/y`) || Path(`/z`))", ax, true},
		{"Host(`a`) && !Host(`b`) && !(Path(`/y`) || Path(`/z`))", ay, false},
		{"!(!Host(`a`) || !Path(`/x`))", ax, true},
		{"!(!Host(`a`) || !Path(`/x`))", b, false},
	})
}

func TestMatchTCP(t *testing.T) {
	tests := []struct {
		rule string
		c    Conn
		want bool
	}{
		{"HostSNI(`*`)", Conn{}, true},
		{"HostSNI(`*`)", Conn{SNI: "a.com"}, true},
		{"HostSNI(`a.com`)", Conn{SNI: "a.com"}, true},
		{"HostSNI(`A.com.`)", Conn{SNI: "a.com"}, true},
		{"HostSNI(`a.com`)", Conn{SNI: "a.com."}, true},
		{"HostSNI(`a.com`)", Conn{SNI: "b.com"}, false},
		{"HostSNI(`a.com`)", Conn{}, false},
		{"HostSNIRegexp(`[a-z]+\\.a\\.com`)", Conn{SNI: "x.a.com"}, true},
		{"HostSNIRegexp(`[a-z]+\\.a\\.com`)", Conn{SNI: "x.a.com.b"}, false},
		{"HostSNIRegexp(`X\\.A\\.com`)", Conn{SNI: "x.a.com"}, true},
		{"HostSNIRegexp(`.*`)", Conn{}, true},
		{"ClientIP(`10.0.0.0/8`)", Conn{ClientIP: netip.MustParseAddr("10.0.0.1")}, true},
		{"HostSNI(`*`) && !ClientIP(`10.0.0.0/8`)", Conn{ClientIP: netip.MustParseAddr("10.0.0.1")}, false},
		{"HostSNI(`*`) && !ClientIP(`10.0.0.0/8`)", Conn{ClientIP: netip.MustParseAddr("11.0.0.1")}, true},
		{"HostSNI(`a.com`) || HostSNI(`b.com`) && ClientIP(`::1`)", Conn{SNI: "a.com"}, true},
		{"HostSNI(`a.com`) || HostSNI(`b.com`) && ClientIP(`::1`)", Conn{SNI: "b.com"}, false},
	}
	for _, tt := range tests {
		r, err := ParseTCP(tt.rule)
		if err != nil {
			t.Errorf("ParseTCP(%q): %v", tt.rule, err)
			continue
		}
		if got := r.Match(&tt.c); got != tt.want {
			t.Errorf("%s on %+v = %v, want %v", tt.rule, tt.c, got, tt.want)
		}
	}
}

// TestCompileRandom checks the compiled program against the tree on random
// expressions of Host matchers over every assignment of hosts.
func TestCompileRandom(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	hosts := []string{"a", "b", "c", "d"}
	var gen func(depth int) string
	gen = func(depth int) string {
		switch k := rnd.IntN(5); {
		case depth > 4 || k == 0:
			return "Host(`" + hosts[rnd.IntN(len(hosts))] + "`)"
		case k == 1:
			return "!" + gen(depth+1)
		case k == 2:
			return "(" + gen(depth+1) + ")"
		case k == 3:
			return gen(depth+1) + " && " + gen(depth+1)
		default:
			return gen(depth+1) + " || " + gen(depth+1)
		}
	}
	for range 2000 {
		expr := gen(0)
		r, err := ParseHTTP(expr)
		if err != nil {
			t.Fatalf("ParseHTTP(%q): %v", expr, err)
		}
		n, _ := parse(expr, modeHTTP)
		for _, h := range append(hosts, "e") {
			req := rq{host: h}.build(t)
			if got, want := r.Match(req), evalHTTP(n, req); got != want {
				t.Fatalf("%s on host %s: program %v, tree %v", expr, h, got, want)
			}
			if hs := r.Hosts(); hs != nil && r.Match(req) && !slices.Contains(hs, h) {
				t.Fatalf("%s matches host %s, not in Hosts() = %v", expr, h, hs)
			}
		}
	}
}

// TestQueryLikeParseQuery checks the scanner against url.ParseQuery.
func TestQueryLikeParseQuery(t *testing.T) {
	queries := []string{
		"", "a", "a=", "a=1", "a=1&a=2", "a=1;a=2", "a=%31", "%61=1", "a=%", "a=%4", "a=%zz", "a=+",
		"a+b=c+d", "a%20b=c%20d", "=1", "&&a=1&&", "a==1", "a=1=2", "a=%2B", "a%3D1=2", "a=%C3%A9",
		"b=1&a", "a&b", "a=1&b=%zz", "%zz=1&a=1", "a;=1", "a=1&a=%", "A=1",
	}
	keys := []string{"a", "b", "a b", "a=1", "A", ""}
	values := []string{"", "1", "2", " ", "+", "c d", "=1", "1=2", "é"}
	for _, q := range queries {
		vals, _ := url.ParseQuery(q)
		for _, k := range keys {
			_, present := vals[k]
			m := matcher{kind: kQueryKey, a: k}
			if got := m.matchQuery(q); got != present {
				t.Errorf("presence of %q in %q = %v, url.ParseQuery says %v", k, q, got, present)
			}
			for _, v := range values {
				m := matcher{kind: kQuery, a: k, b: v}
				if got, want := m.matchQuery(q), slices.Contains(vals[k], v); got != want {
					t.Errorf("%q=%q in %q = %v, url.ParseQuery says %v", k, v, q, got, want)
				}
			}
		}
	}
}

// TestMatchZeroAlloc asserts that matching allocates nothing for the matchers
// of the hot path, whether the rule matches or not.
func TestMatchZeroAlloc(t *testing.T) {
	rules := []string{
		"Host(`svc.example.com`) && PathPrefix(`/api`)",
		"Host(`svc.example.com`) && Path(`/api/v1/users`) && Method(`GET`)",
		"Header(`X-Env`, `prod`) && Query(`debug`, `1 2`) && Query(`trace`)",
		"ClientIP(`10.0.0.0/8`) || ClientIP(`::1`) || !ClientIP(`192.168.1.7`)",
		"(Host(`a.com`) || Host(`svc.example.com`)) && !Method(`POST`) && (PathPrefix(`/x`) || Path(`/api/v1/users`))",
		"HostRegexp(`[a-z]+\\.example\\.com`) && PathRegexp(`^/api/v[0-9]+/`)",
		"HeaderRegexp(`X-Env`, `^pr`) && QueryRegexp(`debug`, `^1`)",
		"Bucket(`cookie:uid`, 0, 20) || Bucket(`header:X-Env`, 10, 90.5) || Bucket(`clientIP`, 0, 50)",
	}
	reqs := []*Request{
		rq{host: "svc.example.com", target: "/api/v1/users?debug=1+2&trace&x=%41", hdr: []string{"X-Env", "prod", "Cookie", "a=1; uid=alice"}, ip: "10.1.2.3"}.build(t),
		rq{method: "post", host: "other.example.com", target: "/", ip: "::ffff:10.1.2.3"}.build(t),
		rq{host: "svc.example.com", target: "/", hdr: []string{"Cookie", "uid=bob"}, ip: "2001:db8::1:2:3"}.build(t),
		rq{host: "", target: "/?debug=1%202&trace="}.build(t),
	}
	for _, expr := range rules {
		if raceEnabled && strings.Contains(expr, "Regexp") {
			continue // see raceEnabled
		}
		r, err := ParseHTTP(expr)
		if err != nil {
			t.Fatalf("ParseHTTP(%q): %v", expr, err)
		}
		for i, req := range reqs {
			if allocs := testing.AllocsPerRun(100, func() { r.Match(req) }); allocs != 0 {
				t.Errorf("%s on request %d: %v allocs per Match, want 0", expr, i, allocs)
			}
		}
	}
	tr, err := ParseTCP("(HostSNI(`a.com`) || HostSNIRegexp(`[a-z]+\\.b\\.com`)) && !ClientIP(`10.0.0.0/8`)")
	if err != nil {
		t.Fatal(err)
	}
	c := &Conn{SNI: "x.b.com", ClientIP: netip.MustParseAddr("11.0.0.1")}
	if raceEnabled {
		return
	}
	if allocs := testing.AllocsPerRun(100, func() { tr.Match(c) }); allocs != 0 {
		t.Errorf("TCP Match: %v allocs, want 0", allocs)
	}
}

func TestConcurrentMatch(t *testing.T) {
	r, err := ParseHTTP("HostRegexp(`[a-z]+\\.example\\.com`) && Query(`a`, `1`)")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan bool)
	for i := range 8 {
		go func() {
			req := rq{host: "x.example.com", target: "/?a=" + strings.Repeat("1", i%2+1)}.build(t)
			want := i%2 == 0
			ok := true
			for range 1000 {
				ok = ok && r.Match(req) == want
			}
			done <- ok
		}()
	}
	for range 8 {
		if !<-done {
			t.Error("concurrent Match gave a wrong answer")
		}
	}
}
