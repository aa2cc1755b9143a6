package balance

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/pool"
)

// An agent's weight percent scales a server's share in every algorithm that
// honours weights, alone and together with slow start; 0% and drain take the
// server out, from panic mode too, and an operator's undrain does not undo it.
func TestAgentWeight(t *testing.T) {
	for _, a := range []string{RoundRobin, Random, LeastConnections, P2C, EWMA} {
		for _, tc := range []struct {
			pct       int
			slowStart bool // server 0 is half way through its slow start
		}{{50, false}, {20, false}, {100, false}, {50, true}} {
			t.Run(fmt.Sprintf("%s/agent=%d%%/slowStart=%v", a, tc.pct, tc.slowStart), func(t *testing.T) {
				ss := servers(2, 2, 1)
				for _, s := range ss {
					s.SetAvailableSince(time.Time{})
				}
				ss[0].SetAgent(pool.AgentReady, tc.pct)
				opts := Options{Algorithm: a}
				f := float64(tc.pct) / 100
				if tc.slowStart {
					opts.SlowStart = 10 * time.Second
					ss[0].SetHealthy(false)
					ss[0].SetHealthy(true) // available since now
					f *= minRamp + (1-minRamp)/2
				}
				p := mustNew(t, opts, ss)
				if tc.slowStart {
					now := ss[0].AvailableSince().Add(5 * time.Second)
					p.(interface{ setClock(func() time.Time) }).setClock(func() time.Time { return now })
				}
				got := count(t, p, ss, 30000, false)
				// Round-robin's skips make its picks a Markov chain rather
				// than independent draws; its spread is no wider.
				checkShares(t, got, []float64{2 * f, 2, 1}, 5)
			})
		}
	}
}

func TestAgentTakesServerOut(t *testing.T) {
	for _, a := range all {
		for _, tc := range []struct {
			name   string
			state  string
			weight int
		}{{"weight 0%", pool.AgentReady, 0}, {"drain", pool.AgentDrain, 100}, {"down", pool.AgentDown, 100}} {
			t.Run(a+"/"+tc.name, func(t *testing.T) {
				ss := servers(1, 1)
				p := mustNew(t, Options{Algorithm: a}, ss)
				ss[0].SetAgent(tc.state, tc.weight)
				ss[0].SetDraining(false) // an operator's undrain changes nothing
				for range 500 {
					if s := p.Pick(rand.Uint64()); s != ss[1] {
						t.Fatalf("Pick = %v, want server 1 only", s)
					}
				}
				ss[1].SetHealthy(false)
				any0 := false
				for range 500 {
					s := p.PickAny(rand.Uint64())
					any0 = any0 || s == ss[0]
				}
				// Panic mode ignores health, so the agent's down, but not
				// its drain.
				if wantAny := tc.state == pool.AgentDown; any0 != wantAny {
					t.Errorf("PickAny picked server 0: %v, want %v", any0, wantAny)
				}
				ss[0].SetAgent(pool.AgentReady, 100)
				ss[1].SetHealthy(true)
				if got := count(t, p, ss, 1000, false); got[0] == 0 {
					t.Errorf("counts %v: server 0 not back after the agent said ready", got)
				}
			})
		}
	}
}

// Hash algorithms keep their keys: a weight percent above 0 changes nothing.
func TestAgentWeightHashIgnored(t *testing.T) {
	ss := servers(1, 1)
	p := mustNew(t, Options{Algorithm: IPHash}, ss)
	ss[0].SetAgent(pool.AgentReady, 10)
	if got := count(t, p, ss, 20000, false); got[0] < 7000 {
		t.Errorf("hash with agent weight 10%%: counts %v, want about even", got)
	}
}

func TestAgentPickAllocs(t *testing.T) {
	ss := servers(1, 1, 1)
	ss[0].SetAgent(pool.AgentReady, 50)
	for _, a := range nonHash {
		p := mustNew(t, Options{Algorithm: a, SlowStart: time.Second}, ss)
		if n := testing.AllocsPerRun(200, func() { p.Pick(1) }); n != 0 {
			t.Errorf("%s: %v allocations a pick", a, n)
		}
	}
}
