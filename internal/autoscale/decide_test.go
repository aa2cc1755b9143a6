package autoscale

import (
	"strings"
	"testing"
	"time"
)

// step is one tick of a decider's test: seconds later, a sample of load v
// with ready servers, and the decision expected.
type step struct {
	at      float64 // seconds from the start
	v       float64
	ready   int
	desired int
	panic   bool
	reason  string // a part of the reason, when not ""
}

func TestDecider(t *testing.T) {
	base := Policy{Min: 1, Max: 10, Target: 10, Metric: MetricInFlight, StableWindow: 10 * time.Second,
		PanicWindow: 2 * time.Second, PanicThreshold: 2, Cooldown: 5 * time.Second}
	with := func(f func(*Policy)) Policy { p := base; f(&p); return p }
	for _, c := range []struct {
		name  string
		p     Policy
		start int
		steps []step
	}{
		{"steady load: ceil of the average over the target", base, 1, []step{
			{1, 15, 1, 2, false, "inFlight 15 averaged over 10s / target 10 = 2"},
			{2, 15, 2, 2, false, ""},
			{3, 15, 2, 2, false, ""},
		}},
		{"bounded by max and min", base, 1, []step{
			{1, 150, 1, 10, true, "capped at max 10"},
			// a stable window after the last burst, panic is over
			{20, 0, 10, 1, false, "= 0; raised to min 1"},
		}},
		{"a burst enters panic, which never scales down", base, 2, []step{
			{1, 10, 2, 2, false, ""},
			{2, 10, 2, 2, false, ""},
			// 55 is 2.75 times the target of the 2 servers ready; the stable
			// average alone would say 4, the panic window says 6
			{3, 100, 2, 6, true, "panic: inFlight 55 averaged over 2s (2.75"},
			{4, 100, 2, 10, true, ""},
			// the burst is over: panic mode holds the count
			{5, 0, 6, 10, true, "no scale down while panicking"},
			{10, 0, 10, 10, true, ""},
			// a whole stable window after the last burst (at 4s): out of panic, and the cooldown since 4s is over
			{14, 0, 6, 1, false, "inFlight 0 averaged over 10s"},
		}},
		{"panic is judged against the servers ready", base, 4, []step{
			// 25 in flight is 2.5 times the target of the one server ready, though 4 are wanted
			{1, 25, 1, 4, true, "times the target of 1 ready"},
		}},
		{"cooldown holds a scale down", base, 3, []step{
			{1, 5, 3, 3, false, "kept at 3: cooldown, 1s since the last change of 5s"},
			{4, 5, 3, 3, false, "cooldown"},
			{6, 5, 3, 1, false, ""},
		}},
		{"cooldown counts from the last change, a scale up too", base, 1, []step{
			{6, 15, 1, 2, false, ""},
			{7, 0, 2, 2, false, "cooldown"},
			{10, 0, 2, 2, false, "cooldown"},
			{17, 0, 2, 1, false, ""},
		}},
		{"max steps", with(func(p *Policy) { p.MaxStepUp, p.MaxStepDown, p.Cooldown = 2, 1, time.Second }), 1, []step{
			{1, 35, 1, 3, true, "3 at most by maxStepUp 2"},
			{2, 35, 3, 4, true, ""},
			{20, 0, 4, 3, false, "3 at most by maxStepDown 1"},
			{22, 0, 3, 2, false, ""},
		}},
		{"scale to zero and back", with(func(p *Policy) { p.Min = 0 }), 1, []step{
			{6, 0, 1, 0, false, "= 0"},
			// a request waits: a load of 1 needs a server, at once (panic: no server ready)
			{7, 1, 0, 1, false, "= 1"},
		}},
		{"a cold start's burst", with(func(p *Policy) { p.Min = 0 }), 0, []step{
			{1, 30, 0, 3, true, "panic"},
		}},
		{"rps", with(func(p *Policy) { p.Metric, p.Target = MetricRPS, 200 }), 1, []step{
			{1, 450, 1, 3, true, "panic: rps 450"},
		}},
		{"the stable window forgets old samples", with(func(p *Policy) { p.Cooldown = time.Second }), 1, []step{
			{1, 9, 1, 1, false, ""},
			{2, 19, 1, 2, false, "inFlight 14 averaged"},
			{13, 9, 2, 1, false, "inFlight 9 averaged"},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			d := NewDecider(c.p, c.start, t0)
			for i, s := range c.steps {
				now := t0.Add(time.Duration(s.at * float64(time.Second)))
				d.Record(now, s.v)
				got := d.Decide(now, s.ready)
				if got.Desired != s.desired || got.Panic != s.panic || !strings.Contains(got.Reason, s.reason) {
					t.Fatalf("step %d (at %vs): got desired %d panic %v reason %q; want %d %v %q",
						i, s.at, got.Desired, got.Panic, got.Reason, s.desired, s.panic, s.reason)
				}
				if d.Desired() != s.desired {
					t.Fatalf("step %d: Desired() is %d after a decision of %d", i, d.Desired(), s.desired)
				}
			}
		})
	}
}

func TestDeciderNoSample(t *testing.T) {
	now := time.Now()
	d := NewDecider(Policy{Min: 1, Max: 3, Target: 1, StableWindow: time.Second, PanicWindow: time.Second / 2, PanicThreshold: 2}, 2, now)
	if got := d.Decide(now, 2); got.Desired != 2 || got.Direction != "none" || got.Reason != "no sample yet" {
		t.Fatalf("got %+v", got)
	}
}
