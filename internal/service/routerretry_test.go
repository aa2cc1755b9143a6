package service

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"
)

func TestRouterRetryDelay(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		interval, max time.Duration
		want          []time.Duration // retries 1, 2, 3...
	}{
		{100 * ms, 10 * time.Second, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms}},
		{3 * time.Second, 10 * time.Second, []time.Duration{3 * time.Second, 6 * time.Second, 10 * time.Second, 10 * time.Second}},
		{0, 10 * time.Second, []time.Duration{0, 0}},
		{ms, 0, []time.Duration{ms, 2 * ms, 4 * ms}},
	} {
		rr := &RouterRetry{Interval: tc.interval, MaxInterval: tc.max}
		for i, want := range tc.want {
			if got := rr.delay(i + 1); got != want {
				t.Errorf("interval %v, max %v: retry %d waits %v, want %v", tc.interval, tc.max, i+1, got, want)
			}
		}
	}
	// A client gone during the wait ends it at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	if (&RouterRetry{Interval: time.Hour}).wait(r, 1) {
		t.Error("wait went on for a request whose client is gone")
	}
	if got := routerRetry(r); got != nil {
		t.Errorf("routerRetry of a plain request: %v", got)
	}
	rr := &RouterRetry{Retries: 3}
	if got := routerRetry(r.WithContext(WithRouterRetry(ctx, rr))); got != rr {
		t.Errorf("routerRetry: %v, want %v", got, rr)
	}
}
