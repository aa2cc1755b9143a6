package jwt

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/usher-lb/usher/internal/observe"
)

// entry is a verification that let a request through, ready to apply. It is
// read-only once in the cache: requests share it.
type entry struct {
	gen         uint64    // the verifier's key generation it was had with
	from, until time.Time // when it holds, leeway included (from zero: always)
	set         []kv      // headers for the server
	id          *observe.Identity
	claims      map[string]any
}

type kv struct {
	key  string
	vals []string
}

const shards = 16

// cache keeps entries by the SHA-256 of their token, bounded: when a shard
// is full, its expired entries go, or else one entry (the map's pick).
// Sharded so that requests on many cores seldom wait for one another.
type cache struct {
	perShard int
	s        [shards]shard
}

type shard struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]*entry
}

func newCache(entries int) *cache {
	c := &cache{perShard: max(entries/shards, 1)}
	for i := range c.s {
		c.s[i].m = map[[sha256.Size]byte]*entry{}
	}
	return c
}

func (c *cache) shard(k *[sha256.Size]byte) *shard { return &c.s[k[0]%shards] }

// get returns the entry of k when it holds at now for the key generation
// gen.
func (c *cache) get(k *[sha256.Size]byte, now time.Time, gen uint64) *entry {
	s := c.shard(k)
	s.mu.RLock()
	e := s.m[*k]
	s.mu.RUnlock()
	if e == nil || e.gen != gen || !now.Before(e.until) || now.Before(e.from) {
		return nil
	}
	return e
}

func (c *cache) put(k *[sha256.Size]byte, e *entry) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= c.perShard {
		now := time.Now()
		for key, old := range s.m {
			if !now.Before(old.until) {
				delete(s.m, key)
			}
		}
		for key := range s.m {
			if len(s.m) < c.perShard {
				break
			}
			delete(s.m, key)
		}
	}
	s.m[*k] = e
}
