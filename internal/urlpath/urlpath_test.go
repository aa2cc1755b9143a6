package urlpath

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		in    string
		allow bool // allowEncodedSlash
		want  string
		err   error
	}{
		// already normal: returned as is
		{in: "/", want: "/"},
		{in: "/admin", want: "/admin"},
		{in: "/a/b/", want: "/a/b/"},
		{in: "/ADMIN", want: "/ADMIN"}, // case kept
		{in: "/a%20b/%C3%A9", want: "/a%20b/%C3%A9"},
		{in: "/a;b=c/d:e@f!$&'()*+,;=", want: "/a;b=c/d:e@f!$&'()*+,;="},
		{in: "/...", want: "/..."},
		{in: "/a..b/.c/..d", want: "/a..b/.c/..d"},
		{in: "/a[0]", want: "/a[0]"},
		{in: "/jsp/page;jsessionid=ABC", want: "/jsp/page;jsessionid=ABC"},

		// dot segments (RFC 3986 5.2.4)
		{in: "/a/./b", want: "/a/b"},
		{in: "/./admin", want: "/admin"},
		{in: "/a/../../b", want: "/b"},
		{in: "/public/../admin", want: "/admin"},
		{in: "/..", want: "/"},
		{in: "/.", want: "/"},
		{in: "/a/b/..", want: "/a/"},
		{in: "/a/b/.", want: "/a/b/"},
		{in: "/a/b/../", want: "/a/"},
		{in: "/a/./../b/./c/..", want: "/b/"},
		{in: "/../../../etc/passwd", want: "/etc/passwd"},

		// %2e is a dot
		{in: "/%2e%2e/admin", want: "/admin"},
		{in: "/%2E./admin", want: "/admin"},
		{in: "/.%2e/admin", want: "/admin"},
		{in: "/public/%2e%2E/admin", want: "/admin"},
		{in: "/%2e/admin", want: "/admin"},
		{in: "/a/%2e%2e", want: "/"},

		// repeated slashes
		{in: "//admin", want: "/admin"},
		{in: "///a//b///", want: "/a/b/"},
		{in: "//", want: "/"},
		{in: "/a//../b", want: "/b"}, // merged first, as nginx and path.Clean do

		// unreserved escapes decoded, the others uppercased
		{in: "/%61dmin", want: "/admin"},
		{in: "/%41%5a%30%2D%5f%7E", want: "/AZ0-_~"},
		{in: "/a%3bb", want: "/a%3Bb"},
		{in: "/a%3Fb%23c", want: "/a%3Fb%23c"},
		{in: "/%c3%a9", want: "/%C3%A9"},
		{in: "/%252e/", want: "/%252e/"}, // never decoded twice
		{in: "/%252e%252e/admin", want: "/%252e%252e/admin"},
		{in: "/%25", want: "/%25"},

		// raw bytes that must be escaped
		{in: "/a\"b<c>d", want: "/a%22b%3Cc%3Ed"},
		{in: "/a^b`c{d|e}", want: "/a%5Eb%60c%7Bd%7Ce%7D"},
		{in: "/a#b", want: "/a%23b"},
		{in: "/caf\xc3\xa9", want: "/caf%C3%A9"},
		{in: "/a b", want: "/a%20b"},

		// a raw backslash is a slash
		{in: "/public\\..\\admin", want: "/admin"},
		{in: "/\\admin", want: "/admin"},
		{in: "\\admin", want: "/admin"},
		{in: "/a\\b", want: "/a/b"},

		// encoded slash and backslash
		{in: "/%2fadmin", err: ErrEncodedSlash},
		{in: "/%2Fadmin", err: ErrEncodedSlash},
		{in: "/a%5cb", err: ErrEncodedSlash},
		{in: "/a%5Cb", err: ErrEncodedSlash},
		{in: "/%2fadmin", allow: true, want: "/%2Fadmin"},
		{in: "/a%2F..%2Fb", allow: true, want: "/a%2F..%2Fb"}, // one segment
		{in: "/a%5cb", allow: true, want: "/a%5Cb"},
		{in: "/a%2Fb", allow: true, want: "/a%2Fb"},

		// NUL and controls: always refused
		{in: "/a%00", err: ErrNUL},
		{in: "/a%00", allow: true, err: ErrNUL},
		{in: "/a\x00", err: ErrNUL},
		{in: "/a\x01b", err: ErrControl},
		{in: "/a\x7f", err: ErrControl},
		{in: "/a\r\nb", err: ErrControl},

		// malformed escapes
		{in: "/a%", err: ErrBadEscape},
		{in: "/a%4", err: ErrBadEscape},
		{in: "/a%zz", err: ErrBadEscape},
		{in: "/a%%41", err: ErrBadEscape},

		// path parameters that make an empty or dot segment (Tomcat, Jetty)
		{in: "/..;/admin", err: ErrPathParam},
		{in: "/.;/admin", err: ErrPathParam},
		{in: "/;x/admin", err: ErrPathParam},
		{in: "/public/..;x/admin", err: ErrPathParam},
		{in: "/%2e%2e;/admin", err: ErrPathParam},
		{in: "/a/;/b", err: ErrPathParam},
		{in: "//;/admin", err: ErrPathParam},

		// empty and other forms
		{in: "", want: "/"},
		{in: "*", err: ErrNotAbsolute},
		{in: "admin", err: ErrNotAbsolute},
	}
	for _, tc := range tests {
		got, changed, err := Normalize(tc.in, tc.allow)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("Normalize(%q, %v) = %q, %v; want error %v", tc.in, tc.allow, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Normalize(%q, %v) = %q, %v; want %q", tc.in, tc.allow, got, err, tc.want)
			continue
		}
		if changed != (tc.in != tc.want) {
			t.Errorf("Normalize(%q): changed = %v", tc.in, changed)
		}
		// What net/url makes of the result is the same path.
		u, err := url.ParseRequestURI(got)
		if err != nil {
			t.Errorf("Normalize(%q) = %q: net/url: %v", tc.in, got, err)
			continue
		}
		if dec := Unescape(got); u.Path != dec {
			t.Errorf("Normalize(%q) = %q: Unescape = %q, net/url's Path %q", tc.in, got, dec, u.Path)
		}
	}
}

