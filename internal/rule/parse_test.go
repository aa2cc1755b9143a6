package rule

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	deep := strings.Repeat("(", maxDepth+1) + "Host(`a`)" + strings.Repeat(")", maxDepth+1)
	tests := []struct {
		expr string
		col  int
		msg  string
	}{
		{"", 1, "empty rule"},
		{"   ", 1, "empty rule"},
		{"Hots(`a`)", 1, `unknown matcher "Hots"; did you mean "Host"?`},
		{"host(`a`)", 1, `unknown matcher "host"; did you mean "Host"?`},
		{"Headers(`X`, `y`)", 1, `unknown matcher "Headers"; did you mean "Header"?`},
		{"Foo(`x`)", 1, `unknown matcher "Foo" (known: Host, HostRegexp, Path, PathPrefix, PathRegexp, Method, Header, HeaderRegexp, Query, QueryRegexp, ClientIP, Bucket)`},
		{"HostSNI(`a`)", 1, "HostSNI is a TCP matcher, not allowed in an HTTP rule"},
		{"Host(`a`) && Path(`/`, `/b`)", 14, "Path needs 1 argument, got 2"},
		{"Host()", 1, "Host needs 1 argument, got 0"},
		{"Header(`X-A`)", 1, "Header needs 2 arguments, got 1"},
		{"Query(`a`, `b`, `c`)", 1, "Query needs 1 or 2 arguments, got 3"},
		{"QueryRegexp(`a`)", 1, "QueryRegexp needs 2 arguments, got 1"},
		{"(Host(`a`) && Path(`/`)", 24, "expected ')'"},
		{"(Host(`a`) Path(`/`))", 12, "expected '&&', '||' or ')', got 'Path'"},
		{"Host(`a`) x", 11, "expected '&&', '||' or end of rule, got 'x'"},
		{"Host(`a`) (Path(`/`))", 11, "expected '&&', '||' or end of rule, got '('"},
		{"Host(`a`) & Path(`/`)", 11, "expected '&&', got '&'"},
		{"Host(`a`) | Path(`/`)", 11, "expected '||', got '|'"},
		{"Host(`a`) &&& Path(`/`)", 13, "expected '&&', got '&'"},
		{"Host(`a`) &&", 13, "expected matcher, '!' or '('"},
		{"Path(`/`) && !", 15, "expected matcher, '!' or '('"},
		{"&& Host(`a`)", 1, "expected matcher, '!' or '(', got '&&'"},
		{"Host(`a`) && ()", 15, "expected matcher, '!' or '(', got ')'"},
		{"`a`", 1, "expected matcher, '!' or '(', got string"},
		{"Host", 5, "expected '(' after Host"},
		{"Host && Path(`/`)", 6, "expected '(' after Host, got '&&'"},
		{"Host(a)", 6, "expected string argument, got 'a'"},
		{"Host(`a`,)", 10, "expected string argument, got ')'"},
		{"Host(`a` `b`)", 10, "expected ',' or ')', got string"},
		{"Host(`a`", 9, "expected ',' or ')'"},
		{"Host(`a", 6, "unterminated string"},
		{`Host("a`, 6, "unterminated string"},
		{`Host("a\`, 6, "unterminated string"},
		{`Host("a\d")`, 8, `invalid escape '\d' in string; only \" and \\ are escapes, use backticks for regexps`},
		{"Host('a')", 6, `unexpected character '\''; quote strings with backticks or double quotes`},
		{"Host(“a”)", 6, `unexpected character '“'; quote strings with backticks or double quotes`},
		{"Host(`a`) # x", 11, `unexpected character '#'`},
		{"Path(`/é`) x", 13, "expected '&&', '||' or end of rule, got 'x'"},
		{"PathRegexp(`(a`)", 12, "PathRegexp: invalid regexp: missing closing ): `(a`"},
		{"HeaderRegexp(`X`, `a**`)", 19, "HeaderRegexp: invalid regexp: invalid nested repetition operator: `**`"},
		{"HostRegexp(``)", 12, "HostRegexp: empty regexp"},
		{"HostRegexp(`{sub:[a-z]+}.example.com`)", 12, "HostRegexp: {name:regexp} placeholders are Traefik v2 syntax; write the regexp alone"},
		{"Path(`api`)", 6, `Path: path "api" must start with '/'`},
		{"PathPrefix(``)", 12, `PathPrefix: path "" must start with '/'`},
		{"Host(``)", 6, "Host: empty host"},
		{"Host(`.`)", 6, "Host: empty host"},
		{"Host(`*.example.com`)", 6, "Host: wildcard host \"*.example.com\" is not supported; use HostRegexp(`[a-z0-9-]+\\.example\\.com`)"},
		{"Host(`example.com:8080`)", 6, `Host: host "example.com:8080" has a port; hosts are matched without port`},
		{"Host(`[::1]:80`)", 6, `Host: host "[::1]:80" has a port; hosts are matched without port`},
		{"Host(`https://example.com`)", 6, `Host: invalid host "https://example.com"; want a bare host name like example.com`},
		{"Host(`a b`)", 6, `Host: invalid character ' ' in host "a b"`},
		{"Host(`bücher.de`)", 6, `Host: non-ASCII host "bücher.de"; write it in its punycode (xn--) form`},
		{"Method(`GET,POST`)", 8, "Method: one method per matcher; write Method(`GET`) || Method(`HEAD`)"},
		{"Method(`G(ET`)", 8, `Method: invalid method "G(ET"`},
		{"Header(`Host`, `a`)", 8, "Header: the Host header is not in the header map; use Host or HostRegexp"},
		{"Header(`X A`, `a`)", 8, `Header: invalid header name "X A"`},
		{"Query(`a=b`)", 7, "Query: key \"a=b\" contains '='; write Query(`a`, `b`)"},
		{"Query(``)", 7, "Query: empty query key"},
		{"ClientIP(`10.0.0.0/33`)", 10, `ClientIP: invalid CIDR "10.0.0.0/33"`},
		{"ClientIP(`foo`)", 10, `ClientIP: invalid IP or CIDR "foo"`},
		{deep, maxDepth + 1, "rule nested too deeply (more than 100 levels of '(' and '!')"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			r, err := ParseHTTP(tt.expr)
			if err == nil {
				t.Fatalf("ParseHTTP(%q) = %v, want error", tt.expr, r)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v is not a *SyntaxError", err, err)
			}
			if se.Col != tt.col || se.Msg != tt.msg {
				t.Errorf("ParseHTTP(%q):\n got col %d msg %s\nwant col %d msg %s", tt.expr, se.Col, se.Msg, tt.col, tt.msg)
			}
		})
	}
}

