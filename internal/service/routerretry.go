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

// RouterRetryFrom is the RouterRetry ctx carries, or nil.
func RouterRetryFrom(ctx context.Context) *RouterRetry {
	rr, _ := ctx.Value(routerRetryKey{}).(*RouterRetry)
	return rr
}

func routerRetry(r *http.Request) *RouterRetry { return RouterRetryFrom(r.Context()) }

// delay is the wait before retry number n (1 for the first): Interval,
// doubled for each retry after the first, at most MaxInterval.
func (rr *RouterRetry) delay(n int) time.Duration {
	d := rr.Interval
	if d <= 0 {
		return 0
	}
	for i := 1; i < n && (rr.MaxInterval <= 0 || d < rr.MaxInterval); i++ {
		d *= 2
	}
	if rr.MaxInterval > 0 {
		d = min(d, rr.MaxInterval)
	}
	return d
}

// wait sleeps before retry number n and reports whether the request is
// still wanted: false when its client went away meanwhile.
func (rr *RouterRetry) wait(r *http.Request, n int) bool {
	d := rr.delay(n)
	if d <= 0 {
		return true
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
