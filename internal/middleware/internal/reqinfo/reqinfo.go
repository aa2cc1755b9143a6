// Package reqinfo reads, without allocating, what the middlewares need to know
// about a request as the client sent it: its scheme, its request target and its
// host without the port.
package reqinfo

import (
	"net/http"
	"strings"
)

// Scheme returns "https" or "http": the scheme of the request as the client sent
// it. It is the first value of the X-Forwarded-Proto request header when that is
// http or https (ws and wss count as http and https), compared without regard to
// case; the entrypoint has already set or sanitised that header. Otherwise it is
// "https" when r.TLS is set and "http" when not.
func Scheme(r *http.Request) string {
	if v := r.Header["X-Forwarded-Proto"]; len(v) > 0 {
		p := v[0]
		if i := strings.IndexByte(p, ','); i >= 0 {
			p = p[:i]
		}
		p = strings.TrimSpace(p)
		switch {
		case strings.EqualFold(p, "https"), strings.EqualFold(p, "wss"):
			return "https"
		case strings.EqualFold(p, "http"), strings.EqualFold(p, "ws"):
			return "http"
		}
	}
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// IsHTTPS tells whether Scheme(r) is "https".
func IsHTTPS(r *http.Request) bool { return Scheme(r) == "https" }

// RequestURI returns the path and query of the request target as the client sent
// it (r.RequestURI), not as earlier middlewares may have rewritten r.URL: a
// redirect must send the client back to what it asked for. For an absolute-form
// target (http://host/path?q) it is the part from the path on ("/" when the path
// is empty). When r.RequestURI is empty (a request built in code) or is not a
// path (the "*" of OPTIONS *), it is r.URL.RequestURI(), or "/" if that is not a
// path either.
func RequestURI(r *http.Request) string {
	u := r.RequestURI
	if u != "" && u[0] != '/' {
		if i := strings.Index(u, "://"); i > 0 {
			rest := u[i+3:]
			if j := strings.IndexAny(rest, "/?"); j >= 0 {
				if rest[j] == '?' {
					return "/" + rest[j:]
				}
				return rest[j:]
			}
			return "/"
		}
		u = ""
	}
	if u == "" {
		u = r.URL.RequestURI()
		if u == "" || u[0] != '/' {
			return "/"
		}
	}
	return u
}

// Hostname returns host (a Host header value) without its port. An IPv6 address
// keeps its brackets ("[::1]:8080" → "[::1]"); a bare IPv6 address with no
// brackets ("::1") is returned in brackets, as it must be written in a URL.
func Hostname(host string) string {
	if host == "" {
		return ""
	}
	if host[0] == '[' {
		if i := strings.IndexByte(host, ']'); i > 0 {
			return host[:i+1]
		}
		return host
	}
	i := strings.IndexByte(host, ':')
	if i < 0 {
		return host
	}
	if strings.IndexByte(host[i+1:], ':') >= 0 { // more than one colon: bare IPv6
		return "[" + host + "]"
	}
	return host[:i]
}
