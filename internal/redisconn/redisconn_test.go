package redisconn

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/redisconn/redistest"
)

func TestOpenAndCheck(t *testing.T) {
	srv := redistest.Start(t, "requirepass s3cret")
	ctx := context.Background()
	good := &config.Redis{Address: srv.Addr, Password: "s3cret", DB: 2, Timeout: config.Duration(time.Second), PoolSize: 4}
	c, err := Open(good)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := Check(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	bad := *good
	bad.Password = "wrong"
	cb, _ := Open(&bad)
	defer cb.Close()
	if err := Check(ctx, cb); err == nil || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("a wrong password: %v", err)
	}

	srv.Stop()
	start := time.Now()
	if err := Check(ctx, c); err == nil {
		t.Fatal("a stopped Redis answered")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the check of a stopped Redis took %v, past its timeout", d)
	}
}

func TestConfigReadsThePasswordFromAFile(t *testing.T) {
	dir := t.TempDir()
	pw := dir + "/pw"
	if err := writeFile(pw, "from-file\n"); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("usher.yaml", []byte("redis: { address: '127.0.0.1:6379', passwordFile: '"+pw+"' }\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Redis.Password != "from-file" {
		t.Fatalf("password %q", cfg.Redis.Password)
	}
	if strings.Contains(toJSON(t, cfg.Redacted()), "from-file") {
		t.Fatal("the redacted config shows the Redis password")
	}
	for _, tc := range []struct{ yaml, want string }{
		{"redis: { db: 1 }", "redis.address"},
		{"redis: { address: 'nohost' }", "not a host:port"},
		{"redis: { address: '127.0.0.1:99999' }", "port"},
		{"redis: { address: '127.0.0.1:6379', db: -1 }", "redis.db"},
		{"redis: { address: '127.0.0.1:6379', tls: { ca: /nope.pem } }", "redis.tls.ca"},
	} {
		cfg, err := config.Parse("usher.yaml", []byte(tc.yaml+"\n"))
		if err == nil {
			cfg.ApplyDefaults()
			err = config.Validate(cfg)
			if ps, ok := err.(config.Problems); ok && len(ps) == 0 {
				err = nil
			}
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want it to say %q", tc.yaml, err, tc.want)
		}
	}
}
