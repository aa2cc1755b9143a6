package balance

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/pool"
)

// all is every algorithm; nonHash those that ignore the key.
var (
	nonHash = []string{RoundRobin, Random, LeastConnections, P2C, EWMA, LeastTime}
	hashes  = []string{IPHash, URIHash, HeaderHash, CookieHash}
	all     = append(append([]string{}, nonHash...), hashes...)
)

// setClock lets a test fix the time a picker sees.
func (b *base) setClock(c func() time.Time) { b.clock = c }

func servers(weights ...int) []*pool.Server {
	ss := make([]*pool.Server, len(weights))
	for i, w := range weights {
		u := &url.URL{Scheme: "http", Host: fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250+1)}
		ss[i] = pool.NewServer(pool.Key("svc", u.String()), u, w)
	}
	return ss
}

func mustNew(t testing.TB, opts Options, ss []*pool.Server) Picker {
	t.Helper()
	p, err := New(opts, ss)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func index(ss []*pool.Server, s *pool.Server) int {
	for i, x := range ss {
		if x == s {
			return i
		}
	}
	return -1
}

// count makes n picks with random keys and counts them by server index; with
// start, each picked server gets a request started (and never finished).
func count(t testing.TB, p Picker, ss []*pool.Server, n int, start bool) []int {
	t.Helper()
	c := make([]int, len(ss))
	for range n {
		s := p.Pick(rand.Uint64())
		if s == nil {
			t.Fatal("Pick returned nil")
		}
		if start {
			s.Start()
		}
		c[index(ss, s)]++
	}
	return c
}

// checkShares checks that each count is within sigmas standard deviations of a
// binomial draw of n picks with probability want[i]/sum(want) (sigmas 5: a false
// failure about once in two million runs per count).
func checkShares(t *testing.T, got []int, want []float64, sigmas float64) {
	t.Helper()
	var n, total float64
	for i := range got {
		n += float64(got[i])
		total += want[i]
	}
	for i := range got {
		p := want[i] / total
		mean, sd := n*p, math.Sqrt(n*p*(1-p))
		if math.Abs(float64(got[i])-mean) > sigmas*sd+0.5 {
			t.Errorf("server %d: %d picks, want %.0f ± %.0f (counts %v)", i, got[i], mean, sigmas*sd, got)
		}
	}
}

func TestNew(t *testing.T) {
	ss := servers(1, 2)
	for _, tc := range []struct {
		name string
		opts Options
		ok   bool
	}{
		{"default", Options{}, true},
		{"every algorithm", Options{Algorithm: CookieHash}, true},
		{"unknown", Options{Algorithm: "fastest"}, false},
		{"factor below 1", Options{Algorithm: IPHash, HashBalanceFactor: 0.5}, false},
		{"negative decay", Options{Decay: -time.Second}, false},
		{"negative slow start", Options{SlowStart: -time.Second}, false},
		{"weights length", Options{Weights: []int{1}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.opts, ss)
			if (err == nil) != tc.ok || (p != nil) != tc.ok {
				t.Fatalf("New = %v, %v; want ok %v", p, err, tc.ok)
			}
		})
	}
	for _, a := range all {
		if _, err := New(Options{Algorithm: a}, ss); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
}

func TestIsHash(t *testing.T) {
	for _, a := range all {
		want := a == IPHash || a == URIHash || a == HeaderHash || a == CookieHash
		if IsHash(a) != want {
			t.Errorf("IsHash(%q) = %v", a, !want)
		}
	}
}

func TestHashString(t *testing.T) {
	// FNV-1a test vectors: the hash must never change between releases.
	for s, want := range map[string]uint64{"": 0xcbf29ce484222325, "a": 0xaf63dc4c8601ec8c, "foobar": 0x85944171f73967e8} {
		if got := HashString(s); got != want {
			t.Errorf("HashString(%q) = %#x, want %#x", s, got, want)
		}
	}
}

// With no load every algorithm but the hashes spreads requests by weight.
func TestWeightProportions(t *testing.T) {
	weights := []int{5, 3, 1, 1}
	want := []float64{5, 3, 1, 1}
	const n = 100000
	for _, a := range nonHash {
		t.Run(a, func(t *testing.T) {
			ss := servers(weights...)
			p := mustNew(t, Options{Algorithm: a}, ss)
			got := count(t, p, ss, n, false)
			if a == RoundRobin {
				// Exact: n picks are n/10 full cycles.
				for i := range got {
					if got[i] != n/10*weights[i] {
						t.Errorf("round-robin counts %v, want exactly %v×%d", got, weights, n/10)
					}
				}
				return
			}
			checkShares(t, got, want, 5)
		})
	}
}

// Weights given in Options win over the servers' own (a compile before Commit).
func TestOptionsWeights(t *testing.T) {
	ss := servers(1, 1)
	p := mustNew(t, Options{Weights: []int{3, 0}}, ss)
	got := count(t, p, ss, 300, false)
	if got[1] != 0 || got[0] != 300 {
		t.Errorf("counts %v, want all on server 0 (weight 0 takes nothing)", got)
	}
}

// Hash algorithms spread random keys by weight too, but only as well as the ring's
// 100 points per unit of weight allow: within 25% of the share.
func TestHashProportions(t *testing.T) {
	weights := []int{4, 2, 1, 1, 1, 1}
	ss := servers(weights...)
	p := mustNew(t, Options{Algorithm: IPHash}, ss)
	const n = 200000
	got := count(t, p, ss, n, false)
	for i, c := range got {
		share := float64(weights[i]) / 10
		if d := float64(c)/n/share - 1; math.Abs(d) > 0.25 {
			t.Errorf("server %d has %.3f of keys, want %.3f ± 25%%", i, float64(c)/n, share)
		}
	}
}

func TestSmoothRoundRobin(t *testing.T) {
	for _, tc := range []struct {
		weights []uint32
		want    string
	}{
		{[]uint32{5, 1, 1}, "aabacaa"}, // nginx's example
		{[]uint32{1, 1, 1}, "abc"},
		{[]uint32{2, 0, 4}, "cac"}, // gcd 2, weight 0 left out
		{[]uint32{0, 0}, ""},
	} {
		var got []byte
		for _, k := range smoothSchedule(tc.weights) {
			got = append(got, byte('a'+k))
		}
		if string(got) != tc.want {
			t.Errorf("schedule %v = %q, want %q", tc.weights, got, tc.want)
		}
	}

	// Picks follow the schedule: never a run of 5 of the weight-5 server, and
	// any 7 consecutive picks have exactly 5 of it.
	ss := servers(5, 1, 1)
	p := mustNew(t, Options{}, ss)
	var seq []int
	for range 700 {
		seq = append(seq, index(ss, p.Pick(0)))
	}
	run := 0
	for i, k := range seq {
		if k == 0 {
			if run++; run >= 5 {
				t.Fatalf("run of %d picks of the heavy server ending at %d: %v", run, i, seq[max(0, i-10):i+1])
			}
		} else {
			run = 0
		}
		if i >= 7 {
			heavy := 0
			for _, x := range seq[i-7 : i] {
				if x == 0 {
					heavy++
				}
			}
			if heavy != 5 {
				t.Fatalf("picks %d..%d have %d of the heavy server: %v", i-7, i, heavy, seq[i-7:i])
			}
		}
	}
}

func TestRuns(t *testing.T) {
	for _, tc := range []struct {
		sched []int32
		want  []uint32
	}{
		{[]int32{0, 0, 1, 0, 2, 0, 0}, []uint32{2, 1, 1, 1, 1, 4, 3}},
		{[]int32{3, 3, 3}, []uint32{3, 3, 3}},
		{[]int32{0, 1}, []uint32{1, 1}},
		{nil, []uint32{}},
	} {
		if got := runs(tc.sched); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("runs(%v) = %v, want %v", tc.sched, got, tc.want)
		}
	}
}

