// Package rule implements usher's router rule language: a lexer, a parser and
// compiled matchers for HTTP and TCP routers.
//
// A rule is a boolean expression of matchers, as in Traefik v3:
//
//	Host(`shop.example.com`) && (PathPrefix(`/api`) || Method("POST")) && !ClientIP(`10.0.0.0/8`)
//
// Operators are '!' (not), '&&' (and) and '||' (or); '!' binds tightest, then
// '&&', then '||'; parentheses group. Arguments are strings, either in backticks
// (raw, no escapes) or in double quotes (where \" and \\ are the only escapes),
// separated by commas; Bucket's percents may also be bare numbers (20, 0.5).
// Whitespace (space, tab, CR, LF) between tokens is ignored. Matcher names
// are case-sensitive.
//
// HTTP matchers (each argument is one string):
//
//	Host(host)              the request host equals host, which is compiled to
//	                        lowercase (Request.Host is lowercase by contract);
//	                        one trailing dot on either side and the brackets of
//	                        an IPv6 literal are ignored. host is ASCII, has no
//	                        port and no wildcard.
//	HostRegexp(re)          the request host (trailing dot removed) matches re, which
//	                        is anchored at both ends and case-insensitive.
//	Path(path)              R.URL.Path (decoded) equals path, which starts with '/'.
//	PathPrefix(prefix)      R.URL.Path starts with prefix, a plain string prefix
//	                        (PathPrefix(`/api`) matches "/apix"), starting with '/'.
//	PathRegexp(re)          R.URL.Path matches re (unanchored, case-sensitive).
//	Method(m)               R.Method equals m, ignoring ASCII case.
//	Header(key, value)      some value of header key equals value exactly; each
//	                        header line is one value (no splitting at commas).
//	HeaderRegexp(key, re)   some value of header key matches re (unanchored).
//	Query(key, value)       some query parameter named key has exactly value.
//	Query(key)              some query parameter is named key (any value).
//	QueryRegexp(key, re)    some query parameter named key has a value matching re
//	                        (unanchored).
//	ClientIP(ip-or-cidr)    the client IP is within the CIDR or equals the IP;
//	                        host bits of the CIDR are ignored, an IPv4-mapped
//	                        IPv6 client address is matched as IPv4, and an
//	                        invalid (zero) client address matches nothing.
//	Bucket(key, lo, hi)     the request's stable key falls in the percent range
//	                        [lo, hi): key is a source in weighted.bucketBy's
//	                        syntax (cookie:NAME, header:NAME, clientIP; not
//	                        claim:NAME, unknown before middlewares run), hashed
//	                        by package bucketkey to a point of [0, 100) that
//	                        depends on the key alone; lo and hi are numbers,
//	                        0 <= lo < hi <= 100, bare or quoted. A request
//	                        without the key matches no Bucket.
//
// TCP matchers:
//
//	HostSNI(host)           the TLS server name equals host, compiled as for Host
//	                        (Conn.SNI is lowercase by contract); HostSNI(`*`)
//	                        matches every connection, including those without SNI.
//	HostSNIRegexp(re)       the server name matches re, anchored, case-insensitive;
//	                        a connection without SNI is matched as the empty string.
//	ClientIP(ip-or-cidr)    as for HTTP.
//
// Query parameters are read from R.URL.RawQuery the way net/url.ParseQuery reads
// them: pairs split at '&', a pair containing ';' or a malformed percent-escape is
// ignored, keys and values are compared after percent-decoding with '+' as space.
//
// Everything that can be checked or compiled is, at parse time (regexps, CIDRs,
// canonical header names, lowercase hosts); Match does not allocate.
//
// Differences from Traefik v3, on purpose: HostRegexp and HostSNIRegexp are
// anchored and case-insensitive (Traefik matches them unanchored and
// case-sensitively); Query(key) tests presence (Traefik: key with an empty
// value); QueryRegexp takes exactly two arguments; Method ignores the case of
// the request's method too; Header(`Host`, ...), wildcard and port-carrying
// hosts and v2 forms such as {name:re} placeholders or Query(`k=v`) are
// refused with a hint instead of never matching.
package rule

import (
	"net/http"
	"net/netip"
	"slices"
	"strconv"
)

