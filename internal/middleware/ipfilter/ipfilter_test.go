package ipfilter

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/observe"
)

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })

func serve(t *testing.T, h http.Handler, remote, clientIP string, xff ...string) int {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "http://a/", nil)
	r.RemoteAddr = remote
	for _, v := range xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	w := httptest.NewRecorder()
	if clientIP == "" {
		h.ServeHTTP(w, r)
		return w.Code
	}
	// Behind the entrypoint: the Record holds the client IP it found.
	rec := observe.NewRecorder(w)
	defer rec.Release()
	if clientIP != "invalid" {
		rec.Rec.ClientIP = netip.MustParseAddr(clientIP)
	}
	h.ServeHTTP(rec, r)
	if w.Code == http.StatusForbidden && !strings.Contains(w.Body.String(), "Forbidden") {
		t.Errorf("403 body %q", w.Body.String())
	}
	return w.Code
}

func TestAllowAndDeny(t *testing.T) {
	ranges := []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1"}
	allow, err := NewAllow(t.Context(), ok, &config.IPAllowList{SourceRange: ranges}, "a")
	if err != nil {
		t.Fatal(err)
	}
	deny, err := NewDeny(t.Context(), ok, &config.IPDenyList{SourceRange: ranges}, "d")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		remote, client string
		in             bool // in the ranges: allowed by allow, refused by deny
		unknown        bool // refused by both
	}{
		{"10.1.2.3:5000", "", true, false},
		{"192.0.2.7:1", "", true, false},
		{"192.0.2.8:1", "", false, false},
		{"[2001:db8::42]:443", "", true, false},
		{"[2001:db9::42]:443", "", false, false},
		{"[::1]:1", "", true, false},
		{"[::ffff:10.0.0.1]:1", "", true, false},
		{"@", "", false, true}, // a unix socket peer
		// The entrypoint's client IP wins over the peer: a trusted proxy named it.
		{"127.0.0.1:1", "10.9.9.9", true, false},
		{"10.0.0.1:1", "203.0.113.5", false, false},
		{"10.0.0.1:1", "invalid", false, true},
	} {
		wantAllow, wantDeny := http.StatusForbidden, http.StatusForbidden
		if !c.unknown {
			if c.in {
				wantAllow = http.StatusTeapot
			} else {
				wantDeny = http.StatusTeapot
			}
		}
		if got := serve(t, allow, c.remote, c.client); got != wantAllow {
			t.Errorf("allow list, peer %s client %q: %d, want %d", c.remote, c.client, got, wantAllow)
		}
		if got := serve(t, deny, c.remote, c.client); got != wantDeny {
			t.Errorf("deny list, peer %s client %q: %d, want %d", c.remote, c.client, got, wantDeny)
		}
	}
}

func TestStrategies(t *testing.T) {
	depth := func(n int) *config.IPStrategy { return &config.IPStrategy{Depth: n} }
	excl := &config.IPStrategy{ExcludedIPs: []string{"10.0.0.0/8", "fd00::/8"}}
	for _, c := range []struct {
		name   string
		st     *config.IPStrategy
		xff    []string // as the entrypoint passes it: the peer, 127.0.0.1, last
		client string   // the entrypoint's client IP
		want   int
	}{
		// Traefik's example: depth 1 is the rightmost address that reached usher.
		{"depth 1", depth(1), []string{"198.51.100.1, 10.0.0.2, 192.0.2.7, 127.0.0.1"}, "10.0.0.2", 418},
		{"depth 2", depth(2), []string{"198.51.100.1, 192.0.2.7, 10.0.0.2, 127.0.0.1"}, "", 418},
		{"depth 2 elsewhere", depth(2), []string{"192.0.2.7, 198.51.100.1, 10.0.0.2, 127.0.0.1"}, "", 403},
		{"depth past the list", depth(4), []string{"192.0.2.7, 10.0.0.2, 127.0.0.1"}, "", 403},
		{"no header kept: untrusted peer", depth(1), []string{"127.0.0.1"}, "192.0.2.7", 403},
		{"lines joined", depth(3), []string{"192.0.2.7", "10.0.0.1, 10.0.0.2, 127.0.0.1"}, "", 418},
		{"ports and brackets", depth(2), []string{"192.0.2.7:5555, [2001:db8::1]:443, 127.0.0.1"}, "", 418},
		{"garbage at depth", depth(1), []string{"192.0.2.7, nonsense, 127.0.0.1"}, "", 403},
		{"excluded proxies skipped", excl, []string{"198.51.100.1, 192.0.2.7, 10.0.0.9, fd00::1, 127.0.0.1"}, "", 418},
		{"first not excluded is outside", excl, []string{"192.0.2.7, 198.51.100.1, 10.0.0.9, 127.0.0.1"}, "", 403},
		{"all excluded", excl, []string{"10.0.0.1, 10.0.0.2, 127.0.0.1"}, "", 403},
		{"garbage before a client", excl, []string{"192.0.2.7, unknown, 10.0.0.2, 127.0.0.1"}, "", 403},
		{"an empty strategy is the client IP", &config.IPStrategy{}, []string{"127.0.0.1"}, "192.0.2.7", 418},
	} {
		h, err := NewAllow(t.Context(), ok, &config.IPAllowList{SourceRange: []string{"192.0.2.0/24", "2001:db8::/32"}, IPStrategy: c.st}, "a")
		if err != nil {
			t.Fatal(err)
		}
		client := c.client
		if client == "" {
			client = "127.0.0.1"
		}
		if got := serve(t, h, "127.0.0.1:40000", client, c.xff...); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  config.IPAllowList
		want string
	}{
		{config.IPAllowList{}, "ipAllowList: sourceRange: at least one"},
		{config.IPAllowList{SourceRange: []string{"10.0.0.0/8", "x"}}, `ipAllowList: sourceRange[1]: "x" is neither`},
		{config.IPAllowList{SourceRange: []string{"10.0.0.0/8"}, IPStrategy: &config.IPStrategy{Depth: -1}}, "negative"},
		{config.IPAllowList{SourceRange: []string{"10.0.0.0/8"}, IPStrategy: &config.IPStrategy{Depth: 1, ExcludedIPs: []string{"10.0.0.1"}}}, "exclude each other"},
		{config.IPAllowList{SourceRange: []string{"10.0.0.0/8"}, IPStrategy: &config.IPStrategy{ExcludedIPs: []string{"10.0.0.1/99"}}}, "excludedIPs[0]"},
	} {
		if _, err := NewAllow(t.Context(), ok, &c.cfg, "a"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

func BenchmarkAllow(b *testing.B) {
	h, _ := NewAllow(b.Context(), ok, &config.IPAllowList{SourceRange: []string{"10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32"}}, "a")
	r := httptest.NewRequest(http.MethodGet, "http://a/", nil)
	r.RemoteAddr = "10.1.2.3:5000"
	w := httptest.NewRecorder()
	rec := observe.NewRecorder(w)
	rec.Rec.ClientIP = netip.MustParseAddr("10.1.2.3")
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(rec, r)
	}
}

func BenchmarkDepth(b *testing.B) {
	h, _ := NewAllow(b.Context(), ok, &config.IPAllowList{SourceRange: []string{"192.0.2.0/24"}, IPStrategy: &config.IPStrategy{Depth: 2}}, "a")
	r := httptest.NewRequest(http.MethodGet, "http://a/", nil)
	r.RemoteAddr = "127.0.0.1:5000"
	r.Header.Set("X-Forwarded-For", "198.51.100.1, 192.0.2.7, 10.0.0.2, 127.0.0.1")
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}