func TestParseTCPErrors(t *testing.T) {
	tests := []struct {
		expr string
		col  int
		msg  string
	}{
		{"Host(`a`)", 1, "Host is an HTTP matcher, not allowed in a TCP rule"},
		{"HostSN(`a`)", 1, `unknown matcher "HostSN"; did you mean "HostSNI"?`},
		{"HostSNI(`*.a.com`)", 9, "HostSNI: wildcard host \"*.a.com\" is not supported; use HostSNIRegexp(`[a-z0-9-]+\\.example\\.com`)"},
		{"HostSNI(`a`, `b`)", 1, "HostSNI needs 1 argument, got 2"},
		{"HostSNIRegexp(`[`)", 15, "HostSNIRegexp: invalid regexp: missing closing ]: `[`"},
		{"HostSNI(`a`) ||", 16, "expected matcher, '!' or '('"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := ParseTCP(tt.expr)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("ParseTCP(%q) error = %v, want a *SyntaxError", tt.expr, err)
			}
			if se.Col != tt.col || se.Msg != tt.msg {
				t.Errorf("ParseTCP(%q):\n got col %d msg %s\nwant col %d msg %s", tt.expr, se.Col, se.Msg, tt.col, tt.msg)
			}
		})
	}
}

func TestSyntaxErrorString(t *testing.T) {
	err := &SyntaxError{Col: 23, Msg: "expected ')'"}
	if got, want := err.Error(), "expected ')' at column 23"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestParseValid(t *testing.T) {
	for _, expr := range []string{
		"Host(`a.com`)",
		" \tHost( `a.com`\n) \r\n",
		"Host(`a.com`)&&Path(`/`)||!Method(`GET`)",
		`Host("a.com") && Header("X-Quote", "say \"hi\" \\ bye")`,
		"((((Host(`a`)))))",
		"!!!Host(`a`)",
		"HostRegexp(`^[a-z]+\\.example\\.com$`)",
		"PathRegexp(`\\d+`)",
		"Query(`a`) && Query(`b`, ``) && QueryRegexp(`c`, `x`)",
		"Header(`x-a`, ``) && HeaderRegexp(`X-B`, `.`)",
		"ClientIP(`10.0.0.0/8`) || ClientIP(`::1`) || ClientIP(`192.168.1.7`) || ClientIP(`::ffff:10.0.0.0/104`)",
		"Host(`[::1]`) || Host(`::1`) || Host(`127.0.0.1`) || Host(`under_score.local`)",
		strings.Repeat("(", maxDepth) + "Host(`a`)" + strings.Repeat(")", maxDepth),
	} {
		r, err := ParseHTTP(expr)
		if err != nil {
			t.Errorf("ParseHTTP(%q): %v", expr, err)
			continue
		}
		if r.String() != expr {
			t.Errorf("String() = %q, want %q", r.String(), expr)
		}
	}
	for _, expr := range []string{"HostSNI(`*`)", "HostSNI(`A.com.`) && !ClientIP(`10.0.0.0/8`)", "HostSNIRegexp(`.*`)"} {
		r, err := ParseTCP(expr)
		if err != nil {
			t.Errorf("ParseTCP(%q): %v", expr, err)
			continue
		}
		if r.String() != expr {
			t.Errorf("String() = %q, want %q", r.String(), expr)
		}
	}
}

func TestDoubleQuotedEscapes(t *testing.T) {
	r, err := ParseHTTP(`Header("X-A", "a\"b\\c")`)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.prog[0].m.b; got != `a"b\c` {
		t.Errorf("value = %q, want %q", got, `a"b\c`)
	}
}

func TestHosts(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{"Host(`A.com`)", []string{"a.com"}},
		{"Host(`a.com.`) && PathPrefix(`/api`)", []string{"a.com"}},
		{"PathPrefix(`/api`) && Host(`a.com`) && Method(`GET`)", []string{"a.com"}},
		{"(Host(`b.com`) || Host(`a.com`)) && Path(`/`)", []string{"a.com", "b.com"}},
		{"Host(`a.com`) || Host(`a.com`)", []string{"a.com"}},
		{"(Host(`a.com`) || Host(`b.com`)) && (Host(`b.com`) || Host(`c.com`))", []string{"b.com"}},
		{"Host(`a.com`) && Host(`b.com`)", []string{}},
		{"Host(`[::1]`)", []string{"::1"}},
		{"PathPrefix(`/api`)", nil},
		{"Host(`a.com`) || Path(`/`)", nil},
		{"!Host(`a.com`)", nil},
		{"!!Host(`a.com`)", nil}, // conservative: '!' says nothing
		{"HostRegexp(`a\\.com`)", nil},
		{"Host(`a.com`) && !Host(`b.com`)", []string{"a.com"}},
	}
	for _, tt := range tests {
		r, err := ParseHTTP(tt.expr)
		if err != nil {
			t.Fatalf("ParseHTTP(%q): %v", tt.expr, err)
		}
		got := r.Hosts()
		if !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
			t.Errorf("Hosts(%q) = %#v, want %#v", tt.expr, got, tt.want)
		}
	}
}

func TestHostsCallerOwnsSlice(t *testing.T) {
	r, err := ParseHTTP("Host(`a.com`)")
	if err != nil {
		t.Fatal(err)
	}
	r.Hosts()[0] = "evil"
	if got := r.Hosts()[0]; got != "a.com" {
		t.Errorf("Hosts()[0] = %q after caller's write, want a.com", got)
	}
}
