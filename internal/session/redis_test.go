package session

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-lb/usher/internal/redisconn/redistest"
)

func TestRedisStore(t *testing.T) {
	srv := redistest.Start(t)
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rc.Close() })
	ctx := context.Background()
	st := NewRedisStore(rc, "test:sess:", sealer(t, 1))
	now := time.Now()
	s := &Session{ID: NewID(), User: "alice", Email: "a@b.c", Groups: []string{"g"}, Created: now, Expires: now.Add(time.Hour),
		Claims: map[string]any{"exp": json.Number("1700000000")}, Data: map[string]string{"rt": "refresh-token-value"}}
	if err := st.Put(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, s.ID)
	if err != nil || got == nil || got.User != "alice" || got.Data["rt"] != "refresh-token-value" || got.Claims["exp"] != json.Number("1700000000") {
		t.Fatalf("get: %+v %v", got, err)
	}
	// What Redis holds names neither the id nor the tokens.
	keys, _ := rc.Keys(ctx, "*").Result()
	if len(keys) != 1 || strings.Contains(keys[0], s.ID) {
		t.Fatalf("keys %q", keys)
	}
	raw, _ := rc.Get(ctx, keys[0]).Result()
	if strings.Contains(raw, "refresh-token-value") || strings.Contains(raw, "alice") {
		t.Fatal("the session is readable in Redis")
	}
	if ttl := rc.TTL(ctx, keys[0]).Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("ttl %v", ttl)
	}
	// Another store's key, an altered value, a value moved to another
	// session's key: none opens.
	if got, _ := NewRedisStore(rc, "test:sess:", sealer(t, 2)).Get(ctx, s.ID); got != nil {
		t.Fatal("opened under another key")
	}
	other := &Session{ID: NewID(), User: "mallory", Expires: now.Add(time.Hour)}
	st.Put(ctx, other)
	rc.Set(ctx, st.key(other.ID), raw, time.Hour)
	if got, _ := st.Get(ctx, other.ID); got != nil {
		t.Fatal("a session moved to another key opened")
	}
	b := []byte(raw)
	b[len(b)-1] ^= 1
	rc.Set(ctx, keys[0], b, time.Hour)
	if got, _ := st.Get(ctx, s.ID); got != nil {
		t.Fatal("an altered session opened")
	}
	if got, err := st.Get(ctx, NewID()); got != nil || err != nil {
		t.Fatalf("unknown id: %v %v", got, err)
	}
	st.Put(ctx, s)
	if err := st.Delete(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Get(ctx, s.ID); got != nil {
		t.Fatal("a deleted session is still there")
	}
	// Redis down: an error, not a missing session.
	srv.Stop()
	if _, err := st.Get(ctx, s.ID); err == nil {
		t.Fatal("no error with Redis down")
	}
}
