package cache

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a store in Redis, shared by every usher with the same prefix:
// one usher's fill is another's hit.
//
// Keys: <prefix>e:<url> is a hash of the URL's variants (field: variant,
// value: the encoded entry), which expires with the longest-lived of them
// (each entry's own Expires is checked on read); <prefix>t:<tag> is the
// set of URLs tagged so, for purges by tag. Redis's own maxmemory policy,
// not maxBytes, bounds what it holds.
type Redis struct {
	rc     *redis.Client
	prefix string
	now    func() time.Time
}

// NewRedis returns a store on rc whose keys start with prefix.
func NewRedis(rc *redis.Client, prefix string, now func() time.Time) *Redis {
	return &Redis{rc: rc, prefix: prefix, now: now}
}

func (s *Redis) ekey(url string) string { return s.prefix + "e:" + url }
func (s *Redis) tkey(tag string) string { return s.prefix + "t:" + tag }

// Get implements Store.
func (s *Redis) Get(ctx context.Context, url string) ([]*Entry, error) {
	m, err := s.rc.HGetAll(ctx, s.ekey(url)).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	now := s.now()
	out := make([]*Entry, 0, len(m))
	for _, v := range m {
		e, err := decodeEntry([]byte(v))
		if err != nil || e.URL != url || !e.Expires.After(now) {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// putScript sets one variant (dropping the URL's others when it has
// maxVariants already) and stretches the TTL of the hash and of the
// tag sets to that of the entry when theirs is shorter.
var putScript = redis.NewScript(`
local ttl = tonumber(ARGV[3])
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[5]) then
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[4])
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return 1`)

// Put implements Store.
func (s *Redis) Put(ctx context.Context, e *Entry) error {
	ttl := e.Expires.Sub(s.now())
	if ttl <= 0 {
		return nil
	}
	keys := []string{s.ekey(e.URL)}
	for _, t := range e.Tags {
		keys = append(keys, s.tkey(t))
	}
	if err := putScript.Run(ctx, s.rc, keys, e.Variant, encodeEntry(e), ttl.Milliseconds()+1, e.URL, maxVariants).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Delete implements Store.
func (s *Redis) Delete(ctx context.Context, url, variant string) error {
	if err := s.rc.HDel(ctx, s.ekey(url), variant).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Purge implements Store.
func (s *Redis) Purge(ctx context.Context, sel Selector) (int, error) {
	switch {
	case sel.URL != "" && !strings.HasPrefix(sel.URL, "/"):
		es, err := s.Get(ctx, sel.URL)
		if err != nil {
			return 0, err
		}
		return len(es), s.rc.Del(ctx, s.ekey(sel.URL)).Err()
	case sel.Tag != "":
		urls, err := s.rc.SMembers(ctx, s.tkey(sel.Tag)).Result()
		if err != nil {
			return 0, fmt.Errorf("redis: %w", err)
		}
		count := 0
		for _, u := range urls {
			// The set may name a URL whose entry lost the tag since: only
			// the variants still tagged go.
			es, err := s.Get(ctx, u)
			if err != nil {
				return count, err
			}
			for _, e := range es {
				if sel.matches(e.URL, e.Tags) {
					if err := s.Delete(ctx, u, e.Variant); err != nil {
						return count, err
					}
					count++
				}
			}
		}
		return count, s.rc.Del(ctx, s.tkey(sel.Tag)).Err()
	}
	match := s.prefix + "e:*"
	if sel.Prefix != "" && !strings.HasPrefix(sel.Prefix, "/") {
		match = s.prefix + "e:" + globEscape(sel.Prefix) + "*"
	}
	count := 0
	it := s.rc.Scan(ctx, 0, globEscape(s.prefix)+match[len(s.prefix):], 500).Iterator()
	for it.Next(ctx) {
		k := it.Val()
		url := strings.TrimPrefix(k, s.prefix+"e:")
		if !sel.matches(url, nil) {
			continue
		}
		es, err := s.Get(ctx, url)
		if err != nil {
			return count, err
		}
		if err := s.rc.Del(ctx, k).Err(); err != nil {
			return count, fmt.Errorf("redis: %w", err)
		}
		count += len(es)
	}
	if err := it.Err(); err != nil {
		return count, fmt.Errorf("redis: %w", err)
	}
	return count, nil
}

// globEscape escapes the pattern characters of SCAN MATCH.
func globEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Stats implements Store: the URLs stored (each may have several variants);
// bytes are Redis's to count.
func (s *Redis) Stats(ctx context.Context) (StoreStats, error) {
	var n int64
	it := s.rc.Scan(ctx, 0, globEscape(s.prefix)+"e:*", 500).Iterator()
	for it.Next(ctx) {
		n++
	}
	if err := it.Err(); err != nil {
		return StoreStats{}, fmt.Errorf("redis: %w", err)
	}
	return StoreStats{Entries: n, Bytes: -1}, nil
}
