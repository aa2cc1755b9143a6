package config

import "time"

// RetryMiddleware sends a request whose connection to a server failed
// before any byte of a response came to another server (Traefik's retry),
// waiting an exponential backoff between tries. It raises the attempts of
// the service's own retry for the router's requests: it never sends again
// what the service would not (a request that reached a server only for the
// service's retry.methods, with a body that can be sent again).
type RetryMiddleware struct {
	Attempts        int       `json:"attempts" doc:"tries in all, the first included (as Traefik's): 4 = up to 3 retries; at least 1; required"`
	InitialInterval *Duration `json:"initialInterval,omitempty" doc:"wait before the first retry, doubled before each next one (at most 10s); default 100ms; 0 = retry at once"`
}

// The defaults and bounds of the retry middleware.
const (
	RetryInitialInterval = 100 * time.Millisecond
	RetryMaxInterval     = 10 * time.Second
	RetryMaxAttempts     = 10
)
