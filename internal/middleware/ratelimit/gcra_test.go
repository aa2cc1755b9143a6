package ratelimit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

// TestGCRA: the arithmetic of one bucket, request by request, on an injected
// clock.
func TestGCRA(t *testing.T) {
	type step struct {
		at        int64 // ms
		ok        bool
		remaining int64
		wait      int64 // ms
	}
	tests := []struct {
		name                   string
		average, period, burst int64
		steps                  []step
	}{
		{"burst of 3 at 10/s, then one per 100ms", 10, 1000, 3, []step{
			{0, true, 2, 100},
			{0, true, 1, 200},
			{0, true, 0, 300},
			{0, false, 0, 100}, // refused: costs nothing
			{50, false, 0, 50},
			{100, true, 0, 300},
			{150, false, 0, 50},
			{200, true, 0, 300},
			{1000, true, 2, 100}, // idle long enough: a full bucket again
		}},
		{"burst 1: no two at once", 2, 1000, 1, []step{
			{0, true, 0, 500},
			{1, false, 0, 499},
			{499, false, 0, 1},
			{500, true, 0, 500},
		}},
		{"burst above average", 1, 1000, 5, []step{
			{0, true, 4, 1000},
			{0, true, 3, 2000},
			{2500, true, 4, 1000}, // 2.5s refilled 2.5 requests: the bucket is full (remaining floors)
		}},
		{"a minute's period", 60, 60000, 2, []step{
			{0, true, 1, 1000},
			{0, true, 0, 2000},
			{10, false, 0, 990},
			{1000, true, 0, 2000},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimit(tt.average, tt.period*ms, tt.burst)
			var tat int64
			for i, s := range tt.steps {
				now := s.at*ms + 1
				var v verdict
				tat, v = l.take(tat, now)
				want := verdict{ok: s.ok, remaining: s.remaining, wait: s.wait * ms}
				if v != want {
					t.Fatalf("step %d at %dms: %+v, want %+v", i, s.at, v, want)
				}
			}
		})
	}
}

// TestMemStoreOnClock: the memory store applies the arithmetic per key, on
// its clock.
func TestMemStoreOnClock(t *testing.T) {
	s := newMemStore(100)
	var now int64 = 1
	s.now = func() int64 { return now }
	l := newLimit(1, int64(time.Second), 2)
	take := func(key string) verdict {
		v, err := s.take(context.Background(), []byte(key), l)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i, want := range []bool{true, true, false} {
		if v := take("a"); v.ok != want {
			t.Fatalf("a, request %d: ok %v, want %v", i, v.ok, want)
		}
	}
	if !take("b").ok {
		t.Fatal("b was limited by a's requests")
	}
	now += int64(time.Second)
	if v := take("a"); !v.ok || v.remaining != 0 {
		t.Fatalf("a after 1s: %+v, want one let through and none left", v)
	}
}

// TestMemStoreIsBounded: past maxKeys, the least recently used bucket goes,
// and a recently used one stays.
func TestMemStoreIsBounded(t *testing.T) {
	s := newMemStore(4) // one shard: the order is exact
	if len(s.shards) != 1 {
		t.Fatalf("%d shards for 4 keys", len(s.shards))
	}
	s.now = func() int64 { return 1 }
	l := newLimit(1, int64(time.Hour), 1)
	take := func(key string) bool {
		v, _ := s.take(context.Background(), []byte(key), l)
		return v.ok
	}
	for _, k := range []string{"a", "b", "c", "d"} {
		take(k)
	}
	take("a") // refused, but used: now the most recent
	take("e") // evicts b, the least recently used
	if n := s.len(); n != 4 {
		t.Fatalf("%d buckets kept, want 4", n)
	}
	if take("a") {
		t.Fatal("a's bucket was evicted though recently used")
	}
	if !take("b") {
		t.Fatal("b's bucket was not the one evicted")
	}

	big := newMemStore(10000)
	big.now = func() int64 { return 1 }
	for i := range 30000 {
		big.take(context.Background(), fmt.Appendf(nil, "k%d", i), l)
	}
	if n := big.len(); n > 10000 || n < 9000 {
		t.Fatalf("%d buckets kept with maxKeys 10000", n)
	}
	if len(big.shards) != 64 {
		t.Fatalf("%d shards, want 64", len(big.shards))
	}
}
