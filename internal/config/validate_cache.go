package config

// cache checks a cache middleware: a known store, sizes and durations that
// make sense together.
func (v *validator) cache(p string, s *Cache) {
	switch s.Store {
	case "", "memory", "redis":
	default:
		v.add(p+".store", "%q is not one of memory, redis%s", s.Store, didYouMean(s.Store, []string{"memory", "redis"}))
	}
	if s.MaxBytes < 0 {
		v.add(p+".maxBytes", "cannot be negative")
	}
	if s.MaxEntryBytes < 0 {
		v.add(p+".maxEntryBytes", "cannot be negative")
	}
	if s.MaxBytes > 0 && s.MaxEntryBytes > s.MaxBytes && s.Store != "redis" {
		v.add(p+".maxEntryBytes", "is larger than maxBytes (%d > %d bytes): no entry that large could be kept", int64(s.MaxEntryBytes), int64(s.MaxBytes))
	}
	if s.KeepStale < 0 {
		v.add(p+".keepStale", "cannot be negative")
	}
	if s.CoalesceTimeout < 0 {
		v.add(p+".coalesceTimeout", "cannot be negative")
	}
	if s.KeyPrefix != "" && s.Store != "redis" {
		v.add(p+".keyPrefix", "is for store: redis")
	}
}