// Round-robin gives an unavailable server's slots to the others by weight, not to
// its neighbour in the schedule.
func TestRoundRobinSkipShares(t *testing.T) {
	ss := servers(5, 1, 1) // schedule a a b a c a a
	ss[0].SetHealthy(false)
	p := mustNew(t, Options{}, ss)
	got := count(t, p, ss, 1000, false)
	if got[0] != 0 || got[1] != 500 || got[2] != 500 {
		t.Errorf("counts %v, want [0 500 500]", got)
	}
	ss[0].SetHealthy(true)
	ss[1].SetEjected(true)
	got = count(t, p, ss, 600, false)
	if got[1] != 0 || got[0] != 500 || got[2] != 100 {
		t.Errorf("counts %v, want [500 0 100]", got)
	}
}

// down marks server i unavailable in each of the three ways.
var down = []struct {
	name string
	set  func(*pool.Server)
}{
	{"down", func(s *pool.Server) { s.SetHealthy(false) }},
	{"ejected", func(s *pool.Server) { s.SetEjected(true) }},
	{"draining", func(s *pool.Server) { s.SetDraining(true) }},
	{"weight 0", func(s *pool.Server) { s.SetWeight(0) }},
}

func TestUnavailableSkipped(t *testing.T) {
	for _, a := range all {
		for _, d := range down {
			t.Run(a+"/"+d.name, func(t *testing.T) {
				ss := servers(3, 2, 1, 1)
				p := mustNew(t, Options{Algorithm: a}, ss)
				d.set(ss[0])
				d.set(ss[2])
				got := count(t, p, ss, 4000, false)
				if got[0] != 0 || got[2] != 0 {
					t.Fatalf("counts %v: unavailable servers 0 and 2 picked", got)
				}
				if !IsHash(a) {
					checkShares(t, got, []float64{0, 2, 0, 1}, 5)
				}
			})
		}
	}
}

