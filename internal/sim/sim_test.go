package sim

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/balance"
)

// short is the default scenario cut to 10s, which keeps the tests quick under
// the race detector.
func short(algos ...string) Scenario {
	sc := DefaultScenario()
	sc.Duration = 10 * time.Second
	if len(algos) > 0 {
		sc.Algorithms = algos
	}
	return sc
}

func table(t *testing.T, r Result) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func byName(t *testing.T, r Result, algo string) AlgorithmResult {
	t.Helper()
	for _, a := range r.Algorithms {
		if a.Algorithm == algo {
			return a
		}
	}
	t.Fatalf("no result for %s", algo)
	return AlgorithmResult{}
}

// Same scenario, same output, byte for byte, for a scenario that has every kind
// of event: a slowdown that starts and ends, failures with retries, timeouts.
func TestDeterministic(t *testing.T) {
	sc := short()
	sc.Duration, sc.Timeout = 4*time.Second, time.Second
	sc.Slow = []Slowdown{{Server: 1, Factor: 10}, {Server: 3, Factor: 3, From: time.Second, Until: 3 * time.Second}}
	sc.Fail = []Failure{{Server: 2, Rate: 0.3, From: time.Second, Until: 3 * time.Second}}
	for _, algo := range DefaultAlgorithms {
		t.Run(algo, func(t *testing.T) {
			sc := sc
			sc.Algorithms = []string{algo}
			first := Run(sc)
			a := first.Algorithms[0]
			if a.Retries == 0 || a.Errors == 0 {
				t.Fatalf("the scenario should have retries and errors: %+v", a)
			}
			if got, want := table(t, Run(sc)), table(t, first); got != want {
				t.Errorf("second run differs:\n%s\nfirst:\n%s", got, want)
			}
			sc.Seed++
			if got := table(t, Run(sc)); got == table(t, first) {
				t.Errorf("another seed gives the same output:\n%s", got)
			}
		})
	}
}

// Every algorithm sees the same requests.
func TestSameWorkload(t *testing.T) {
	sc := short()
	sc.Duration = 2 * time.Second
	r := Run(sc)
	for _, a := range r.Algorithms[1:] {
		if a.Requests != r.Algorithms[0].Requests {
			t.Errorf("%s: %d requests, %s: %d", a.Algorithm, a.Requests, r.Algorithms[0].Algorithm, r.Algorithms[0].Requests)
		}
	}
	if n := r.Algorithms[0].Requests; n < 3700 || n > 4300 {
		t.Errorf("%d requests in 2s at 2000 rps", n)
	}
}

