package config

// retry checks a retry middleware: a number of tries from 1 to
// RetryMaxAttempts (more only piles load on a failing pool), and an interval
// that is not negative.
func (v *validator) retry(p string, s *RetryMiddleware) {
	switch {
	case s.Attempts == 0:
		v.add(p+".attempts", "attempts is required: the tries in all, the first included, like 4")
	case s.Attempts < 1 || s.Attempts > RetryMaxAttempts:
		v.add(p+".attempts", "tries in all, from 1 to %d, got %d", RetryMaxAttempts, s.Attempts)
	}
	if s.InitialInterval != nil && *s.InitialInterval < 0 {
		v.add(p+".initialInterval", "cannot be negative, got %v", s.InitialInterval.D())
	}
}
