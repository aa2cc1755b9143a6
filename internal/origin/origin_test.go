package origin

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct{ in, err string }{
		{"*", ""},
		{"https://app.example.com", ""},
		{"HTTPS://App.Example.com", ""},
		{"http://localhost:3000", ""},
		{"http://127.0.0.1:8080", ""},
		{"http://[::1]:8080", ""},
		{"chrome-extension://abcdefghijklmnop", ""},
		{"*.example.com", ""},
		{"https://*.example.com", ""},
		{"https://*.example.com:8443", ""},
		{"", "empty"},
		{"app.example.com", "has no scheme: write https://app.example.com"},
		{"https://app.example.com/", "is not an origin"},
		{"https://app.example.com/path", "is not an origin"},
		{"https://user@app.example.com", "is not an origin"},
		{"https://app.example.com:99999", "is not a port"},
		{"https://app.example.com:", "is not a port"},
		{"1https://x", "is not a scheme"},
		{"https://a.*.example.com", "leftmost labels only"},
		{"*example.com", "leftmost labels only"},
		{"*.*.example.com", "leftmost labels only"},
		{"https://*", "leftmost labels only"},
		{"https://exa mple.com", "is not an origin"},
		{"https://..com", "is not a host name"},
		{"null", "cannot be allowed"},
	} {
		_, err := Parse(c.in)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%q: %v", c.in, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: %v, want an error with %q", c.in, err, c.err)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern string
		yes     []string
		no      []string
	}{
		{"*", []string{"https://a.example", "null", "http://x:1"}, nil},
		{"https://app.example.com",
			[]string{"https://app.example.com", "HTTPS://APP.example.com"},
			[]string{"http://app.example.com", "https://app.example.com:443", "https://app.example.com.evil.com", "https://xapp.example.com", "null", ""}},
		{"*.example.com",
			[]string{"https://a.example.com", "http://a.example.com", "https://a.b.example.com", "https://A.EXAMPLE.COM"},
			[]string{"https://example.com", "https://a.example.com:8443", "ftp://a.example.com", "https://aexample.com", "https://a.example.com.evil", "https://evil.com/.example.com", "https://a..example.com", "https://.example.com", "a.example.com", "null"}},
		{"https://*.example.com:8443",
			[]string{"https://a.example.com:8443"},
			[]string{"https://a.example.com", "http://a.example.com:8443", "https://a.example.com:8444"}},
		{"http://[::1]:8080", []string{"http://[::1]:8080"}, []string{"http://[::1]", "http://[::2]:8080"}},
		{"https://app.example.com:443", []string{"https://app.example.com"}, []string{"http://app.example.com"}},
	} {
		p, err := Parse(c.pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range c.yes {
			if !p.Match(o) {
				t.Errorf("%q does not match %q", c.pattern, o)
			}
		}
		for _, o := range c.no {
			if p.Match(o) {
				t.Errorf("%q matches %q", c.pattern, o)
			}
		}
	}
	if (Pattern{}).Match("https://a.example") {
		t.Error("the zero pattern matches")
	}
}

func TestMatchAllocatesNothing(t *testing.T) {
	p, _ := Parse("*.example.com")
	if n := testing.AllocsPerRun(100, func() { p.Match("https://a.b.example.com") }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