// What the simulator is for: the load-aware algorithms route around a slow
// server, and retries hide a server that fails.
func TestScenarios(t *testing.T) {
	rr, p2c, ewma := balance.RoundRobin, balance.P2C, balance.EWMA
	for _, tc := range []struct {
		name  string
		sc    func() Scenario
		check func(t *testing.T, r Result)
	}{
		{
			name: "one server 10x slower",
			sc:   func() Scenario { return short(rr, p2c, ewma) },
			check: func(t *testing.T, r Result) {
				base := byName(t, r, rr).P99
				for _, algo := range []string{p2c, ewma} {
					if p99 := byName(t, r, algo).P99; p99 >= base/2 {
						t.Errorf("%s p99 %s, want below half of round-robin's %s", algo, p99, base)
					}
				}
				if s := byName(t, r, ewma).Share[1]; s > 0.05 {
					t.Errorf("ewma sends %.1f%% to the slow server, want under 5%%", 100*s)
				}
				if s := byName(t, r, rr).Share[1]; s < 0.199 || s > 0.201 {
					t.Errorf("round-robin sends %.1f%% to the slow server, want 20%%", 100*s)
				}
			},
		},
		{
			name: "one server fails half its requests, no retry",
			sc: func() Scenario {
				sc := short(rr)
				sc.Slow, sc.Retries = nil, 0
				sc.Fail = []Failure{{Server: 2, Rate: 0.5, From: 2 * time.Second}}
				return sc
			},
			check: func(t *testing.T, r Result) {
				// 20% of the requests to server 2, half of them failing, for 8s of 10.
				if e := r.Algorithms[0].ErrorRate; e < 0.07 || e > 0.09 {
					t.Errorf("error rate %.2f%%, want about 8%%", 100*e)
				}
			},
		},
		{
			name: "one server fails half its requests, one retry",
			sc: func() Scenario {
				sc := short(rr)
				sc.Slow = nil
				sc.Fail = []Failure{{Server: 2, Rate: 0.5, From: 2 * time.Second}}
				return sc
			},
			check: func(t *testing.T, r Result) {
				// The retry goes to another server, which answers.
				a := r.Algorithms[0]
				if a.ErrorRate > 0.001 {
					t.Errorf("error rate %.2f%% after retries, want under 0.1%%", 100*a.ErrorRate)
				}
				if x := ratio(a.Retries, a.Requests); x < 0.07 || x > 0.09 {
					t.Errorf("retried %.2f%% of requests, want about 8%%", 100*x)
				}
			},
		},
		{
			name: "a server too slow to answer before the timeout",
			sc: func() Scenario {
				sc := short(rr)
				sc.Servers, sc.Sigma, sc.Timeout, sc.Duration = 1, 0, 100*time.Millisecond, time.Second
				sc.Slow = []Slowdown{{Server: 0, Factor: 1000}}
				return sc
			},
			check: func(t *testing.T, r Result) {
				a := r.Algorithms[0]
				if a.Errors != a.Requests || a.Timeouts != a.Requests {
					t.Errorf("%d errors and %d timeouts of %d requests, want all", a.Errors, a.Timeouts, a.Requests)
				}
				if a.P50 != 100*time.Millisecond || a.P999 != 100*time.Millisecond {
					t.Errorf("p50 %s, p99.9 %s, want the timeout", a.P50, a.P999)
				}
			},
		},
		{
			name: "slowdown for a while",
			sc: func() Scenario {
				sc := short(rr)
				sc.Sigma = 0
				sc.Slow = []Slowdown{{Server: 1, Factor: 2, From: 4 * time.Second, Until: 6 * time.Second}}
				return sc
			},
			check: func(t *testing.T, r Result) {
				// Constant 20ms, no queueing: the p50 is exact, the slow 4% of
				// requests take 40ms.
				a := r.Algorithms[0]
				if a.P50 != 20*time.Millisecond || a.P999 != 40*time.Millisecond {
					t.Errorf("p50 %s, p99.9 %s, want 20ms and 40ms", a.P50, a.P999)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Run(tc.sc())
			if t.Failed() {
				return
			}
			tc.check(t, r)
			if t.Failed() {
				t.Log("\n" + table(t, r))
			}
		})
	}
}

// The processor-sharing queue: requests sent together to one server share its
// workers.
func TestProcessorSharing(t *testing.T) {
	for _, tc := range []struct {
		workers int
		work    []time.Duration // all sent at 0
		want    []time.Duration // their latencies, sorted
	}{
		{1, []time.Duration{10e6}, []time.Duration{10e6}},
		{1, []time.Duration{10e6, 10e6}, []time.Duration{20e6, 20e6}},
		{2, []time.Duration{10e6, 10e6}, []time.Duration{10e6, 10e6}},
		// Two share one worker: the 10ms one ends at 20ms, then the other
		// has its 20ms left alone.
		{1, []time.Duration{10e6, 30e6}, []time.Duration{20e6, 40e6}},
		// Three on two workers run at 2/3: the 6ms one ends at 9ms; the two
		// left have 6ms done and run at full speed.
		{2, []time.Duration{6e6, 12e6, 12e6}, []time.Duration{9e6, 15e6, 15e6}},
	} {
		sc := DefaultScenario()
		sc.Servers, sc.Workers, sc.Slow = 1, tc.workers, nil
		e := newEngine(sc, balance.RoundRobin, nil)
		e.sched.set(srcArrival, never)
		for _, w := range tc.work {
			id := e.newRequest()
			e.reqs[id].work = float64(w)
			e.send(id, e.servers[0])
		}
		e.run()
		got := make([]time.Duration, len(e.lat))
		for i, l := range e.lat {
			got[i] = time.Duration(l)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%d workers, work %v: latencies %v, want %v", tc.workers, tc.work, got, tc.want)
		}
		if n := e.servers[0].InFlight(); n != 0 {
			t.Errorf("%d in flight at the end", n)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Slowdown
		err  string
	}{
		{"", nil, ""},
		{"none", nil, ""},
		{"1:10x", []Slowdown{{Server: 1, Factor: 10}}, ""},
		{"1:10", []Slowdown{{Server: 1, Factor: 10}}, ""},
		{"1:10x@30s", []Slowdown{{Server: 1, Factor: 10, From: 30 * time.Second}}, ""},
		{"0:2.5x@1m-90s, 3:0.5x", []Slowdown{{0, 2.5, time.Minute, 90 * time.Second}, {Server: 3, Factor: 0.5}}, ""},
		{"1", nil, "want SERVER:VALUE"},
		{"a:10x", nil, "server"},
		{"-1:10x", nil, "server"},
		{"1:0x", nil, "factor"},
		{"1:fastx", nil, "factor"},
		{"1:10x@soon", nil, "start"},
		{"1:10x@30s-20s", nil, "end"},
	} {
		got, err := ParseSlow(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseSlow(%q) = %v, %v; want an error about %s", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseSlow(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		for _, s := range got {
			if back, err := ParseSlow(s.String()); err != nil || !slices.Equal(back, []Slowdown{s}) {
				t.Errorf("ParseSlow(%q) = %v, %v", s.String(), back, err)
			}
		}
	}
	for _, tc := range []struct {
		in   string
		want []Failure
		err  string
	}{
		{"2:0.5@20s", []Failure{{Server: 2, Rate: 0.5, From: 20 * time.Second}}, ""},
		{"2:50%", []Failure{{Server: 2, Rate: 0.5}}, ""},
		{"2:1@10s-20s", []Failure{{2, 1, 10 * time.Second, 20 * time.Second}}, ""},
		{"2:1.5", nil, "rate"},
		{"2:150%", nil, "rate"},
		{"2:-0.1", nil, "rate"},
	} {
		got, err := ParseFail(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseFail(%q) = %v, %v; want an error about %s", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseFail(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		for _, f := range got {
			if back, err := ParseFail(f.String()); err != nil || !slices.Equal(back, []Failure{f}) {
				t.Errorf("ParseFail(%q) = %v, %v", f.String(), back, err)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	if err := DefaultScenario().Validate(); err != nil {
		t.Fatalf("default scenario: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Scenario)
		err    string
	}{
		{"no server", func(sc *Scenario) { sc.Servers = 0 }, "servers"},
		{"slow server out of range", func(sc *Scenario) { sc.Slow[0].Server = 5 }, "no server 5"},
		{"slow factor", func(sc *Scenario) { sc.Slow[0].Factor = 0 }, "factor"},
		{"slow window", func(sc *Scenario) { sc.Slow[0].From, sc.Slow[0].Until = 2, 1 }, "end"},
		{"fail rate", func(sc *Scenario) { sc.Fail = []Failure{{Server: 0, Rate: 2}} }, "rate"},
		{"rps", func(sc *Scenario) { sc.RPS = 0 }, "rps"},
		{"too many requests", func(sc *Scenario) { sc.RPS = 1e9 }, "requests"},
		{"median", func(sc *Scenario) { sc.Median = 0 }, "median"},
		{"sigma", func(sc *Scenario) { sc.Sigma = -1 }, "sigma"},
		{"workers", func(sc *Scenario) { sc.Workers = 0 }, "workers"},
		{"duration", func(sc *Scenario) { sc.Duration = 0 }, "duration"},
		{"timeout", func(sc *Scenario) { sc.Timeout = 0 }, "timeout"},
		{"retries", func(sc *Scenario) { sc.Retries = 4 }, "retries"},
		{"clients", func(sc *Scenario) { sc.Clients = 0 }, "clients"},
		{"no algorithm", func(sc *Scenario) { sc.Algorithms = nil }, "algorithms"},
		{"unknown algorithm", func(sc *Scenario) { sc.Algorithms = []string{"fastest"} }, `"fastest"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := DefaultScenario()
			tc.change(&sc)
			if err := sc.Validate(); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Validate() = %v, want an error about %s", err, tc.err)
			}
		})
	}
}

func TestOutput(t *testing.T) {
	sc := short(balance.RoundRobin, balance.LeastConnections)
	sc.Duration = time.Second
	r := Run(sc)
	out := table(t, r)
	lines := strings.Split(out, "\n")
	if len(lines) < 6 || !strings.HasPrefix(strings.TrimSpace(lines[3]), "algorithm") ||
		!strings.HasPrefix(strings.TrimSpace(lines[4]), "round-robin") ||
		!strings.HasPrefix(strings.TrimSpace(lines[5]), "least-connections") {
		t.Fatalf("table:\n%s", out)
	}
	if len(lines[3]) != len(lines[4]) || len(lines[4]) != len(lines[5]) {
		t.Errorf("rows not aligned:\n%s", out)
	}
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.Algorithms[1].P99 != r.Algorithms[1].P99 || back.Scenario.Median != sc.Median {
		t.Errorf("JSON round trip: %v\n%s", err, b.String())
	}
}

func TestFmtDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		500:                      "500ns",
		8500:                     "8.50µs",
		999_499:                  "999µs",
		999_500:                  "1.00ms",
		21_340_000:               "21.3ms",
		215_000_000:              "215ms",
		1_250_000_000:            "1.25s",
		30 * time.Second:         "30.0s",
		150 * time.Second:        "150s",
		20 * time.Millisecond:    "20.0ms",
		time.Millisecond - 1e3:   "999µs",
		100*time.Millisecond - 1: "100ms",
	} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%d) = %s, want %s", d, got, want)
		}
	}
}

func TestPercentile(t *testing.T) {
	xs := make([]int64, 1000)
	for i := range xs {
		xs[i] = int64(i + 1)
	}
	for p, want := range map[float64]time.Duration{0.5: 500, 0.99: 990, 0.999: 999, 1: 1000} {
		if got := percentile(xs, p); got != want {
			t.Errorf("percentile(%g) = %d, want %d", p, got, want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of nothing = %d", got)
	}
}
