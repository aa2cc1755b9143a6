// Package csrf implements the csrf middleware: cross-origin requests that
// may change state are refused, as Go's net/http.CrossOriginProtection
// refuses them (usher runs that very type), so that the servers behind usher
// need no CSRF tokens against browsers of the last years.
package csrf

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
)

type csrf struct {
	next http.Handler
	cop  *http.CrossOriginProtection
	dec  *env.Decisions
}

// New returns the csrf middleware of cfg. GET, HEAD and OPTIONS always pass.
// Any other method passes when Sec-Fetch-Site is same-origin or none (typed
// in the address bar); with another Sec-Fetch-Site (cross-site, same-site)
// it is refused. Without Sec-Fetch-Site (browsers before 2023, and clients
// that are not browsers), it passes when it has no Origin, or an Origin
// whose host[:port] is the request's Host, and is refused otherwise. A
// refused request passes after all when its Origin is one of
// cfg.TrustedOrigins or it matches one of cfg.BypassPaths (ServeMux
// patterns: "/webhooks/", "POST /api/{id}/hook"). Refused requests get 403,
// a text body that says why, and never reach next.
func New(ctx context.Context, next http.Handler, cfg *config.CSRF, name string) (http.Handler, error) {
	c := &csrf{next: next, cop: http.NewCrossOriginProtection(), dec: env.From(ctx).Decisions("csrf", name)}
	for i, o := range cfg.TrustedOrigins {
		// Browsers write origins in lowercase; the type compares exactly.
		if err := c.cop.AddTrustedOrigin(strings.ToLower(o)); err != nil {
			return nil, fmt.Errorf("csrf: trustedOrigins[%d]: %w", i, err)
		}
	}
	for i, p := range cfg.BypassPaths {
		if err := config.AddBypassPattern(c.cop, p); err != nil {
			return nil, fmt.Errorf("csrf: bypassPaths[%d]: %w", i, err)
		}
	}
	return c, nil
}

var (
	bodyFetchSite = []byte("Forbidden: cross-origin request refused. Sec-Fetch-Site says it comes from another site, and a request of this method from another site could act in the user's name (CSRF protection).\n")
	bodyOrigin    = []byte("Forbidden: cross-origin request refused. Its Origin is not the site it is sent to, and a request of this method from another site could act in the user's name (CSRF protection).\n")
)

func (c *csrf) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		c.next.ServeHTTP(w, r)
		return
	}
	if err := c.cop.Check(r); err == nil {
		c.dec.Allow()
		c.next.ServeHTTP(w, r)
		return
	}
	c.dec.Deny()
	body := bodyOrigin
	if len(r.Header["Sec-Fetch-Site"]) > 0 {
		body = bodyFetchSite
	}
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(http.StatusForbidden)
	w.Write(body)
}
