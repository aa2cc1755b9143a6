package service

import (
	"context"
	"net/http"
	"time"
)

// RouterRetry is what a router's retry middleware asks of the load
// balancers its requests reach: more retries of a failed connection than
// the service's own, with a backoff between them. It rides on the
// request's context, so that the one retry mechanism (the load balancer's:
// its budget, its replayable bodies, its idempotent methods) serves both.
type RouterRetry struct {
	// Retries is the number of retries after the first try for a request
	// whose connection failed before any byte of a response came; the
	// service's retry.attempts still counts when it is larger.
	Retries int
	// Interval is the wait before the first retry, doubled before each next
	// one up to MaxInterval; 0 retries at once.
	Interval    time.Duration
	MaxInterval time.Duration
}

type routerRetryKey struct{}

// WithRouterRetry returns ctx carrying rr for the load balancers below.
func WithRouterRetry(ctx context.Context, rr *RouterRetry) context.Context {
	return context.WithValue(ctx, routerRetryKey{}, rr)
}

// routerRetry is the RouterRetry of r's router, or nil.
func routerRetry(r *http.Request) *RouterRetry {
	rr, _ := r.Context().Value(routerRetryKey{}).(*RouterRetry)
	return rr
}

// wait sleeps before retry number n (1 for the first) and reports whether
// the request is still wanted: false when its client went away meanwhile.
func (rr *RouterRetry) wait(r *http.Request, n int) bool {
	d := rr.Interval
	if d <= 0 {
		return true
	}
	for i := 1; i < n && d < rr.MaxInterval; i++ {
		d *= 2
	}
	if rr.MaxInterval > 0 {
		d = min(d, rr.MaxInterval)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}
