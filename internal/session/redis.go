package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore keeps sessions in Redis, shared by the usher instances that
// use the same Redis and the same key (env.Key in a shared data directory):
// one key per session, <prefix><SHA-256 of the id>, expiring with the
// session. The id itself is never a key, and the value (the session with
// its tokens) is encrypted and authenticated under the sealer's key, so
// that whoever can read Redis can neither find a session's cookie nor read
// or change a session.
type RedisStore struct {
	c       *redis.Client
	prefix  string
	sealer  *Sealer
	purpose string
}

// NewRedisStore returns a store of sessions under prefix in c, sealed by
// sealer. c is the caller's: the store never closes it.
func NewRedisStore(c *redis.Client, prefix string, sealer *Sealer) *RedisStore {
	return &RedisStore{c: c, prefix: prefix, sealer: sealer, purpose: "session store " + prefix}
}

func (st *RedisStore) key(id string) string {
	sum := sha256.Sum256([]byte(id))
	return st.prefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// Get returns the session id, nil when unknown, expired, or not sealed by
// this store (altered in Redis).
func (st *RedisStore) Get(ctx context.Context, id string) (*Session, error) {
	b, err := st.c.Get(ctx, st.key(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("session store: %w", err)
	}
	g := st.sealer.aead(st.purpose)
	if len(b) < g.NonceSize()+g.Overhead() {
		return nil, nil
	}
	// The id is the additional data: a value moved to another session's
	// key does not open.
	plain, err := g.Open(nil, b[:g.NonceSize()], b[g.NonceSize():], []byte(id))
	if err != nil {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(plain))
	d.UseNumber() // claims keep their numbers as the token had them
	var s Session
	if err := d.Decode(&s); err != nil || s.ID != id || s.Expired(time.Now()) {
		return nil, nil
	}
	return &s, nil
}

// Put stores s until it expires.
func (st *RedisStore) Put(ctx context.Context, s *Session) error {
	if err := Check(s); err != nil {
		return err
	}
	ttl := time.Until(s.Expires)
	if ttl <= 0 {
		return st.Delete(ctx, s.ID)
	}
	plain, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("session store: %w", err)
	}
	g := st.sealer.aead(st.purpose)
	nonce := make([]byte, g.NonceSize(), g.NonceSize()+len(plain)+g.Overhead())
	rand.Read(nonce)
	sealed := g.Seal(nonce, nonce, plain, []byte(s.ID))
	if err := st.c.Set(ctx, st.key(s.ID), sealed, ttl).Err(); err != nil {
		return fmt.Errorf("session store: %w", err)
	}
	return nil
}

// Delete ends the session id.
func (st *RedisStore) Delete(ctx context.Context, id string) error {
	if err := st.c.Del(ctx, st.key(id)).Err(); err != nil {
		return fmt.Errorf("session store: %w", err)
	}
	return nil
}
