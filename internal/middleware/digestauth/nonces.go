package digestauth

import "sync"

// nonceTable remembers, for each nonce a correct digest came with, which
// nonce counts were seen: the highest and a window of 64 below it, so that
// requests sent at once on several connections (arriving out of order) all
// pass and none passes twice.
//
// It holds at most max nonces. When full, expired ones go first; if that
// is not enough, the ones first used longest ago go, and every nonce as old
// as those is then treated as expired (floor): a forgotten nonce cannot be
// replayed, its client is sent a new one with stale=true instead.
type nonceTable struct {
	mu    sync.Mutex
	m     map[[16]byte]*window
	order [][16]byte // in order of first use; may hold nonces gone from m
	max   int
	floor int64 // nonces made at or before this (Unix ns) count as expired
}

type window struct {
	ts   int64  // when the nonce was made
	top  uint32 // the highest count seen
	seen uint64 // bit i: top-i was seen
}

func newNonceTable(max int) *nonceTable {
	return &nonceTable{m: map[[16]byte]*window{}, max: max}
}

// use records count for the nonce id made at ts, and tells whether it is
// new (false: seen already, too far below the highest, or the nonce's state
// was forgotten).
func (t *nonceTable) use(id [16]byte, ts int64, count uint32, now, ttl int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ts <= t.floor {
		return false
	}
	w := t.m[id]
	if w == nil {
		if len(t.m) >= t.max {
			t.evict(now, ttl)
		}
		w = &window{ts: ts}
		t.m[id] = w
		t.order = append(t.order, id)
	}
	switch {
	case count > w.top:
		shift := count - w.top
		if shift >= 64 {
			w.seen = 0
		} else {
			w.seen <<= shift
		}
		w.seen |= 1
		w.top = count
		return true
	case w.top-count >= 64:
		return false
	}
	bit := uint64(1) << (w.top - count)
	if w.seen&bit != 0 {
		return false
	}
	w.seen |= bit
	return true
}

func (t *nonceTable) evict(now, ttl int64) {
	for id, w := range t.m {
		if now-w.ts > ttl {
			delete(t.m, id)
		}
	}
	keep := t.order[:0]
	for _, id := range t.order {
		w := t.m[id]
		if w == nil {
			continue
		}
		if len(t.m) >= t.max-t.max/8 {
			delete(t.m, id)
			t.floor = max(t.floor, w.ts)
			continue
		}
		keep = append(keep, id)
	}
	t.order = keep
	// Nonces made before the floor are expired now; drop them too.
	for id, w := range t.m {
		if w.ts <= t.floor {
			delete(t.m, id)
		}
	}
}

func (t *nonceTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