func TestNoneAvailable(t *testing.T) {
	for _, a := range all {
		t.Run(a, func(t *testing.T) {
			if p := mustNew(t, Options{Algorithm: a}, nil); p.Pick(1) != nil || p.PickAny(1) != nil {
				t.Error("a picker over no servers picked one")
			}
			if p := mustNew(t, Options{Algorithm: a}, servers(0, 0)); p.Pick(1) != nil || p.PickAny(1) != nil {
				t.Error("a picker over servers of weight 0 picked one")
			}

			ss := servers(3, 1)
			p := mustNew(t, Options{Algorithm: a}, ss)
			ss[0].SetHealthy(false)
			ss[1].SetEjected(true)
			for range 100 {
				if s := p.Pick(rand.Uint64()); s != nil {
					t.Fatalf("Pick = %s with no server available", s.Key)
				}
			}
			// Panic mode spreads over unhealthy servers, by weight.
			c := make([]int, 2)
			for range 4000 {
				c[index(ss, p.PickAny(rand.Uint64()))]++
			}
			if !IsHash(a) {
				checkShares(t, c, []float64{3, 1}, 5)
			} else if c[0] == 0 || c[1] == 0 {
				t.Errorf("PickAny counts %v, want both servers", c)
			}
			// ... but never to drained ones.
			ss[0].SetDraining(true)
			for range 100 {
				if s := p.PickAny(rand.Uint64()); s != ss[1] {
					t.Fatalf("PickAny = %v, want the only server not drained", s)
				}
			}
			ss[1].SetDraining(true)
			if s := p.PickAny(1); s != nil {
				t.Fatalf("PickAny = %s with every server drained", s.Key)
			}
		})
	}
}

