package runtime

import (
	"crypto/tls"
	"testing"
	"time"
)

// Keys rotate on time, the newest first, the older ones kept to decrypt,
// at most Keep of them; between rotations the generation is stable.
func TestTicketKeysRotate(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	k := &TicketKeys{Interval: time.Hour, Keep: 3, Now: func() time.Time { return now }}
	keys, g1 := k.current()
	if len(keys) != 1 || g1 == 0 {
		t.Fatalf("first keys: %d, generation %d", len(keys), g1)
	}
	now = now.Add(59 * time.Minute)
	if g := k.generation(); g != g1 {
		t.Fatalf("rotated before the interval: %d", g)
	}
	var all [][32]byte
	for i := range 4 {
		now = now.Add(time.Hour)
		ks, g := k.current()
		if g != g1+uint64(i)+1 {
			t.Fatalf("rotation %d: generation %d", i, g)
		}
		if ks[0] == keys[0] {
			t.Fatalf("rotation %d: the same newest key", i)
		}
		if len(ks) != min(i+2, 3) || ks[1] != keys[0] {
			t.Fatalf("rotation %d: %d keys, previous kept %v", i, len(ks), ks[1] == keys[0])
		}
		keys = ks
		all = append(all, ks[0])
	}
	if all[0] == all[1] {
		t.Fatal("two rotations made the same key")
	}
}

// The sets of two snapshots share the State's keys: a ticket of one is
// opened by the other (what keeps resumption across a reload).
func TestTicketKeysSharedBySnapshots(t *testing.T) {
	st := NewState()
	a, b := &TLSSet{options: map[string]*tls.Config{"default": {}}, tickets: st.ticketKeys()}, &TLSSet{options: map[string]*tls.Config{"default": {}}, tickets: st.ticketKeys()}
	a.freshTickets()
	b.freshTickets()
	if a.ticketGen.Load() != b.ticketGen.Load() || a.ticketGen.Load() == 0 {
		t.Fatalf("generations %d and %d", a.ticketGen.Load(), b.ticketGen.Load())
	}
}
