// Package origin matches the Origin of a browser's request against the
// origins a config allows: exact ones, patterns of subdomains, or any.
package origin

import (
	"fmt"
	"strings"
)

// Pattern is one allowed origin, parsed. The zero Pattern matches nothing.
type Pattern struct {
	any    bool
	exact  string // the origin, lowercase; "" for a pattern of subdomains
	scheme string // of a pattern; "" = http or https
	suffix string // of a pattern: ".example.com"
	port   string // of a pattern: the port after the host, "" = none written
}

// Parse reads one allowed origin:
//   - "*": any origin;
//   - exact, scheme://host[:port] ("https://app.example.com",
//     "http://localhost:3000"), compared without regard to case; no path,
//     query, user or trailing slash;
//   - a pattern of subdomains, [scheme://]*.domain[:port]: "*.example.com"
//     matches http and https origins of any subdomain of example.com, at any
//     depth (a.example.com, a.b.example.com), with no port;
//     "https://*.example.com:8443" only https ones on port 8443. It never
//     matches example.com itself: list that too.
func Parse(s string) (Pattern, error) {
	if s == "*" {
		return Pattern{any: true}, nil
	}
	if s == "" {
		return Pattern{}, fmt.Errorf("an empty origin")
	}
	if s == "null" {
		return Pattern{}, fmt.Errorf(`the origin "null" cannot be allowed: sandboxed documents and local files send it, and any site can make one; write "*" for any origin`)
	}
	l := strings.ToLower(s)
	scheme, rest, hasScheme := strings.Cut(l, "://")
	if !hasScheme {
		scheme, rest = "", l
	}
	if hasScheme && !validScheme(scheme) {
		return Pattern{}, fmt.Errorf("%q: %q is not a scheme", s, scheme)
	}
	if strings.ContainsAny(rest, "/?#@ \t") {
		return Pattern{}, fmt.Errorf("%q is not an origin: write scheme://host[:port], without path, query or user (like https://app.example.com)", s)
	}
	host, port := splitPort(rest)
	if (port != "" || strings.HasSuffix(rest, ":")) && !validPort(port) {
		return Pattern{}, fmt.Errorf("%q: %q is not a port", s, port)
	}
	if strings.Contains(host, "*") {
		dom, ok := strings.CutPrefix(host, "*.")
		if !ok || strings.Contains(dom, "*") || !validDomain(dom) {
			return Pattern{}, fmt.Errorf("%q: a wildcard stands for the leftmost labels only, like *.example.com or https://*.example.com", s)
		}
		return Pattern{scheme: scheme, suffix: "." + dom, port: port}, nil
	}
	if !hasScheme {
		return Pattern{}, fmt.Errorf("%q has no scheme: write https://%s (an origin is scheme://host[:port]), or *.%s for its subdomains", s, s, s)
	}
	if host == "" || !(validDomain(host) || validBracketIP(host)) {
		return Pattern{}, fmt.Errorf("%q: %q is not a host name or IP address", s, host)
	}
	// Browsers never write the scheme's default port in an Origin.
	if scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		l = scheme + "://" + host
	}
	return Pattern{exact: l}, nil
}

// Any tells whether p is "*".
func (p Pattern) Any() bool { return p.any }

// Match tells whether origin, an Origin header's value, is one p allows.
// "null" (sandboxed documents, local files, some redirects) is matched only
// by "*".
func (p Pattern) Match(origin string) bool {
	switch {
	case p.any:
		return true
	case p.exact != "":
		return strings.EqualFold(origin, p.exact)
	case p.suffix == "":
		return false
	}
	scheme, rest, ok := strings.Cut(origin, "://")
	if !ok {
		return false
	}
	if p.scheme != "" {
		if !strings.EqualFold(scheme, p.scheme) {
			return false
		}
	} else if !strings.EqualFold(scheme, "https") && !strings.EqualFold(scheme, "http") {
		return false
	}
	host, port := splitPort(rest)
	if port != p.port {
		return false
	}
	n := len(host) - len(p.suffix)
	if n <= 0 || !strings.EqualFold(host[n:], p.suffix) {
		return false
	}
	// What the wildcard stands for must be labels, so that no byte a
	// browser would not send makes a match.
	return validDomain(host[:n])
}

// splitPort cuts host[:port]; a bracketed IPv6 host keeps its brackets.
func splitPort(s string) (host, port string) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 || strings.IndexByte(s[i:], ']') >= 0 {
		return s, ""
	}
	return s[:i], s[i+1:]
}

func validScheme(s string) bool {
	if s == "" || !('a' <= s[0] && s[0] <= 'z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func validPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n <= 65535
}

// validDomain tells whether s is dot-separated labels of letters, digits,
// '-' and '_' (IPv4 addresses are such labels too).
func validDomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'):
			return false
		}
		if label++; label > 63 {
			return false
		}
	}
	return label > 0
}

func validBracketIP(s string) bool {
	if len(s) < 3 || s[0] != '[' || s[len(s)-1] != ']' {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || c == ':' || c == '.') {
			return false
		}
	}
	return true
}
