// Package stripprefix implements the stripPrefix middleware: it removes a path
// prefix before the request goes on, and tells the server which one in
// X-Forwarded-Prefix.
package stripprefix

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/usher-lb/usher/internal/config"
)

// ForwardedPrefixHeader is the request header that carries the stripped prefix.
const ForwardedPrefixHeader = "X-Forwarded-Prefix"

type prefix struct {
	path   string
	header []string // {path}, shared by every request: read-only, capacity 1
}

type stripPrefix struct {
	next     http.Handler
	prefixes []prefix
}

// New returns a handler that strips the first of cfg.Prefixes, in the order given,
// that r.URL.Path starts with, and passes the request to next. A request that no
// prefix matches goes to next unchanged.
//
// Matching is as in Traefik: a plain string prefix of the decoded path, not
// bounded by a '/': "/api" matches "/api", "/api/x" and also "/apis" (which
// becomes "/s"); "/api/" matches "/api/" and "/api/x" but not "/api". A result
// that does not start with '/' gets one: "/api" on "/api" gives "/".
//
// r.URL.RawPath, when set (the path has escapes that its decoded form loses,
// like %2F), is stripped of the same decoded bytes, so that the two stay
// consistent: prefix "/api/" on "/ap%69/a%2Fb" gives Path "/a/b" and RawPath
// "/a%2Fb". Where the rest starts with an escaped '/', it keeps it and gets a
// '/' of its own: "/api" on "/api%2Fx" gives Path "//x" and RawPath "/%2Fx". A
// RawPath that does not decode to Path is dropped.
//
// The X-Forwarded-Prefix request header is set to the prefix as configured,
// replacing any value the client sent. r.RequestURI, the request target as
// received, is left as it is.
//
// A stripped path that starts with a dot segment ("/api./x" gives "/./x") or
// whose ".." segments climb above its root ("/api/../x" gives "/../x") would name
// a path outside the prefix on a server that resolves dot segments: such a
// request is refused with 400 Bad Request and does not reach next.
//
// Each prefix must start with '/' and must not contain control characters; the
// list must not be empty. A request allocates only when its stripped path needs
// a '/' that was not there ("/apis" → "/s").
func New(_ context.Context, next http.Handler, cfg *config.StripPrefix, _ string) (http.Handler, error) {
	if cfg == nil || len(cfg.Prefixes) == 0 {
		return nil, fmt.Errorf("stripPrefix: prefixes is empty")
	}
	s := &stripPrefix{next: next, prefixes: make([]prefix, len(cfg.Prefixes))}
	for i, p := range cfg.Prefixes {
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("stripPrefix: prefix %q must start with /", p)
		}
		if strings.ContainsFunc(p, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
			return nil, fmt.Errorf("stripPrefix: prefix %q has a control character", p)
		}
		s.prefixes[i] = prefix{path: p, header: []string{p}[:1:1]}
	}
	return s, nil
}

func (s *stripPrefix) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	for i := range s.prefixes {
		p := &s.prefixes[i]
		if !strings.HasPrefix(path, p.path) {
			continue
		}
		newPath, newRaw := strip(path, r.URL.RawPath, p.path)
		if leavesRoot(newPath) {
			http.Error(w, "400 Bad Request: the path leaves the stripped prefix", http.StatusBadRequest)
			return
		}
		r.URL.Path, r.URL.RawPath = newPath, newRaw
		if r.Header == nil { // a request built in code
			r.Header = make(http.Header)
		}
		r.Header[ForwardedPrefixHeader] = p.header
		s.next.ServeHTTP(w, r)
		return
	}
	s.next.ServeHTTP(w, r)
}

// strip removes prefix from path, which starts with it, and the same decoded
// bytes from raw (the escaped form; "" when path has no escaped form of its own).
// Both results start with '/' and newRaw, when not "", decodes to newPath. Where
// there is a raw form, the leading '/' is decided on it, since it is what goes on
// the wire: a rest that starts with %2F gets a '/' of its own.
func strip(path, raw, prefix string) (newPath, newRaw string) {
	n := len(prefix)
	if raw == "" {
		return withSlash(path, n), ""
	}
	j, ok := rawOffset(raw, prefix)
	switch {
	case !ok: // raw is not an escaping of path: drop it, Path rules
		return withSlash(path, n), ""
	case j < len(raw) && raw[j] == '/': // a literal '/', decoded at path[n]
		return path[n:], raw[j:]
	case raw[j-1] == '/': // a literal '/' ends the prefix, decoded at path[n-1]
		return path[n-1:], raw[j-1:]
	}
	return "/" + path[n:], "/" + raw[j:]
}

// withSlash returns s[i:] starting with '/', reusing the '/' before i when there
// is one so as not to allocate.
func withSlash(s string, i int) string {
	switch {
	case i < len(s) && s[i] == '/':
		return s[i:]
	case i > 0 && s[i-1] == '/':
		return s[i-1:]
	}
	return "/" + s[i:]
}

// rawOffset returns the offset in raw where the decoded bytes of prefix end, or
// false when raw does not start with an escaping of prefix.
func rawOffset(raw, prefix string) (int, bool) {
	j := 0
	for i := 0; i < len(prefix); i++ {
		if j >= len(raw) {
			return 0, false
		}
		c := raw[j]
		if c == '%' {
			if j+2 >= len(raw) || !isHex(raw[j+1]) || !isHex(raw[j+2]) {
				return 0, false
			}
			c = unhex(raw[j+1])<<4 | unhex(raw[j+2])
			j += 3
		} else {
			j++
		}
		if c != prefix[i] {
			return 0, false
		}
	}
	return j, true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// leavesRoot tells whether path (starting with '/') starts with a "." or ".."
// segment, or has ".." segments that climb above its root.
func leavesRoot(path string) bool {
	depth := 0
	for first := true; len(path) > 0; first = false {
		path = path[1:] // the '/'
		i := strings.IndexByte(path, '/')
		if i < 0 {
			i = len(path)
		}
		switch seg := path[:i]; seg {
		case ".", "..":
			if first || seg == ".." && depth == 0 {
				return true
			}
			if seg == ".." {
				depth--
			}
		case "":
		default:
			depth++
		}
		path = path[i:]
	}
	return false
}
