package runtime

import (
	"crypto/rand"
	"sync"
	"sync/atomic"
	"time"
)

// TicketKeys are the session ticket keys of every TLS entrypoint, kept in the
// State so that a reload does not end resumption (each tls.Config would
// otherwise have keys of its own). A new key is made every Interval and
// encrypts new tickets; the Keep-1 before it still decrypt, so a ticket is
// good for Interval×(Keep-1) to Interval×Keep: long enough to resume, short
// enough that a stolen key opens little (forward secrecy of resumed
// sessions). The keys live in memory only: a restart makes new ones.
type TicketKeys struct {
	Interval time.Duration // default 12h
	Keep     int           // default 3
	Now      func() time.Time

	next atomic.Int64 // unix nanoseconds of the next rotation
	gen  atomic.Uint64
	mu   sync.Mutex
	keys [][32]byte
}

func (k *TicketKeys) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// generation returns the generation of the keys, rotating them first when
// it is time: one clock read and two atomic loads between rotations.
func (k *TicketKeys) generation() uint64 {
	if g := k.gen.Load(); g != 0 && k.now().UnixNano() < k.next.Load() {
		return g
	}
	_, g := k.current()
	return g
}

// current returns the keys (the first encrypts) and their generation,
// rotating first when it is time.
func (k *TicketKeys) current() ([][32]byte, uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if k.gen.Load() == 0 || now.UnixNano() >= k.next.Load() {
		var key [32]byte
		rand.Read(key[:])
		keep := k.Keep
		if keep <= 0 {
			keep = 3
		}
		k.keys = append([][32]byte{key}, k.keys[:min(len(k.keys), keep-1)]...)
		iv := k.Interval
		if iv <= 0 {
			iv = 12 * time.Hour
		}
		k.next.Store(now.Add(iv).UnixNano())
		k.gen.Add(1)
	}
	return append([][32]byte(nil), k.keys...), k.gen.Load()
}

// ticketKeys returns the State's ticket keys.
func (st *State) ticketKeys() *TicketKeys {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.tickets == nil {
		st.tickets = &TicketKeys{}
	}
	return st.tickets
}
