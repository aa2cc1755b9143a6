package balance

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/usher-lb/usher/internal/pool"
)

// TestPickOther: a retry's pick never returns a server tried, an
// unavailable one or one of weight 0; nil once every available server was
// tried; it spreads by weight among the others; and it allocates nothing.
func TestPickOther(t *testing.T) {
	for _, a := range all {
		t.Run(a, func(t *testing.T) {
			ss := servers(1, 1, 2, 0, 1)
			ss[4].SetEjected(true)
			p := mustNew(t, Options{Algorithm: a}, ss)
			counts := make([]int, len(ss))
			for range 3000 {
				s := p.PickOther(rand.Uint64(), ss[:1])
				i := index(ss, s)
				if i <= 0 || i >= 3 {
					t.Fatalf("PickOther(tried %d) = %d", 0, i)
				}
				counts[i]++
			}
			if !IsHash(a) && a != LeastTime && (counts[1] == 0 || counts[2] == 0) {
				t.Errorf("PickOther never took one of the others: %v", counts)
			}
			if a == RoundRobin || a == Random {
				// weights 1 and 2 among the two left
				if c := float64(counts[2]) / 3000; c < 0.6 || c > 0.73 {
					t.Errorf("share of the weight-2 server = %.2f, want about 2/3", c)
				}
			}
			if s := p.PickOther(1, ss[:3]); s != nil {
				t.Errorf("every available server tried: got %d", index(ss, s))
			}
			tried := ss[:1]
			if n := testing.AllocsPerRun(1000, func() { p.PickOther(rand.Uint64(), tried) }); n != 0 {
				t.Errorf("%v allocations per PickOther, want 0", n)
			}
		})
	}
}

// TestPickOtherKeepsTheRound: retries in between do not change the order in
// which round-robin's picks meet the servers.
func TestPickOtherKeepsTheRound(t *testing.T) {
	ss := servers(1, 1, 1)
	p := mustNew(t, Options{Algorithm: RoundRobin}, ss)
	var seq []int
	for range 9 {
		s := p.Pick(0)
		seq = append(seq, index(ss, s))
		p.PickOther(0, []*pool.Server{s}) // a retry after each
	}
	for i := 3; i < len(seq); i++ {
		if seq[i] != seq[i-3] {
			t.Fatalf("picks with retries in between: %v, want a steady round of 3", seq)
		}
	}
	if slices.Sorted(slices.Values(seq[:3]))[0] != 0 || len(slices.Compact(slices.Sorted(slices.Values(seq[:3])))) != 3 {
		t.Fatalf("one round did not meet every server: %v", seq)
	}
}

// TestPickOtherHashTakesTheNextOnTheRing: for a hash, the server after a
// failed one is the same for every request of a key.
func TestPickOtherHashTakesTheNextOnTheRing(t *testing.T) {
	ss := servers(1, 1, 1, 1, 1)
	p := mustNew(t, Options{Algorithm: URIHash}, ss)
	key := HashString("/cart")
	first := p.Pick(key)
	next := p.PickOther(key, []*pool.Server{first})
	for range 20 {
		if s := p.PickOther(key, []*pool.Server{first}); s != next {
			t.Fatalf("the key's retry went to %d, then %d", index(ss, next), index(ss, s))
		}
	}
}
