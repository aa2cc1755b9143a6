package pool

import (
	"math"
	"net/url"
	"sync"
	"testing"
	"time"
)

const ms = float64(time.Millisecond)

// near tells whether got is within the packing's precision (2^-16) of want.
func near(got, want float64) bool { return math.Abs(got-want) <= want*0x1p-15+1 }

func TestLatency(t *testing.T) {
	t0 := time.Now()
	tau := 10 * time.Second
	e1 := math.Exp(-1)
	type obs struct {
		at        time.Duration // after t0
		rtt, ttfb time.Duration
	}
	for _, tc := range []struct {
		name     string
		obs      []obs
		readAt   time.Duration
		cost     float64 // ns; 0: no value
		ttfbMean float64 // ns; 0: no value
	}{
		{"no sample", nil, 0, 0, 0},
		{"first sample", []obs{{0, 10 * time.Millisecond, 4 * time.Millisecond}}, 0, 10 * ms, 4 * ms},
		{"a peak is taken at once", []obs{{0, 10 * time.Millisecond, 0}, {0, 100 * time.Millisecond, 0}}, 0, 100 * ms, 0},
		{"a lower sample one tau later", []obs{{0, 100 * time.Millisecond, 0}, {tau, 10 * time.Millisecond, 0}}, tau,
			100*ms*e1 + 10*ms*(1-e1), 0},
		{"a lower sample in the same millisecond weighs nothing", []obs{{0, 10 * time.Millisecond, 0}, {0, 5 * time.Millisecond, 0}}, 0, 10 * ms, 0},
		{"cost decays at read", []obs{{0, 100 * time.Millisecond, 0}}, 2 * tau, 100 * ms * math.Exp(-2), 0},
		{"idle for long decays toward zero", []obs{{0, time.Second, 0}}, 20 * tau, float64(time.Second) * math.Exp(-20), 0},
		{"ttfb is a plain EWMA", []obs{{0, 0, 10 * time.Millisecond}, {tau, 0, 20 * time.Millisecond}}, 0, 0,
			10*ms*e1 + 20*ms*(1-e1)},
		{"ttfb does not decay at read", []obs{{0, 0, 10 * time.Millisecond}}, 10 * tau, 0, 10 * ms},
		{"a sample stamped before the last weighs nothing", []obs{{tau, 100 * time.Millisecond, 0}, {0, 10 * time.Millisecond, 0}}, tau, 100 * ms, 0},
		{"values <= 0 are not recorded", []obs{{0, -time.Second, 0}}, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l Latency
			l.SetDecay(tau)
			for _, o := range tc.obs {
				l.Observe(o.rtt, o.ttfb, t0.Add(o.at))
			}
			cost, ok := l.Cost(t0.Add(tc.readAt))
			if ok != (tc.cost != 0) || !near(cost, tc.cost) {
				t.Errorf("Cost = %v, %v; want %v", cost/ms, ok, tc.cost/ms)
			}
			ttfb, ok := l.TTFB()
			if ok != (tc.ttfbMean != 0) || !near(ttfb, tc.ttfbMean) {
				t.Errorf("TTFB = %v, %v; want %v", ttfb/ms, ok, tc.ttfbMean/ms)
			}
		})
	}
}

func TestLatencyDecay(t *testing.T) {
	var l Latency
	if l.Decay() != DefaultDecay {
		t.Errorf("zero Latency decays with %s", l.Decay())
	}
	l.SetDecay(time.Second)
	t0 := time.Now()
	l.Observe(time.Second, 0, t0)
	if c, _ := l.Cost(t0.Add(time.Second)); !near(c, float64(time.Second)*math.Exp(-1)) {
		t.Errorf("after one tau of 1s: %v", c/ms)
	}
	l.SetDecay(0)
	if l.Decay() != DefaultDecay {
		t.Errorf("SetDecay(0) gives %s", l.Decay())
	}
}

func TestCostRatio(t *testing.T) {
	t0 := time.Now()
	var a, b, none Latency
	a.SetDecay(time.Second)
	b.SetDecay(time.Second)
	a.Observe(100*time.Millisecond, 0, t0)
	b.Observe(20*time.Millisecond, 0, t0.Add(2*time.Second))
	for _, at := range []time.Duration{2 * time.Second, 5 * time.Second, time.Minute} {
		ca, _ := a.Cost(t0.Add(at))
		cb, _ := b.Cost(t0.Add(at))
		if r, okA, okB := CostRatio(&a, &b); !okA || !okB || math.Abs(r/(ca/cb)-1) > 1e-4 {
			t.Errorf("at %s: CostRatio = %v, %v, %v; want %v", at, r, okA, okB, ca/cb)
		}
	}
	if r, okA, okB := CostRatio(&a, &none); r != 1 || !okA || okB {
		t.Errorf("against no history: %v, %v, %v", r, okA, okB)
	}
	if r, okA, okB := CostRatio(&none, &none); r != 1 || okA || okB {
		t.Errorf("no history: %v, %v, %v", r, okA, okB)
	}
}

func TestPackPrecision(t *testing.T) {
	for _, v := range []float64{1, 999, 1e6, 12345678.9, 3.6e12, 1e-3} {
		got, stamp := unpack(pack(v, 12345))
		if stamp != 12345 || math.Abs(got-v) > v*0x1p-16 {
			t.Errorf("pack(%v) gives %v, %d", v, got, stamp)
		}
	}
}

// Concurrent samples lose nothing: with equal stamps the cost is the peak.
func TestLatencyConcurrent(t *testing.T) {
	var l Latency
	now := time.Now()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				l.Observe(time.Duration(g*1000+i+1)*time.Microsecond, time.Millisecond, now)
				l.Cost(now)
			}
		})
	}
	wg.Wait()
	if c, _ := l.Cost(now); !near(c, float64(8000*time.Microsecond)) {
		t.Errorf("cost %v ms, want the peak 8ms", c/ms)
	}
}

func TestLatencyAllocs(t *testing.T) {
	var l Latency
	now := time.Now()
	if n := testing.AllocsPerRun(100, func() {
		l.Observe(time.Millisecond, time.Millisecond, now)
		l.Cost(now)
		l.TTFB()
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func TestSetAvailableSince(t *testing.T) {
	s := NewServer("k", &url.URL{Scheme: "http", Host: "a:1"}, 1)
	if time.Since(s.AvailableSince()) > time.Minute {
		t.Error("a new server is not available since now")
	}
	s.SetAvailableSince(time.Time{})
	if s.AvailableSince().UnixNano() != 0 {
		t.Errorf("zero time gives %v", s.AvailableSince())
	}
}
