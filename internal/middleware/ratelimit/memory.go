package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// memStore keeps buckets in this process: sharded by a hash of the key, each
// shard a map and an LRU list under the shard's own lock, so that requests of
// different clients seldom wait for each other and none waits for a global
// lock. At most cap buckets are kept; a new key past it takes the place of
// the least recently used (whose client then starts afresh, with a full
// bucket: the bound costs accuracy for long-idle clients only, which are
// the ones dropped).
type memStore struct {
	seed   maphash.Seed
	shards []memShard
	mask   uint64
	base   time.Time
	now    func() int64 // ns on the store's clock; nil: time since base
}

type memShard struct {
	mu         sync.Mutex
	m          map[string]*memEntry
	head, tail *memEntry // head: most recently used
	cap        int
	_          [64]byte // keep shards on cache lines of their own
}

type memEntry struct {
	key        string
	tat        int64
	prev, next *memEntry
}

// newMemStore returns a store of at most maxKeys buckets (each shard holds
// its share: a shard fills before the others when keys hash unevenly).
func newMemStore(maxKeys int) *memStore {
	n := 1
	for n < 64 && n*32 <= maxKeys {
		n *= 2
	}
	s := &memStore{seed: maphash.MakeSeed(), shards: make([]memShard, n), mask: uint64(n - 1), base: time.Now()}
	for i := range s.shards {
		s.shards[i].m = make(map[string]*memEntry)
		s.shards[i].cap = max(maxKeys/n, 1)
		if i < maxKeys%n {
			s.shards[i].cap++
		}
	}
	return s
}

func (s *memStore) clock() int64 {
	if s.now != nil {
		return s.now()
	}
	// Monotonic: a wall clock stepped back must not refill every bucket,
	// nor one stepped forward empty them. Offset by one so that 0 stays
	// "never used".
	return int64(time.Since(s.base)) + 1
}

func (s *memStore) take(_ context.Context, key []byte, l limit) (verdict, error) {
	sh := &s.shards[maphash.Bytes(s.seed, key)&s.mask]
	now := s.clock()
	sh.mu.Lock()
	e := sh.m[string(key)]
	if e == nil {
		tat, v := l.take(0, now)
		if v.ok { // a refused request on a new key (burst 0 is not allowed) adds nothing
			sh.insert(string(key), tat)
		}
		sh.mu.Unlock()
		return v, nil
	}
	tat, v := l.take(e.tat, now)
	e.tat = tat
	sh.touch(e)
	sh.mu.Unlock()
	return v, nil
}

// insert adds a bucket, in place of the least recently used one when the
// shard is full.
func (sh *memShard) insert(key string, tat int64) {
	var e *memEntry
	if len(sh.m) >= sh.cap && sh.tail != nil {
		e = sh.tail
		sh.unlink(e)
		delete(sh.m, e.key)
		*e = memEntry{}
	} else {
		e = new(memEntry)
	}
	e.key, e.tat = key, tat
	sh.m[key] = e
	sh.pushFront(e)
}

func (sh *memShard) touch(e *memEntry) {
	if sh.head == e {
		return
	}
	sh.unlink(e)
	sh.pushFront(e)
}

func (sh *memShard) unlink(e *memEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		sh.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		sh.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (sh *memShard) pushFront(e *memEntry) {
	e.next = sh.head
	if sh.head != nil {
		sh.head.prev = e
	}
	sh.head = e
	if sh.tail == nil {
		sh.tail = e
	}
}

// len is the number of buckets kept (tests).
func (s *memStore) len() int {
	n := 0
	for i := range s.shards {
		s.shards[i].mu.Lock()
		n += len(s.shards[i].m)
		s.shards[i].mu.Unlock()
	}
	return n
}
