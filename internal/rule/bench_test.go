package rule

import (
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"testing"
)

func benchReq(host, path, rawQuery string) *Request {
	return &Request{
		R: &http.Request{
			Method: "GET",
			URL:    &url.URL{Path: path, RawQuery: rawQuery},
			Header: http.Header{"User-Agent": {"bench"}, "X-Env": {"prod"}, "Accept": {"*/*"}},
		},
		Host:     host,
		ClientIP: netip.MustParseAddr("10.1.2.3"),
	}
}

// BenchmarkMatch100Routers scans 100 rules in order for a request that only
// the last one matches, as a router without a host index would.
func BenchmarkMatch100Routers(b *testing.B) {
	var rules []*HTTPRule
	for i := range 100 {
		n := strconv.Itoa(i)
		r, err := ParseHTTP("Host(`svc" + n + ".example.com`) && PathPrefix(`/api/" + n + "`)")
		if err != nil {
			b.Fatal(err)
		}
		rules = append(rules, r)
	}
	req := benchReq("svc99.example.com", "/api/99/users", "")
	b.ReportAllocs()
	for b.Loop() {
		found := -1
		for i, r := range rules {
			if r.Match(req) {
				found = i
				break
			}
		}
		if found != 99 {
			b.Fatalf("matched router %d, want 99", found)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	req := benchReq("svc.example.com", "/api/v1/users", "page=2&sort=name+asc&debug=1")
	for _, bm := range []struct{ name, rule string }{
		{"Host", "Host(`svc.example.com`)"},
		{"HostMiss", "Host(`other.example.com`)"},
		{"Path", "Path(`/api/v1/users`)"},
		{"PathPrefix", "PathPrefix(`/api`)"},
		{"Method", "Method(`GET`)"},
		{"Header", "Header(`X-Env`, `prod`)"},
		{"Query", "Query(`sort`, `name asc`)"},
		{"QueryKey", "Query(`debug`)"},
		{"ClientIP", "ClientIP(`10.0.0.0/8`)"},
		{"HostRegexp", "HostRegexp(`[a-z]+\\.example\\.com`)"},
		{"PathRegexp", "PathRegexp(`^/api/v[0-9]+/`)"},
		{"HeaderRegexp", "HeaderRegexp(`X-Env`, `^pr`)"},
		{"QueryRegexp", "QueryRegexp(`sort`, `^name`)"},
		{"HostAndPathPrefix", "Host(`svc.example.com`) && PathPrefix(`/api`)"},
		{"Complex", "(Host(`a.example.com`) || Host(`svc.example.com`)) && PathPrefix(`/api`) && !Method(`POST`) && Header(`X-Env`, `prod`) && !ClientIP(`192.168.0.0/16`)"},
	} {
		r, err := ParseHTTP(bm.rule)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.Match(req)
			}
		})
	}
}

func BenchmarkMatchTCP(b *testing.B) {
	r, err := ParseTCP("HostSNI(`svc.example.com`) && !ClientIP(`192.168.0.0/16`)")
	if err != nil {
		b.Fatal(err)
	}
	c := &Conn{SNI: "svc.example.com", ClientIP: netip.MustParseAddr("10.1.2.3")}
	b.ReportAllocs()
	for b.Loop() {
		r.Match(c)
	}
}

func BenchmarkParseHTTP(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseHTTP("Host(`svc.example.com`) && (PathPrefix(`/api`) || Path(`/health`)) && !Method(`POST`)"); err != nil {
			b.Fatal(err)
		}
	}
}
