package urlpath

import (
	"bufio"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestNormalizeRequest(t *testing.T) {
	tests := []struct {
		method, target          string
		allow                   bool
		path, raw, uri, escaped string // after; uri "" = unchanged
		err                     error
	}{
		{method: "GET", target: "/a/b?x=1", path: "/a/b", uri: "/a/b?x=1", escaped: "/a/b"},
		{method: "GET", target: "/a/../admin?x=/../&y", path: "/admin", uri: "/admin?x=/../&y", escaped: "/admin"},
		{method: "GET", target: "//admin", path: "/admin", uri: "/admin", escaped: "/admin"},
		{method: "GET", target: "/%2e%2e/%61dmin?", path: "/admin", uri: "/admin?", escaped: "/admin"},
		{method: "GET", target: "/a%3bb/%c3%a9", path: "/a;b/\xc3\xa9", raw: "/a%3Bb/%C3%A9", uri: "/a%3Bb/%C3%A9", escaped: "/a%3Bb/%C3%A9"},
		{method: "GET", target: "/public\\..\\admin", path: "/admin", uri: "/admin", escaped: "/admin"},
		{method: "GET", target: "/a%2Fb", err: ErrEncodedSlash},
		{method: "GET", target: "/a%2Fb/../c", allow: true, path: "/c", uri: "/c", escaped: "/c"},
		{method: "GET", target: "/a%2fb", allow: true, path: "/a/b", raw: "/a%2Fb", uri: "/a%2Fb", escaped: "/a%2Fb"},
		{method: "GET", target: "/a%00", err: ErrNUL},
		{method: "GET", target: "/..;/admin", err: ErrPathParam},
		{method: "GET", target: "http://shop.example/x/../admin?q", path: "/admin", uri: "/admin?q", escaped: "/admin"},
		{method: "GET", target: "http://shop.example/admin?q", path: "/admin", uri: "http://shop.example/admin?q", escaped: "/admin"},
		{method: "GET", target: "http://shop.example", path: "/", uri: "/", escaped: "/"},
		{method: "GET", target: "http://shop.example?q=1", path: "/", uri: "/?q=1", escaped: "/"},
		{method: "OPTIONS", target: "*", path: "*", uri: "*", escaped: "*"},
	}
	for _, tc := range tests {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(tc.method + " " + tc.target + " HTTP/1.1\r\nHost: shop.example\r\n\r\n")))
		if err != nil {
			t.Fatalf("%s: %v", tc.target, err)
		}
		query := r.URL.RawQuery
		err = NormalizeRequest(r, tc.allow)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: error %v, want %v", tc.target, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.target, err)
			continue
		}
		if r.URL.Path != tc.path || r.URL.RawPath != tc.raw || r.RequestURI != tc.uri || r.URL.EscapedPath() != tc.escaped || r.URL.RawQuery != query {
			t.Errorf("%s: Path %q RawPath %q RequestURI %q EscapedPath %q RawQuery %q; want %q %q %q %q %q",
				tc.target, r.URL.Path, r.URL.RawPath, r.RequestURI, r.URL.EscapedPath(), r.URL.RawQuery, tc.path, tc.raw, tc.uri, tc.escaped, query)
		}
	}
}

func TestNormalizeRequestDoesNotAllocateWhenNormal(t *testing.T) {
	r, _ := http.ReadRequest(bufio.NewReader(strings.NewReader("GET /api/v1/items%3B/42?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")))
	if n := testing.AllocsPerRun(100, func() {
		if err := NormalizeRequest(r, false); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
