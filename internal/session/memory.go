package session

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// MemoryStore keeps sessions in the process: bounded (past Max sessions the
// ones closest to their end go first), expired ones swept every minute. A
// restart logs every user out; several usher instances do not share it.
type MemoryStore struct {
	max    int
	seed   maphash.Seed
	shards [16]memShard
	stop   chan struct{}
	done   chan struct{}
}

type memShard struct {
	mu sync.Mutex
	m  map[string]*Session
}

// NewMemoryStore returns a store of at most max sessions (0: 100000) and
// starts its sweeper; Close stops it.
func NewMemoryStore(max int) *MemoryStore { return newMemoryStore(max, time.Minute) }

func newMemoryStore(max int, sweepEvery time.Duration) *MemoryStore {
	if max <= 0 {
		max = 100000
	}
	st := &MemoryStore{max: max, seed: maphash.MakeSeed(), stop: make(chan struct{}), done: make(chan struct{})}
	for i := range st.shards {
		st.shards[i].m = map[string]*Session{}
	}
	go st.sweep(sweepEvery)
	return st
}

func (st *MemoryStore) shard(id string) *memShard {
	return &st.shards[maphash.String(st.seed, id)%uint64(len(st.shards))]
}

// Get returns a copy of the session id, nil when unknown or expired.
func (st *MemoryStore) Get(_ context.Context, id string) (*Session, error) {
	sh := st.shard(id)
	sh.mu.Lock()
	s := sh.m[id]
	sh.mu.Unlock()
	if s == nil || s.Expired(time.Now()) {
		return nil, nil
	}
	c := *s
	return &c, nil
}

// Put stores a copy of s, replacing the session of the same id. The copy
// shares s's maps and slices: the caller must not change them afterwards.
func (st *MemoryStore) Put(_ context.Context, s *Session) error {
	if err := Check(s); err != nil {
		return err
	}
	c := *s
	sh := st.shard(s.ID)
	sh.mu.Lock()
	if _, ok := sh.m[s.ID]; !ok && len(sh.m) >= st.max/len(st.shards)+1 {
		evictSoonest(sh.m)
	}
	sh.m[s.ID] = &c
	sh.mu.Unlock()
	return nil
}

// Delete ends the session id.
func (st *MemoryStore) Delete(_ context.Context, id string) error {
	sh := st.shard(id)
	sh.mu.Lock()
	delete(sh.m, id)
	sh.mu.Unlock()
	return nil
}

// Len is the number of sessions kept, expired ones not swept yet included.
func (st *MemoryStore) Len() int {
	n := 0
	for i := range st.shards {
		sh := &st.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// Close stops the sweeper and waits for it.
func (st *MemoryStore) Close() {
	select {
	case <-st.stop:
	default:
		close(st.stop)
	}
	<-st.done
}

func (st *MemoryStore) sweep(every time.Duration) {
	defer close(st.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-st.stop:
			return
		case now := <-t.C:
			for i := range st.shards {
				sh := &st.shards[i]
				sh.mu.Lock()
				for id, s := range sh.m {
					if s.Expired(now) {
						delete(sh.m, id)
					}
				}
				sh.mu.Unlock()
			}
		}
	}
}

// evictSoonest removes the session that ends first. A full shard is rare (a
// flood of logins): a scan is fine there.
func evictSoonest(m map[string]*Session) {
	var id string
	var end time.Time
	for k, s := range m {
		if id == "" || s.Expires.Before(end) {
			id, end = k, s.Expires
		}
	}
	delete(m, id)
}