func TestLeastConnections(t *testing.T) {
	for _, tc := range []struct {
		weights, inflight []int
		want              int
	}{
		{[]int{1, 1, 1}, []int{3, 1, 2}, 1},
		{[]int{2, 1}, []int{3, 2}, 0}, // 1.5 < 2
		{[]int{1, 4}, []int{1, 3}, 1}, // 0.75 < 1
		{[]int{1, 1, 1}, []int{2, 0, 5}, 1},
	} {
		ss := servers(tc.weights...)
		for i, n := range tc.inflight {
			for range n {
				ss[i].Start()
			}
		}
		p := mustNew(t, Options{Algorithm: LeastConnections}, ss)
		for range 50 {
			if got := index(ss, p.Pick(0)); got != tc.want {
				t.Fatalf("weights %v in-flight %v: picked %d, want %d", tc.weights, tc.inflight, got, tc.want)
			}
		}
	}

	// Under a load that never finishes, in-flight counts stay proportional to
	// weight, to one request.
	ss := servers(5, 3, 2)
	p := mustNew(t, Options{Algorithm: LeastConnections}, ss)
	count(t, p, ss, 1000, true)
	for i, w := range []int{500, 300, 200} {
		if d := ss[i].InFlight() - int64(w); d < -1 || d > 1 {
			t.Errorf("server %d has %d in flight, want %d ± 1", i, ss[i].InFlight(), w)
		}
	}
}

// p2c sends nothing to the most loaded server of two; with many it keeps loads
// close.
func TestP2C(t *testing.T) {
	ss := servers(1, 1)
	ss[0].Start()
	p := mustNew(t, Options{Algorithm: P2C}, ss)
	for range 100 {
		if p.Pick(0) != ss[1] {
			t.Fatal("p2c picked the server with more in flight")
		}
	}

	ss = servers(make1(20)...)
	p = mustNew(t, Options{Algorithm: P2C}, ss)
	count(t, p, ss, 2000, true)
	lo, hi := ss[0].InFlight(), ss[0].InFlight()
	for _, s := range ss {
		lo, hi = min(lo, s.InFlight()), max(hi, s.InFlight())
	}
	// Two choices keep the gap at O(log log n); one random choice would leave
	// about ±30 around the mean of 100.
	if hi-lo > 6 {
		t.Errorf("in flight from %d to %d over 20 servers, want a gap of 6 at most", lo, hi)
	}
}

func make1(n int) []int {
	w := make([]int, n)
	for i := range w {
		w[i] = 1
	}
	return w
}

func TestEWMA(t *testing.T) {
	now := time.Now()
	ss := servers(1, 1)
	p := mustNew(t, Options{Algorithm: EWMA, Decay: 10 * time.Second}, ss)
	p.(*ewma).setClock(func() time.Time { return now })

	// No history on either: in-flight counts decide.
	ss[0].Start()
	for range 50 {
		if p.Pick(0) != ss[1] {
			t.Fatal("with no history, ewma did not pick the server with fewer in flight")
		}
	}
	ss[0].Done(false)

	// A fast and a slow server: the slow one gets nothing until its load is
	// 50 times lower.
	ss[0].Lat.Observe(10*time.Millisecond, 0, now)
	ss[1].Lat.Observe(500*time.Millisecond, 0, now)
	if got := count(t, p, ss, 1000, false); got[1] != 0 {
		t.Errorf("slow server got %d of 1000 picks", got[1])
	}
	for range 48 {
		ss[0].Start() // 10ms*49 < 500ms
	}
	if got := count(t, p, ss, 200, false); got[0] != 200 {
		t.Errorf("fast server with 48 in flight got %d of 200, want all", got[0])
	}
	ss[0].Start()
	ss[0].Start() // 10ms*51 > 500ms
	if got := count(t, p, ss, 200, false); got[1] != 200 {
		t.Errorf("fast server with 50 in flight still got %d of 200", got[0])
	}
	for range 50 {
		ss[0].Done(false)
	}

	// The slow server idles for a minute while the fast one keeps answering: its
	// cost decays (500ms * e^-6 = 1.2ms) below the fast one's and it is probed
	// again.
	now = now.Add(time.Minute)
	ss[0].Lat.Observe(10*time.Millisecond, 0, now)
	if got := count(t, p, ss, 100, false); got[1] != 100 {
		t.Errorf("idle slow server got %d of 100 after decaying", got[1])
	}

	// A new server is not free: it costs what the other drawn one costs.
	ss = servers(1, 1)
	p = mustNew(t, Options{Algorithm: EWMA}, ss)
	p.(*ewma).setClock(func() time.Time { return now })
	ss[0].Lat.Observe(10*time.Millisecond, 0, now)
	ss[1].Start()
	if got := count(t, p, ss, 100, false); got[0] != 100 {
		t.Errorf("new server with 1 in flight got %d of 100 against an idle known one", got[1])
	}
}

