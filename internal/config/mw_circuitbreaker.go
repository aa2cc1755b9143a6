package config

import "time"

// CircuitBreaker stops sending requests to a service whose recent traffic
// meets an expression (Traefik's circuitBreaker): while open, requests are
// answered at once; then probe traffic ramps up again.
type CircuitBreaker struct {
	Expression       string   `json:"expression" doc:"when to open, on the last 10 seconds of traffic: NetworkErrorRatio(), ResponseCodeRatio(from, to, dFrom, dTo), LatencyAtQuantileMS(q) compared with numbers, combined with &&, ||, ! and parentheses; required"`
	CheckPeriod      Duration `json:"checkPeriod,omitempty" doc:"how often the expression is evaluated; default 100ms"`
	FallbackDuration Duration `json:"fallbackDuration,omitempty" doc:"how long the circuit stays open before recovering; default 10s"`
	RecoveryDuration Duration `json:"recoveryDuration,omitempty" doc:"how long recovery ramps the share of requests let through from 0 to all; default 10s"`
	ResponseCode     int      `json:"responseCode,omitempty" doc:"status of the answer while open (or to requests the ramp holds back); default 503"`
}

// The defaults of circuitBreaker, applied by the middleware.
const (
	CircuitBreakerCheckPeriod      = 100 * time.Millisecond
	CircuitBreakerFallbackDuration = 10 * time.Second
	CircuitBreakerRecoveryDuration = 10 * time.Second
	CircuitBreakerResponseCode     = 503
)