// SyntaxError is a malformed rule. Its Error reads "<Msg> at column <Col>", for
// example "expected ')' at column 23".
//
// Col is 1-based and counts bytes of the expression; an error at the end of the
// rule has Col len(expr)+1 and its Msg has no "got" part. Msg says what was
// expected or found, for example:
//
//	unknown matcher "Hots"; did you mean "Host"?
//	Path needs 1 argument, got 2
//	PathRegexp: invalid regexp: missing closing ): `(a`
//	unterminated string
//	expected '&&', '||' or end of rule, got 'x'
//
// Errors about an argument's value point at its opening quote; errors about the
// number of arguments point at the matcher name.
type SyntaxError struct {
	Col int
	Msg string
}

func (e *SyntaxError) Error() string { return e.Msg + " at column " + strconv.Itoa(e.Col) }

// Request is what an HTTP rule sees of a request. The server fills it once per
// request. R and R.URL must not be nil.
type Request struct {
	R        *http.Request
	Host     string     // lowercase, without port (the caller strips it); an IPv6 literal with or without brackets
	ClientIP netip.Addr // after trusted proxies; the zero Addr matches no ClientIP
}

// HTTPRule is a compiled HTTP rule. It is immutable and safe for concurrent use.
type HTTPRule struct {
	expr  string
	prog  []inst
	hosts []string // nil: any host
}

// ParseHTTP parses and compiles an HTTP rule. The error, if any, is a
// *SyntaxError.
func ParseHTTP(expr string) (*HTTPRule, error) {
	n, err := parse(expr, modeHTTP)
	if err != nil {
		return nil, err
	}
	return &HTTPRule{expr: expr, prog: compile(n), hosts: ruleHosts(n)}, nil
}

// Match reports whether req matches the rule. It evaluates operands left to
// right, stopping as soon as the result is known. It compiles nothing and does
// not allocate (but for QueryRegexp on a percent-encoded value over 1 KiB).
func (r *HTTPRule) Match(req *Request) bool {
	prog := r.prog
	pc := int32(0)
	host := normHost(req.Host)
	for pc >= 0 {
		in := &prog[pc]
		var ok bool
		if in.m.kind == kHost { // the common first test, inline
			ok = host == in.m.a
		} else {
			ok = in.m.matchHTTP(req)
		}
		if ok {
			pc = in.onTrue
		} else {
			pc = in.onFalse
		}
	}
	return pc == accept
}

// String returns the rule as it was written.
func (r *HTTPRule) String() string { return r.expr }

// Hosts returns the set of hosts one of which a request must have to match:
// lowercase, without trailing dot, sorted, without duplicates. It is derived
// from Host matchers combined with '&&' and '||' (under '!', a matcher says
// nothing). To use it as an index, look up Request.Host without its trailing dot.
//
// It returns nil when the rule can match other hosts too, for example
// PathPrefix(`/api`) or Host(`a`) || Path(`/`), and an empty non-nil slice when
// no host can match, as for Host(`a`) && Host(`b`). Examples:
//
//	Host(`a.com`) && Path(`/x`)               [a.com]
//	(Host(`a.com`) || Host(`b.com`)) && ...   [a.com b.com]
//	HostRegexp(`.*`)                          nil
//
// The caller owns the returned slice.
func (r *HTTPRule) Hosts() []string {
	if r.hosts == nil {
		return nil
	}
	return slices.Clone(r.hosts)
}

// Conn is what a TCP rule sees of a connection.
type Conn struct {
	SNI      string // lowercase, "" when none
	ClientIP netip.Addr
}

// TCPRule is a compiled TCP rule. It is immutable and safe for concurrent use.
type TCPRule struct {
	expr string
	prog []inst
}

// ParseTCP parses and compiles a TCP rule. The error, if any, is a
// *SyntaxError.
func ParseTCP(expr string) (*TCPRule, error) {
	n, err := parse(expr, modeTCP)
	if err != nil {
		return nil, err
	}
	return &TCPRule{expr: expr, prog: compile(n)}, nil
}

// Match reports whether c matches the rule. It neither allocates nor compiles.
func (r *TCPRule) Match(c *Conn) bool {
	prog := r.prog
	pc := int32(0)
	for pc >= 0 {
		in := &prog[pc]
		if in.m.matchTCP(c) {
			pc = in.onTrue
		} else {
			pc = in.onFalse
		}
	}
	return pc == accept
}

// String returns the rule as it was written.
func (r *TCPRule) String() string { return r.expr }
