// Package retry implements the retry middleware, as Traefik's: a request
// whose connection to a server fails before any byte of a response came is
// sent again, to another server while there is one not tried yet, after a
// backoff that doubles from initialInterval, up to attempts tries in all.
//
// It adds no second retry mechanism: it hands the load balancers below it
// (service.RouterRetry, on the request's context) a larger number of
// retries and the backoff, and their own rules decide what may be sent
// again. A request that never reached a server is always retried; one that
// did (a reset, a timeout) only when its method is among the service's
// retry.methods (the idempotent ones by default) and its body can be sent
// again (up to 64KiB kept, or buffered by the buffering middleware). A
// response, whatever its status, is never retried by this middleware: the
// service's retry.onStatus does that, within its own attempts. The retry
// budget of the service (20% of its requests in flight, at least 3) holds
// for these retries too.
package retry

import (
	"context"
	"net/http"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/service"
)

type retry struct {
	next http.Handler
	rr   *service.RouterRetry
}

// New returns the retry middleware around next.
func New(_ context.Context, next http.Handler, cfg *config.RetryMiddleware, _ string) (http.Handler, error) {
	rr := &service.RouterRetry{
		Retries:     max(cfg.Attempts-1, 0),
		Interval:    config.RetryInitialInterval,
		MaxInterval: config.RetryMaxInterval,
	}
	if cfg.InitialInterval != nil {
		rr.Interval = cfg.InitialInterval.D()
	}
	return &retry{next: next, rr: rr}, nil
}

func (m *retry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.next.ServeHTTP(w, r.WithContext(service.WithRouterRetry(r.Context(), m.rr)))
}
