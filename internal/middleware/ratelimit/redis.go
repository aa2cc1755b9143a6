package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// gcra is limit.take in Lua, run by Redis on the bucket's key: one round
// trip per request (EVALSHA; EVAL once after Redis lost its script cache),
// atomic, on Redis's clock, so that any number of ushers share one limit
// whatever their own clocks say. Microseconds: Lua's numbers are doubles,
// exact to 2^53, and the time since 1970 in nanoseconds is not.
//
// KEYS[1]: the bucket; ARGV[1]: interval, ARGV[2]: tau, ARGV[3]: burst, in
// µs but burst. Returns {ok (1|0), remaining, wait µs}. The key expires when
// the bucket is full again: a full bucket and no key are the same.
var gcra = redis.NewScript(`
pcall(redis.replicate_commands) -- Redis 3.2 to 4: replicate the SET, not the script that read TIME
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local iv = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local d = tat + iv - now
if d > tau then
  return {0, 0, d - tau}
end
redis.call('SET', KEYS[1], tat + iv, 'PX', math.floor(d / 1000) + 1)
local rem = math.floor((tau - d) / iv)
if rem > burst - 1 then rem = burst - 1 end
return {1, rem, d}
`)

// redisStore keeps buckets in Redis under prefix+key; prefix names the
// middleware, so that two limits never share a bucket.
type redisStore struct {
	c      *redis.Client
	prefix string
	down   atomic.Bool // the last request found Redis failing
}

func newRedisStore(c *redis.Client, name string) *redisStore {
	// The name's length first: names may hold ':', and "a:b"+":"+k must
	// not be "a"+":"+"b:"+k.
	return &redisStore{c: c, prefix: "usher:ratelimit:" + strconv.Itoa(len(name)) + ":" + name + ":"}
}

func (s *redisStore) take(ctx context.Context, key []byte, l limit) (verdict, error) {
	iv := max(l.interval/1000, 1)
	tau := l.tau / 1000
	res, err := gcra.Run(ctx, s.c, []string{s.prefix + string(key)}, iv, tau, l.burst).Int64Slice()
	if err != nil {
		return verdict{}, fmt.Errorf("redis %s: %w", s.c.Options().Addr, err)
	}
	if len(res) != 3 {
		return verdict{}, fmt.Errorf("redis %s: the rate limit script returned %d values", s.c.Options().Addr, len(res))
	}
	return verdict{ok: res[0] == 1, remaining: res[1], wait: res[2] * 1000}, nil
}