func TestNormalPathDoesNotAllocate(t *testing.T) {
	p := "/api/v1/users/42/orders;page=2/%C3%A9t%C3%A9/"
	if n := testing.AllocsPerRun(100, func() {
		if _, changed, err := Normalize(p, false); changed || err != nil {
			t.Fatal("not normal")
		}
		_ = Unescape("/no/escapes")
	}); n != 0 {
		t.Errorf("%v allocations for a normal path", n)
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"/", "/a/./b", "/a/../../b", "//admin", "/%2e%2e/admin", "/%2E./admin",
		"/.%2e/admin", "/%2fadmin", "/%252e/", "/a%00", "/a/..", "/..;/admin", "", "/a\\..\\b", "/%C3%A9/%7e"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, p string, allow bool) {
		if p != "" && p[0] != '/' {
			p = "/" + p
		}
		out, _, err := Normalize(p, allow)
		if err != nil {
			return
		}
		again, changed, err := Normalize(out, allow)
		if err != nil || changed || again != out {
			t.Fatalf("Normalize(%q) = %q, then %q %v %v: not idempotent", p, out, again, changed, err)
		}
		if !IsNormal(out, allow) {
			t.Fatalf("Normalize(%q) = %q is not normal", p, out)
		}
		if strings.Contains(out, "//") {
			t.Fatalf("Normalize(%q) = %q has //", p, out)
		}
		if strings.Contains(out, "\\") {
			t.Fatalf("Normalize(%q) = %q has a backslash", p, out)
		}
		for _, seg := range strings.Split(out, "/") {
			if seg == ".." || seg == "." {
				t.Fatalf("Normalize(%q) = %q has a dot segment", p, out)
			}
		}
		dec := Unescape(out)
		if !allow {
			// Without encoded slashes the decoded path has the same segments.
			if strings.Contains(dec, "//") {
				t.Fatalf("Normalize(%q) = %q decodes to %q with //", p, out, dec)
			}
			for _, seg := range strings.Split(dec, "/") {
				if seg == ".." || seg == "." {
					t.Fatalf("Normalize(%q) = %q decodes to %q with a dot segment", p, out, dec)
				}
			}
		}
		u, err := url.ParseRequestURI(out)
		if err != nil {
			t.Fatalf("Normalize(%q) = %q: net/url: %v", p, out, err)
		}
		if u.Path != dec {
			t.Fatalf("Normalize(%q) = %q: Unescape %q, net/url %q", p, out, dec, u.Path)
		}
	})
}

func BenchmarkNormalize(b *testing.B) {
	for _, p := range []string{"/products/42/reviews", "/a/./b/../c//d%2e%2e/%7e"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Normalize(p, false)
			}
		})
	}
}
