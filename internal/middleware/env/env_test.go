package env

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/usher-lb/usher/internal/observe"
)

type cache struct {
	id      int
	stopped bool
}

func TestKeepAcrossBuilds(t *testing.T) {
	s := NewStore()
	made := 0
	mk := func() (*cache, func(), error) {
		made++
		c := &cache{id: made}
		return c, func() { c.stopped = true }, nil
	}
	keep := func(b *Build, name, key string) *cache {
		t.Helper()
		c, err := Keep(New(Config{}, b), "basicAuth", name, key, mk)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	b1 := s.Begin()
	a1, x1 := keep(b1, "a", ""), keep(b1, "x", "")
	if again := keep(b1, "a", ""); again != a1 {
		t.Fatal("two asks in one build made two values")
	}
	b1.Commit()

	// A reload that keeps a, drops x, and changes nothing else.
	b2 := s.Begin()
	a2 := keep(b2, "a", "")
	if a2 != a1 {
		t.Fatal("a reload lost the value of a middleware that kept its name")
	}
	if x1.stopped {
		t.Fatal("x stopped before the reload was committed")
	}
	b2.Commit()
	if !x1.stopped || a1.stopped {
		t.Fatalf("after commit: x stopped %v (want true), a stopped %v (want false)", x1.stopped, a1.stopped)
	}

	// A refused reload: what it made is stopped, the store is as it was.
	b3 := s.Begin()
	keep(b3, "a", "")
	fresh := keep(b3, "a", "other settings")
	b3.Abort()
	if !fresh.stopped || a1.stopped || s.Len() != 1 {
		t.Fatalf("after abort: fresh stopped %v, a stopped %v, %d kept", fresh.stopped, a1.stopped, s.Len())
	}

	s.Close()
	if !a1.stopped || s.Len() != 0 {
		t.Fatal("Close did not stop what was kept")
	}
}

func TestKeepErrorsAndTypes(t *testing.T) {
	s := NewStore()
	b := s.Begin()
	e := New(Config{}, b)
	boom := errors.New("boom")
	if _, err := Keep(e, "jwt", "j", "", func() (int, func(), error) { return 0, nil, boom }); err != boom {
		t.Fatalf("error %v, want boom", err)
	}
	if _, err := Keep(e, "jwt", "j", "", func() (int, func(), error) { return 1, nil, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := Keep(e, "jwt", "j", "", func() (string, func(), error) { return "", nil, nil }); err == nil {
		t.Fatal("a value of another type was handed out")
	}
	b.Commit()
}

func TestFromWithoutEnv(t *testing.T) {
	e := From(context.Background())
	if e.Log == nil {
		t.Fatal("no logger")
	}
	n := 0
	for range 2 {
		if _, err := Keep(e, "k", "n", "", func() (int, func(), error) { n++; return n, nil, nil }); err != nil {
			t.Fatal(err)
		}
	}
	if n != 2 {
		t.Fatalf("a standalone Env kept a value (%d made)", n)
	}
	e.Decisions("basicAuth", "n").Deny() // counts nothing, must not panic
	if got := From(With(context.Background(), e)); got != e {
		t.Fatal("With/From lost the Env")
	}
}

func TestDecisionsAreCounted(t *testing.T) {
	m := observe.NewMetrics()
	d := New(Config{Metrics: m}, nil).Decisions("basicAuth", "admins")
	d.Allow()
	d.Deny()
	d.Deny()
	d.Fail()
	for result, want := range map[string]float64{"allow": 1, "deny": 2, "error": 1} {
		if got := testutil.ToFloat64(m.Decision("basicAuth", "admins", result).Counter()); got != want {
			t.Errorf("%s = %v, want %v", result, got, want)
		}
	}
}

func TestKeyIsKeptInTheDataDir(t *testing.T) {
	dir := t.TempDir()
	k1, err := New(Config{DataDir: dir}, nil).Key("session")
	if err != nil || len(k1) != 32 {
		t.Fatalf("key %x, %v", k1, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "session.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	// Another process (the memo forgotten) reads the same key.
	keysMu.Lock()
	clear(keys)
	keysMu.Unlock()
	k2, err := New(Config{DataDir: dir}, nil).Key("session")
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatal("the key changed across processes")
	}
	if other, _ := New(Config{DataDir: dir}, nil).Key("portal"); bytes.Equal(other, k1) {
		t.Fatal("two names share a key")
	}
	for _, bad := range []string{"", "../x", "a/b", ".hidden"} {
		if _, err := New(Config{DataDir: dir}, nil).Key(bad); err == nil {
			t.Errorf("key name %q accepted", bad)
		}
	}
	os.WriteFile(filepath.Join(dir, "broken.key"), []byte("zz\n"), 0o600)
	if _, err := New(Config{DataDir: dir}, nil).Key("broken"); err == nil {
		t.Error("a broken key file was accepted")
	}
}
