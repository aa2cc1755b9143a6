package observe

import (
	"sync"
	"sync/atomic"
)

// cowMap is a map that the request path reads without a lock and without
// allocating, and that is copied on every insertion. Insertions are rare (once
// per new label combination or key), reads are on every request, so the copy
// is the right trade; the number of keys is bounded by the configuration.
type cowMap[K comparable, V any] struct {
	mu sync.Mutex // serializes writers
	m  atomic.Pointer[map[K]V]
}

// get returns the value of k, if any.
func (c *cowMap[K, V]) get(k K) (V, bool) {
	if m := c.m.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// add returns the value of k, making it with mk when k is absent. keep, when
// not nil, drops the entries it returns false for while the map is copied
// anyway (Stats forgets keys that went idle this way).
func (c *cowMap[K, V]) add(k K, mk func() V, keep func(V) bool) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
	}
	n := 1
	if old != nil {
		n += len(*old)
	}
	nm := make(map[K]V, n)
	if old != nil {
		for ok, ov := range *old {
			if keep == nil || keep(ov) {
				nm[ok] = ov
			}
		}
	}
	v := mk()
	nm[k] = v
	c.m.Store(&nm)
	return v
}

// snapshot returns the current map; callers must not change it.
func (c *cowMap[K, V]) snapshot() map[K]V {
	if m := c.m.Load(); m != nil {
		return *m
	}
	return nil
}
