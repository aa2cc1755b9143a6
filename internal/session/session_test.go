package session

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func sealer(t *testing.T, fill byte) *Sealer {
	t.Helper()
	s, err := NewSealer(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpen(t *testing.T) {
	s := sealer(t, 1)
	now := time.Now()
	v := s.Seal("session", []byte("id-123"), now.Add(time.Hour))
	if strings.Contains(v, "id-123") {
		t.Fatal("the sealed value shows what it holds")
	}
	got, err := s.Open("session", v, now)
	if err != nil || string(got) != "id-123" {
		t.Fatalf("open: %q %v", got, err)
	}
	if v2 := s.Seal("session", []byte("id-123"), now.Add(time.Hour)); v2 == v {
		t.Fatal("two seals of the same value are equal (no fresh nonce)")
	}

	flip := []byte(v)
	flip[len(flip)/2] ^= 1
	for name, tc := range map[string]struct {
		s       *Sealer
		purpose string
		value   string
		at      time.Time
	}{
		"another purpose": {s, "state", v, now},
		"another key":     {sealer(t, 2), "session", v, now},
		"expired":         {s, "session", v, now.Add(time.Hour)},
		"altered":         {s, "session", string(flip), now},
		"truncated":       {s, "session", v[:len(v)-4], now},
		"not base64":      {s, "session", "%%%", now},
		"empty":           {s, "session", "", now},
		"huge":            {s, "session", strings.Repeat("A", 10000), now},
	} {
		if _, err := tc.s.Open(tc.purpose, tc.value, tc.at); err != ErrInvalid {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := NewSealer([]byte("short")); err == nil {
		t.Error("a short key was accepted")
	}
}

func TestNewIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if len(id) != 43 || seen[id] {
			t.Fatalf("id %q (len %d, seen %v)", id, len(id), seen[id])
		}
		seen[id] = true
	}
}

func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	st := NewMemoryStore(32)
	defer st.Close()
	now := time.Now()
	s := &Session{ID: NewID(), User: "alice", Created: now, Expires: now.Add(time.Hour)}
	if err := st.Put(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, s.ID)
	if err != nil || got == nil || got.User != "alice" {
		t.Fatalf("get: %+v %v", got, err)
	}
	got.User = "mallory" // a copy: the store's is untouched
	if again, _ := st.Get(ctx, s.ID); again.User != "alice" {
		t.Fatal("Get handed out the stored session itself")
	}
	if err := st.Delete(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Get(ctx, s.ID); got != nil {
		t.Fatal("a deleted session is still there")
	}
	old := &Session{ID: NewID(), User: "bob", Expires: now.Add(-time.Second)}
	st.Put(ctx, old)
	if got, _ := st.Get(ctx, old.ID); got != nil {
		t.Fatal("an expired session was returned")
	}
	if err := st.Put(ctx, &Session{ID: "short", Expires: now}); err == nil {
		t.Fatal("a session with a short id was stored")
	}

	// Bounded: a flood of logins never holds more than about max.
	for i := range 1000 {
		st.Put(ctx, &Session{ID: NewID(), User: "u", Expires: now.Add(time.Duration(i) * time.Minute)})
	}
	if n := st.Len(); n > 32+len(st.shards) {
		t.Fatalf("%d sessions kept, max 32", n)
	}
}

func TestMemoryStoreSweeps(t *testing.T) {
	st := newMemoryStore(10, 10*time.Millisecond)
	defer st.Close()
	st.Put(context.Background(), &Session{ID: NewID(), Expires: time.Now().Add(20 * time.Millisecond)})
	deadline := time.Now().Add(2 * time.Second)
	for st.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("an expired session was never swept")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
