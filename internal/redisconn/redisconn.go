// Package redisconn opens the one connection pool to Redis of the static
// `redis` section, which every middleware whose store is redis shares (rate
// limits, the cache, sessions): one pool per process, made at start, closed
// at exit.
package redisconn

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-lb/usher/internal/clienttls"
	"github.com/usher-lb/usher/internal/config"
)

// Open returns a client of the Redis server cfg names (defaults applied). It
// does not connect: the pool dials on first use, so that usher starts, and
// each middleware's onStoreError decides, when Redis is down. Check tells.
func Open(cfg *config.Redis) (*redis.Client, error) {
	opts := &redis.Options{
		Addr:                  cfg.Address,
		Username:              cfg.Username,
		Password:              cfg.Password,
		DB:                    cfg.DB,
		DialTimeout:           cfg.Timeout.D(),
		ReadTimeout:           cfg.Timeout.D(),
		WriteTimeout:          cfg.Timeout.D(),
		PoolTimeout:           cfg.Timeout.D(),
		PoolSize:              cfg.PoolSize,
		MaxRetries:            -1, // a limiter's one round trip: no silent retry doubling it
		ContextTimeoutEnabled: true,
		// No client-side identity push: a Redis or a proxy in front of it
		// that does not know CLIENT SETINFO would log an error per connection.
		DisableIdentity: true,
	}
	if cfg.TLS != nil {
		tc, _, err := clienttls.Load(cfg.TLS)
		if err != nil {
			return nil, fmt.Errorf("redis.%w", err)
		}
		if tc.ServerName == "" {
			tc = tc.Clone()
			if host, _, ok := cutPort(cfg.Address); ok {
				tc.ServerName = host
			}
		}
		opts.TLSConfig = tc
	}
	return redis.NewClient(opts), nil
}

// Check pings Redis once, within the client's timeout.
func Check(ctx context.Context, c *redis.Client) error {
	ctx, cancel := context.WithTimeout(ctx, c.Options().DialTimeout+c.Options().ReadTimeout+100*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis %s: %w", c.Options().Addr, err)
	}
	return nil
}

func cutPort(addr string) (host, port string, ok bool) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			h := addr[:i]
			if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
				h = h[1 : len(h)-1]
			}
			return h, addr[i+1:], true
		}
	}
	return "", "", false
}