func TestLeastTime(t *testing.T) {
	now := time.Now()
	ss := servers(1, 1, 1)
	p := mustNew(t, Options{Algorithm: LeastTime}, ss)
	ss[0].Lat.Observe(0, 10*time.Millisecond, now)
	ss[1].Lat.Observe(0, 50*time.Millisecond, now)
	ss[2].SetHealthy(false)
	if got := count(t, p, ss, 100, false); got[0] != 100 {
		t.Fatalf("counts %v, want all on the fastest", got)
	}
	for range 5 {
		ss[0].Start() // 10ms*6 > 50ms*1
	}
	if got := count(t, p, ss, 100, false); got[1] != 100 {
		t.Fatalf("counts %v, want all on the idle slower one", got)
	}
	// A server with no history counts as the mean of the others (30ms): better
	// than 60ms, worse than 50ms with one more in flight.
	ss[2].SetHealthy(true)
	if got := count(t, p, ss, 100, false); got[2] != 100 {
		t.Fatalf("counts %v, want all on the new server (30ms*1)", got)
	}
	ss[2].Start() // 30ms*2 = 60ms = 10ms*6 > 50ms
	if got := count(t, p, ss, 100, false); got[1] != 100 {
		t.Fatalf("counts %v, want all on server 1 (50ms*1)", got)
	}
}

// Slow start: a server that just became available gets a share that grows
// linearly from 1/10 of its weight to its weight.
func TestSlowStart(t *testing.T) {
	const window = 10 * time.Second
	for _, a := range []string{RoundRobin, Random, LeastConnections, P2C, EWMA, LeastTime} {
		for _, at := range []time.Duration{0, window / 2, window, 2 * window} {
			t.Run(fmt.Sprintf("%s/at=%s", a, at), func(t *testing.T) {
				ss := servers(1, 1)
				ss[0].SetAvailableSince(time.Time{}) // long ago
				ss[1].SetHealthy(false)
				ss[1].SetHealthy(true) // available since now
				p := mustNew(t, Options{Algorithm: a, SlowStart: window}, ss)
				now := ss[1].AvailableSince().Add(at)
				p.(interface{ setClock(func() time.Time) }).setClock(func() time.Time { return now })
				f := minRamp + (1-minRamp)*min(1, float64(at)/float64(window))
				const n = 20000
				got := count(t, p, ss, n, false)
				switch a {
				case P2C, EWMA:
					// Drawn by weight*ramp, first drawn wins ties: the same
					// shares as random.
					checkShares(t, got, []float64{1, f}, 5)
				case LeastTime:
					// No history: (inflight+1)/ramp decides; the ramping
					// server wins only once it has ramped up (then ties).
					if f < 1 && got[1] != 0 {
						t.Errorf("ramping server got %d picks", got[1])
					}
					if f == 1 {
						checkShares(t, got, []float64{1, 1}, 5)
					}
				default:
					checkShares(t, got, []float64{1, f}, 5)
				}
			})
		}
	}
	// Hash algorithms ignore slow start.
	ss := servers(1, 1)
	ss[1].SetHealthy(false)
	ss[1].SetHealthy(true)
	p := mustNew(t, Options{Algorithm: IPHash, SlowStart: time.Hour}, ss)
	if got := count(t, p, ss, 20000, false); got[1] < 7000 {
		t.Errorf("hash with slow start: counts %v, want about even", got)
	}
}

