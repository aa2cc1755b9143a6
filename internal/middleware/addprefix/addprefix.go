// Package addprefix implements the addPrefix middleware: it puts a path prefix
// in front of the request path before the request goes on.
package addprefix

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/usher-lb/usher/internal/config"
)

type addPrefix struct {
	next      http.Handler
	prefix    string // decoded, as configured
	rawPrefix string // escaped form, for r.URL.RawPath
}

// New returns a handler that puts cfg.Prefix in front of r.URL.Path and passes
// the request to next: prefix "/api" on "/users" gives "/api/users". When the
// prefix ends with '/' and the path starts with one, one of the two is dropped:
// "/api/" on "/users" also gives "/api/users". An empty path becomes the prefix.
// r.URL.RawPath, when set, gets the escaped form of the prefix, so that it keeps
// decoding to Path. A path that does not start with '/' (the "*" of OPTIONS *)
// is left alone. r.RequestURI, the request target as received, is not changed.
//
// cfg.Prefix is the decoded path (a '%' in it is a literal '%'); it must start
// with '/' and must not contain '?', '#' or control characters. Each request
// allocates the new path.
func New(_ context.Context, next http.Handler, cfg *config.AddPrefix, _ string) (http.Handler, error) {
	if cfg == nil || cfg.Prefix == "" {
		return nil, fmt.Errorf("addPrefix: prefix is empty")
	}
	p := cfg.Prefix
	if p[0] != '/' {
		return nil, fmt.Errorf("addPrefix: prefix %q must start with /", p)
	}
	if strings.ContainsFunc(p, func(c rune) bool { return c < 0x20 || c == 0x7f || c == '?' || c == '#' }) {
		return nil, fmt.Errorf("addPrefix: prefix %q has a '?', '#' or control character", p)
	}
	return &addPrefix{next: next, prefix: p, rawPrefix: (&url.URL{Path: p}).EscapedPath()}, nil
}

func (a *addPrefix) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; p == "" || p[0] == '/' {
		r.URL.Path = join(a.prefix, p)
		if r.URL.RawPath != "" {
			r.URL.RawPath = join(a.rawPrefix, r.URL.RawPath)
		}
	}
	a.next.ServeHTTP(w, r)
}

// join returns prefix+path with a doubled '/' at the seam made single.
func join(prefix, path string) string {
	if path == "" {
		return prefix
	}
	if prefix[len(prefix)-1] == '/' && path[0] == '/' {
		path = path[1:]
	}
	return prefix + path
}
