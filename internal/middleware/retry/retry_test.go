package retry

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/service"
)

func TestNew(t *testing.T) {
	zero := config.Duration(0)
	half := config.Duration(500 * time.Millisecond)
	for _, tc := range []struct {
		cfg      config.RetryMiddleware
		retries  int
		interval time.Duration
	}{
		{config.RetryMiddleware{Attempts: 4}, 3, config.RetryInitialInterval},
		{config.RetryMiddleware{Attempts: 1}, 0, config.RetryInitialInterval},
		{config.RetryMiddleware{Attempts: 2, InitialInterval: &zero}, 1, 0},
		{config.RetryMiddleware{Attempts: 3, InitialInterval: &half}, 2, 500 * time.Millisecond},
	} {
		var got *service.RouterRetry
		h, err := New(t.Context(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = service.RouterRetryFrom(r.Context())
		}), &tc.cfg, "r")
		if err != nil {
			t.Fatal(err)
		}
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		if got == nil || got.Retries != tc.retries || got.Interval != tc.interval || got.MaxInterval != config.RetryMaxInterval {
			t.Errorf("attempts %d: the services below are asked %+v, want %d retries after %v", tc.cfg.Attempts, got, tc.retries, tc.interval)
		}
	}
}
