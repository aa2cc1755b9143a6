package config

import (
	"github.com/usher-lb/usher/internal/middleware/circuitbreaker/expr"
)

// circuitBreaker checks a circuitBreaker middleware: an expression that
// parses (the error names its column), durations that are not negative, a
// status usher can answer with.
func (v *validator) circuitBreaker(p string, s *CircuitBreaker) {
	if s.Expression == "" {
		v.add(p+".expression", "an expression is required, like NetworkErrorRatio() > 0.5")
	} else if _, err := expr.Parse(s.Expression); err != nil {
		v.add(p+".expression", "%v", err)
	}
	for _, d := range []struct {
		key string
		d   Duration
	}{{"checkPeriod", s.CheckPeriod}, {"fallbackDuration", s.FallbackDuration}, {"recoveryDuration", s.RecoveryDuration}} {
		if d.d < 0 {
			v.add(p+"."+d.key, "cannot be negative, got %v", d.d.D())
		}
	}
	if c := s.ResponseCode; c != 0 && (c < 200 || c > 599) {
		v.add(p+".responseCode", "a status from 200 to 599, got %d", c)
	}
}
