// Package redirectregex implements the redirectRegex middleware: it redirects
// requests whose URL matches a regular expression to a URL made from the match.
package redirectregex

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/internal/reqinfo"
)

type redirectRegex struct {
	next        http.Handler
	re          *regexp.Regexp
	replacement string
	status      int
}

// New returns a handler that matches cfg.Regex (Go RE2 syntax, unanchored unless
// written with ^ and $) against the request's full URL, scheme://host/path?query,
// and redirects a request that matches to the URL that cfg.Replacement makes of
// it, with status 307 Temporary Redirect, or 308 Permanent Redirect when
// cfg.Permanent. A request that does not match goes to next, and so does one
// whose new URL is the URL itself (a redirect to itself would loop).
//
// The new URL is the full URL with each match of the regexp replaced by
// cfg.Replacement, in which $1, ${1}, $name and ${name} stand for submatches (as
// regexp.Regexp.Expand: "$1x" is the submatch named "1x", write "${1}x"; "$$"
// is a '$'); anchor the regexp (^...$) to replace the whole URL. It is sent
// verbatim in Location; the response has no body.
//
// In the full URL, scheme is the X-Forwarded-Proto request header (set or
// sanitised by the entrypoint), else https when r.TLS is set, else http; host
// is r.Host, with its port if it has one; /path?query is the request target as
// the client sent it (r.RequestURI), not as earlier middlewares rewrote it.
//
// cfg.Regex must compile; cfg.Replacement must not be empty nor contain control
// characters.
func New(_ context.Context, next http.Handler, cfg *config.RedirectRegex, _ string) (http.Handler, error) {
	if cfg == nil || cfg.Regex == "" {
		return nil, fmt.Errorf("redirectRegex: regex is empty")
	}
	re, err := regexp.Compile(cfg.Regex)
	if err != nil {
		return nil, fmt.Errorf("redirectRegex: invalid regex %q: %w", cfg.Regex, err)
	}
	if cfg.Replacement == "" {
		return nil, fmt.Errorf("redirectRegex: replacement is empty")
	}
	if strings.ContainsFunc(cfg.Replacement, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		return nil, fmt.Errorf("redirectRegex: replacement %q has a control character", cfg.Replacement)
	}
	rr := &redirectRegex{next: next, re: re, replacement: cfg.Replacement, status: http.StatusTemporaryRedirect}
	if cfg.Permanent {
		rr.status = http.StatusPermanentRedirect
	}
	return rr, nil
}

func (rr *redirectRegex) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	old := reqinfo.Scheme(r) + "://" + r.Host + reqinfo.RequestURI(r)
	if !rr.re.MatchString(old) {
		rr.next.ServeHTTP(w, r)
		return
	}
	loc := rr.re.ReplaceAllString(old, rr.replacement)
	if loc == old {
		rr.next.ServeHTTP(w, r)
		return
	}
	w.Header()["Location"] = []string{loc}
	w.WriteHeader(rr.status)
}