// The bounded-load property: with requests that never finish, no server's
// in-flight count passes ceil(factor * total * weight / W), whatever the keys.
func TestBoundedLoad(t *testing.T) {
	for _, tc := range []struct {
		name    string
		weights []int
		factor  float64
		keys    func() uint64
	}{
		{"one hot key", make1(10), 1.25, func() uint64 { return 42 }},
		{"few keys", make1(30), 1.25, func() uint64 { return rand.Uint64N(5) }},
		{"skewed", make1(7), 1.5, func() uint64 {
			if rand.IntN(10) < 8 {
				return 7
			}
			return rand.Uint64()
		}},
		{"weighted", []int{4, 2, 1, 1}, 1.25, func() uint64 { return rand.Uint64N(3) }},
		{"factor 1", make1(5), 1, func() uint64 { return 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss := servers(tc.weights...)
			var wsum float64
			for _, w := range tc.weights {
				wsum += float64(w)
			}
			p := mustNew(t, Options{Algorithm: HeaderHash, HashBalanceFactor: tc.factor}, ss)
			for total := 1; total <= 2000; total++ {
				p.Pick(tc.keys()).Start()
				for i, s := range ss {
					limit := math.Ceil(tc.factor * float64(total) * float64(tc.weights[i]) / wsum)
					if float64(s.InFlight()) > limit {
						t.Fatalf("after %d picks server %d has %d in flight, above %v", total, i, s.InFlight(), limit)
					}
				}
			}
		})
	}

	// With room everywhere, the same key keeps its server.
	ss := servers(make1(10)...)
	p := mustNew(t, Options{Algorithm: IPHash}, ss)
	first := p.Pick(99)
	for range 100 {
		if s := p.Pick(99); s != first {
			t.Fatal("an unloaded key moved")
		}
	}
}

// Adding or removing one of N servers moves about 1/N of the keys; a server that
// becomes unavailable gives away its own keys only.
func TestConsistentHashMovement(t *testing.T) {
	keys := make([]uint64, 100000)
	for k := range keys {
		keys[k] = HashString(fmt.Sprintf("client-%d", k))
	}
	assign := func(p Picker) []*pool.Server {
		out := make([]*pool.Server, len(keys))
		for i, k := range keys {
			out[i] = p.Pick(k)
		}
		return out
	}
	moved := func(a, b []*pool.Server) float64 {
		n := 0
		for i := range a {
			if a[i] != b[i] {
				n++
			}
		}
		return float64(n) / float64(len(a))
	}
	for _, n := range []int{5, 10, 30} {
		t.Run(fmt.Sprint("n=", n), func(t *testing.T) {
			ss := servers(make1(n + 1)...)
			small := mustNew(t, Options{Algorithm: IPHash}, ss[:n])
			big := mustNew(t, Options{Algorithm: IPHash}, ss)
			before, after := assign(small), assign(big)
			// Expected 1/(n+1); the ring's spread of shares (about 10% with
			// 100 points) allows ±35%.
			want := 1 / float64(n+1)
			if got := moved(before, after); math.Abs(got/want-1) > 0.35 {
				t.Errorf("adding a server to %d moved %.4f of keys, want %.4f ± 35%%", n, got, want)
			}
			for i := range before {
				if before[i] != after[i] && after[i] != ss[n] {
					t.Fatal("adding a server moved a key to an old server")
				}
			}
			// Removing one from the middle moves its keys and no other.
			rest := append(append([]*pool.Server{}, ss[:2]...), ss[3:]...)
			removed := assign(mustNew(t, Options{Algorithm: IPHash}, rest))
			t.Logf("adding one to %d servers moved %.4f of keys, removing one of %d %.4f (1/N: %.4f)",
				n, moved(before, after), n+1, moved(after, removed), want)
			if got := moved(after, removed); math.Abs(got/want-1) > 0.35 {
				t.Errorf("removing one of %d moved %.4f, want %.4f ± 35%%", n+1, got, want)
			}
			for i := range after {
				if after[i] != removed[i] && after[i] != ss[2] {
					t.Fatal("removing a server moved a key of another server")
				}
			}
			// Marking one unavailable moves only its keys.
			ss[0].SetHealthy(false)
			defer ss[0].SetHealthy(true)
			down := assign(big)
			for i := range after {
				if after[i] != down[i] && after[i] != ss[0] {
					t.Fatal("a server going down moved a key of another server")
				}
				if down[i] == ss[0] {
					t.Fatal("a key went to the unavailable server")
				}
			}
		})
	}
}

