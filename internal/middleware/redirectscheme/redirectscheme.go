// Package redirectscheme implements the redirectScheme middleware: it redirects
// requests to the same URL on another scheme (and port).
package redirectscheme

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/internal/reqinfo"
)

type redirectScheme struct {
	next   http.Handler
	scheme string // "http" or "https"
	start  string // scheme + "://"
	port   string // ":port", or "" for the scheme's default port
	status int
}

// New returns a handler that redirects a request whose scheme is not cfg.Scheme
// to the same URL on cfg.Scheme, with status 307 Temporary Redirect, or 308
// Permanent Redirect when cfg.Permanent; both keep the method and body. A
// request already on cfg.Scheme goes to next, whatever its port.
//
// The request's scheme is the X-Forwarded-Proto request header (set or
// sanitised by the entrypoint), else https when r.TLS is set, else http.
//
// Location is cfg.Scheme://host[:port]/path?query where host is r.Host without
// its port, port is cfg.Port (none when cfg.Port is empty or the scheme's
// default, 80 for http and 443 for https) and /path?query is the request target
// as the client sent it (r.RequestURI), not as earlier middlewares rewrote it. A
// request with no Host gets 400 Bad Request. The response has no body.
//
// cfg.Scheme must be http or https (any case); cfg.Port, when set, a number
// from 1 to 65535.
func New(_ context.Context, next http.Handler, cfg *config.RedirectScheme, _ string) (http.Handler, error) {
	if cfg == nil || cfg.Scheme == "" {
		return nil, fmt.Errorf("redirectScheme: scheme is empty")
	}
	rs := &redirectScheme{next: next, status: http.StatusTemporaryRedirect}
	if cfg.Permanent {
		rs.status = http.StatusPermanentRedirect
	}
	var def string
	switch s := strings.ToLower(cfg.Scheme); s {
	case "http":
		rs.scheme, def = "http", "80"
	case "https":
		rs.scheme, def = "https", "443"
	default:
		return nil, fmt.Errorf("redirectScheme: scheme %q is not http or https", cfg.Scheme)
	}
	rs.start = rs.scheme + "://"
	if p := cfg.Port; p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 || p[0] == '+' {
			return nil, fmt.Errorf("redirectScheme: port %q is not a number from 1 to 65535", p)
		}
		if p = strconv.Itoa(n); p != def {
			rs.port = ":" + p
		}
	}
	return rs, nil
}

func (rs *redirectScheme) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if reqinfo.Scheme(r) == rs.scheme {
		rs.next.ServeHTTP(w, r)
		return
	}
	host := reqinfo.Hostname(r.Host)
	if host == "" {
		http.Error(w, "400 Bad Request: no Host to redirect to", http.StatusBadRequest)
		return
	}
	w.Header()["Location"] = []string{rs.start + host + rs.port + reqinfo.RequestURI(r)}
	w.WriteHeader(rs.status)
}
