package config

import (
	"strings"
	"time"
)

// rateLimit checks a rateLimit middleware: a rate usher can count (an
// interval between requests of a microsecond or more), a known key and store,
// and the redis section when the store is redis.
func (v *validator) rateLimit(p string, s *RateLimit) {
	switch {
	case s.Average <= 0:
		v.add(p+".average", "average must be 1 or more requests per period, got %d", s.Average)
	case s.Period < 0:
		v.add(p+".period", "period cannot be negative")
	default:
		period := s.Period.D()
		if period == 0 {
			period = RateLimitPeriod
		}
		if period/time.Duration(s.Average) < time.Microsecond {
			v.add(p+".average", "%d requests per %s is more than one a microsecond, which usher cannot count", s.Average, period)
		}
		if period > 365*24*time.Hour {
			v.add(p+".period", "period is at most a year, got %s", period)
		}
	}
	if s.Burst < 0 {
		v.add(p+".burst", "burst cannot be negative, got %d", s.Burst)
	} else if s.Burst > 1<<30 {
		v.add(p+".burst", "burst is at most %d, got %d", 1<<30, s.Burst)
	}
	v.limitKey(p, s.Key, s.IPv6Subnet)
	v.oneOf(p+".store", s.Store, "memory", "redis")
	v.oneOf(p+".onStoreError", s.OnStoreError, "allow", "deny")
	if s.Store == "redis" && v.c.Redis == nil {
		v.add(p+".store", "store: redis needs the static `redis` section (redis: { address: host:port })")
	}
	if s.MaxKeys < 0 {
		v.add(p+".maxKeys", "maxKeys cannot be negative, got %d", s.MaxKeys)
	}
}

// inFlightReq checks an inFlightReq middleware.
func (v *validator) inFlightReq(p string, s *InFlightReq) {
	if s.Amount <= 0 {
		v.add(p+".amount", "amount must be 1 or more, got %d", s.Amount)
	}
	v.limitKey(p, s.Key, s.IPv6Subnet)
}

// limitKey checks the key of a limit and its ipv6Subnet.
func (v *validator) limitKey(p, key string, subnet int) {
	switch name, arg, _ := strings.Cut(key, ":"); {
	case key == "", key == "clientIP", key == "host", key == "apiKey":
	case name == "header":
		if !isToken(arg) {
			v.add(p+".key", "%q is not a valid header name (key: header:NAME)", arg)
		}
	case name == "claim":
		if arg == "" {
			v.add(p+".key", "key: claim:NAME needs the claim's name")
		}
	default:
		v.add(p+".key", "unknown key %q: clientIP, host, apiKey, header:NAME or claim:NAME", key)
	}
	if subnet < 0 || subnet > 128 {
		v.add(p+".ipv6Subnet", "an IPv6 prefix length is 0 to 128, got %d", subnet)
	}
}