// Every pick allocates nothing, on every path: load, slow start, servers down,
// panic mode.
func TestPickAllocs(t *testing.T) {
	for _, a := range all {
		t.Run(a, func(t *testing.T) {
			ss := servers(5, 3, 1, 1, 2, 2, 1, 1)
			now := time.Now()
			for i, s := range ss {
				for range i % 3 {
					s.Start()
				}
				s.Lat.Observe(time.Duration(i+1)*time.Millisecond, time.Duration(i+1)*time.Millisecond/2, now)
			}
			ss[1].SetHealthy(false)
			ss[2].SetHealthy(false)
			ss[2].SetHealthy(true) // slow-starting
			p := mustNew(t, Options{Algorithm: a, SlowStart: time.Minute}, ss)
			var key uint64
			if n := testing.AllocsPerRun(1000, func() { key++; p.Pick(key) }); n != 0 {
				t.Errorf("Pick: %v allocations", n)
			}
			if n := testing.AllocsPerRun(1000, func() { key++; p.PickAny(key) }); n != 0 {
				t.Errorf("PickAny: %v allocations", n)
			}
			for _, s := range ss {
				s.SetHealthy(false)
			}
			if n := testing.AllocsPerRun(100, func() { key++; p.Pick(key); p.PickAny(key) }); n != 0 {
				t.Errorf("none available: %v allocations", n)
			}
		})
	}
}

// Concurrent picks while servers start and finish requests, change state and
// record latencies: run with -race.
func TestConcurrent(t *testing.T) {
	for _, a := range all {
		t.Run(a, func(t *testing.T) {
			ss := servers(3, 1, 2, 1, 1)
			p := mustNew(t, Options{Algorithm: a, SlowStart: 10 * time.Millisecond}, ss)
			var wg sync.WaitGroup
			stop := make(chan struct{})
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					ss[i%len(ss)].SetHealthy(i%3 != 0)
					time.Sleep(50 * time.Microsecond)
				}
			})
			var pickers sync.WaitGroup
			for range 8 {
				pickers.Go(func() {
					for i := range 2000 {
						s := p.Pick(rand.Uint64())
						if s == nil {
							s = p.PickAny(rand.Uint64())
						}
						if s == nil {
							continue
						}
						s.Start()
						s.Lat.Observe(time.Duration(i%7+1)*time.Millisecond, time.Millisecond, time.Now())
						s.Done(false)
					}
				})
			}
			pickers.Wait()
			close(stop)
			wg.Wait()
			for _, s := range ss {
				if s.InFlight() != 0 {
					t.Errorf("%s: %d in flight after all done", s.Key, s.InFlight())
				}
			}
		})
	}
}

// With all but one of many servers down, picks still find it: the fallbacks of
// the sampling and walking pickers.
func TestMostlyDown(t *testing.T) {
	for _, a := range all {
		t.Run(a, func(t *testing.T) {
			ss := servers(make1(300)...)
			ss[0].SetWeight(1000) // the heavy one is down: round-robin skips its runs
			for _, s := range ss[:299] {
				s.SetHealthy(false)
			}
			p := mustNew(t, Options{Algorithm: a, Weights: append([]int{1000}, make1(299)...)}, ss)
			for range 2000 {
				if s := p.Pick(rand.Uint64()); s != ss[299] {
					t.Fatalf("picked %v, want the only server up", s)
				}
			}
		})
	}
}
