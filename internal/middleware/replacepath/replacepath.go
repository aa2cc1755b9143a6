// Package replacepath implements the replacePath middleware: it replaces the
// whole request path before the request goes on, keeping the old one in
// X-Replaced-Path.
package replacepath

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/usher-lb/usher/internal/config"
)

// ReplacedPathHeader is the request header that carries the path before it was
// replaced.
const ReplacedPathHeader = "X-Replaced-Path"

type replacePath struct {
	next    http.Handler
	path    string // decoded
	rawPath string // the escaped form when it differs from the default escaping of path
}

// New returns a handler that replaces r.URL.Path with cfg.Path and passes the
// request to next. The path before, in its escaped form as it would go on the
// wire (r.URL.EscapedPath()), goes in the X-Replaced-Path request header,
// replacing any value the client sent. The query is kept; r.RequestURI, the
// request target as received, is not changed.
//
// cfg.Path is written as on the wire: percent-escapes are decoded, so
// "/a%2Fb" is sent as "/a%2Fb" and seen by later middlewares as Path "/a/b". It
// must start with '/' and must not contain '?', '#', control characters or a
// malformed escape. Each request allocates the header value.
func New(_ context.Context, next http.Handler, cfg *config.ReplacePath, _ string) (http.Handler, error) {
	if cfg == nil || cfg.Path == "" {
		return nil, fmt.Errorf("replacePath: path is empty")
	}
	p := cfg.Path
	if p[0] != '/' {
		return nil, fmt.Errorf("replacePath: path %q must start with /", p)
	}
	if strings.ContainsFunc(p, func(c rune) bool { return c < 0x20 || c == 0x7f || c == '?' || c == '#' }) {
		return nil, fmt.Errorf("replacePath: path %q has a '?', '#' or control character", p)
	}
	// Parsed after a scheme and host so that a path starting with "//" stays a path.
	u, err := url.Parse("http://h" + p)
	if err != nil {
		return nil, fmt.Errorf("replacePath: path %q: %v", p, reason(err))
	}
	return &replacePath{next: next, path: u.Path, rawPath: u.RawPath}, nil
}

// reason returns the reason inside a *url.Error, whose own text repeats the URL.
func reason(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

func (rp *replacePath) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header == nil { // a request built in code
		r.Header = make(http.Header)
	}
	r.Header[ReplacedPathHeader] = []string{r.URL.EscapedPath()}
	r.URL.Path, r.URL.RawPath = rp.path, rp.rawPath
	rp.next.ServeHTTP(w, r)
}
