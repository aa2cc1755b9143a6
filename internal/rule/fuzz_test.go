package rule

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"testing"
)

var fuzzSeeds = []string{
	"Host(`example.com`)",
	"Host(`a.com`) && PathPrefix(`/api`) || !Method(`GET`)",
	"(Host(`a`) || Host(`b`)) && !(Path(`/x`) || Path(`/y`))",
	`Header("X-A", "a\"b\\c") && Query("k") && Query("k", "v")`,
	"HostRegexp(`[a-z]+\\.example\\.com`) && PathRegexp(`^/v[0-9]+`)",
	"HeaderRegexp(`X`, `^a`) && QueryRegexp(`q`, `[0-9]`)",
	"ClientIP(`10.0.0.0/8`) || ClientIP(`::1`)",
	"HostSNI(`*`) && ClientIP(`192.168.1.7`)",
	"HostSNIRegexp(`.*`)",
	"Bucket(`cookie:uid`, 0, 20.5) || Bucket(`clientIP`, `50`, 100) && !Bucket(`header:X-U`, 1, 2)",
	"Bucket(`cookie:uid`, 20, 1x)",
	"Hots(`a`)",
	"(Host(`a`) && Path(`/`)",
	"Host(`a`) & Path(`/`)",
	`Host("a\d")`,
	"Host('a')",
	"PathRegexp(`(a`)",
	"Host(`a",
	"!!!((((",
	"",
}

func FuzzParseHTTP(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	reqs := []*Request{
		{R: &http.Request{Method: "GET", URL: &url.URL{Path: "/api/x", RawQuery: "k=v&q=1"}, Header: http.Header{"X-A": {`a"b\c`}}}, Host: "a.com", ClientIP: netip.MustParseAddr("10.0.0.1")},
		{R: &http.Request{Method: "POST", URL: &url.URL{Path: "/"}, Header: http.Header{}}, Host: "b"},
	}
	conns := []*Conn{{}, {SNI: "a", ClientIP: netip.MustParseAddr("::1")}}
	f.Fuzz(func(t *testing.T, expr string) {
		checkErr := func(err error) {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("%q: error %v is not a *SyntaxError", expr, err)
			}
			if se.Col < 1 || se.Col > len(expr)+1 || se.Msg == "" {
				t.Fatalf("%q: bad error %+v", expr, se)
			}
		}
		if r, err := ParseTCP(expr); err != nil {
			checkErr(err)
		} else {
			for _, c := range conns {
				r.Match(c)
			}
		}
		r, err := ParseHTTP(expr)
		if err != nil {
			checkErr(err)
			return
		}
		if r.String() != expr {
			t.Fatalf("String() = %q, want %q", r.String(), expr)
		}
		n, err := parse(expr, modeHTTP)
		if err != nil {
			t.Fatal(err)
		}
		hosts := r.Hosts()
		for _, req := range reqs {
			got := r.Match(req)
			if want := evalHTTP(n, req); got != want {
				t.Fatalf("%q: program says %v, tree says %v", expr, got, want)
			}
			if got && hosts != nil && !slices.Contains(hosts, req.Host) {
				t.Fatalf("%q matches host %q, not in Hosts() = %q", expr, req.Host, hosts)
			}
		}
	})
}

// FuzzQuery checks the query scanner against url.ParseQuery.
func FuzzQuery(f *testing.F) {
	f.Add("a=1&b=%32;c", "a", "1")
	f.Add("a+b=c+d&a%20b=%zz", "a b", "c d")
	f.Add("=&&=x", "", "x")
	f.Fuzz(func(t *testing.T, q, k, v string) {
		vals, _ := url.ParseQuery(q)
		_, present := vals[k]
		if got := (&matcher{kind: kQueryKey, a: k}).matchQuery(q); got != present {
			t.Fatalf("presence of %q in %q = %v, url.ParseQuery says %v", k, q, got, present)
		}
		if got, want := (&matcher{kind: kQuery, a: k, b: v}).matchQuery(q), slices.Contains(vals[k], v); got != want {
			t.Fatalf("%q=%q in %q = %v, url.ParseQuery says %v", k, v, q, got, want)
		}
	})
}
