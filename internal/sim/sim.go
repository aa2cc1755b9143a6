// Package sim is a deterministic discrete-event simulator of a load balancer in
// front of a pool of servers, for choosing a balancing algorithm. It drives the
// real pickers of internal/balance over real *pool.Server values on a virtual
// clock: what it measures is what usher's code does, not what a copy of the
// algorithms would do.
//
// The model:
//
//   - Clients send requests at Scenario.RPS, Poisson arrivals, until
//     Scenario.Duration; the simulation then runs until every request has ended.
//     Each request carries an amount of work drawn from a log-normal distribution
//     of median Scenario.Median and shape Scenario.Sigma (a heavy tail: with
//     sigma 1 the 99th percentile is 10 times the median, the 99.9th 22 times),
//     and a client key (one of Scenario.Clients) for the hash algorithms.
//   - Each server is a processor-sharing queue with Scenario.Workers workers: up
//     to Workers requests in flight run at the server's full speed, more share it
//     (each of k runs at Workers/k of it), so that sending more to a busy or slow
//     server hurts. A Slowdown divides a server's speed by its factor.
//   - A Failure makes a share of a server's requests fail as a connect error
//     does: failDelay after they were sent, without reaching the server. As usher
//     does for requests that never reached a server, such a request is sent again
//     to another server, Scenario.Retries times at most, picked as usher picks a
//     retry (three picks avoiding the servers tried, a random key for the hash
//     algorithms). An attempt still running after Scenario.Timeout fails with
//     a timeout (usher's responseHeaderTimeout): it reached the server, so it is
//     not retried, and the server drops it.
//   - Every attempt is counted on its server with Start and Done and fed to its
//     latency record with Lat.Observe(rtt, ttfb, now) as usher's load balancer
//     does: a response's ttfb is its round-trip (responses are one chunk), a
//     failed attempt has ttfb 0 and its elapsed time as rtt.
//
// Latency percentiles are over every request from its arrival to its end, errors
// included (a timeout counts its whole wait); the error rate is that of the
// clients, after retries. A server's share is its share of the attempts.
//
// Time: events come from a heap on a virtual clock in nanoseconds. The latency
// records see virtual time through the times passed to Observe; pool.Latency
// keeps stamps in milliseconds, and the simulator passes times on a millisecond
// grid aligned on the start of the simulation, so the averages are exactly those
// usher would compute for the same events, at the record's own resolution. Slow
// start reads the wall clock, so it is off. The picker options are otherwise the
// defaults (decay 10s, hash balance factor 1.25); every server has weight 1.
//
// Determinism: the workload (arrivals, work, keys, failures) and the pickers'
// own random draws (balance.Options.Rand) come from generators seeded by
// Scenario.Seed, and every algorithm sees the same arrivals and the same work per
// request: the same scenario gives the same output, byte for byte, on the same
// platform and Go release.
package sim

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/usher-lb/usher/internal/balance"
	"github.com/usher-lb/usher/internal/pool"
)

// failDelay is how long a failing attempt takes to fail: a refused or reset
// connection on a local network.
const failDelay = time.Millisecond

// maxRetries bounds Scenario.Retries.
const maxRetries = 3

// maxRequests bounds RPS * Duration, which the results keep one latency each of.
const maxRequests = 50_000_000

// Scenario is what is simulated. DefaultScenario returns a complete one; Run
// takes the values as they are (a zero is not replaced by a default).
type Scenario struct {
	// Servers is the number of servers, numbered from 0.
	Servers int `json:"servers"`
	// Slow are the servers slower than the others, and from when.
	Slow []Slowdown `json:"slow,omitempty"`
	// Fail are the servers that fail a share of their requests, and from when.
	Fail []Failure `json:"fail,omitempty"`
	// RPS is the mean rate of requests per second (Poisson arrivals).
	RPS float64 `json:"rps"`
	// Median is the median service time of a request on an idle server of
	// normal speed.
	Median time.Duration `json:"medianNs"`
	// Sigma is the shape of the log-normal service time: the standard deviation
	// of its logarithm (0: every request takes Median).
	Sigma float64 `json:"sigma"`
	// Workers is how many requests a server runs at full speed; past that its
	// requests share it (processor sharing).
	Workers int `json:"workers"`
	// Duration is the simulated time during which requests arrive.
	Duration time.Duration `json:"durationNs"`
	// Timeout ends an attempt that has not answered after this long (usher's
	// responseHeaderTimeout, 30s by default).
	Timeout time.Duration `json:"timeoutNs"`
	// Retries is how many times a request that failed without reaching a server
	// is sent to another one (0 to 3).
	Retries int `json:"retries"`
	// Clients is the number of distinct clients, whose keys the hash
	// algorithms hash (each request comes from one drawn uniformly).
	Clients int `json:"clients"`
	// Seed seeds the workload.
	Seed uint64 `json:"seed"`
	// Algorithms are the balancing algorithms compared, by their config names.
	Algorithms []string `json:"algorithms"`
}

// Slowdown makes a server Factor times slower from From on, until Until (0:
// until the end).
type Slowdown struct {
	Server int           `json:"server"`
	Factor float64       `json:"factor"`
	From   time.Duration `json:"fromNs"`
	Until  time.Duration `json:"untilNs,omitempty"`
}

// Failure makes a server fail the share Rate (0 to 1) of its requests from From
// on, until Until (0: until the end).
type Failure struct {
	Server int           `json:"server"`
	Rate   float64       `json:"rate"`
	From   time.Duration `json:"fromNs"`
	Until  time.Duration `json:"untilNs,omitempty"`
}

// DefaultAlgorithms are the algorithms compared by default: every algorithm
// that ignores the key, and ip-hash over the clients' keys.
var DefaultAlgorithms = []string{
	balance.RoundRobin, balance.Random, balance.LeastConnections, balance.P2C,
	balance.EWMA, balance.LeastTime, balance.IPHash,
}

// DefaultScenario is 5 servers of which server 1 is 10 times slower, 2000
// requests a second of median 20ms (log-normal, sigma 1: a mean of 33ms), 24
// workers a server (the pool is 55% busy when the load is spread evenly over
// five normal servers, 69% over four), a 30s timeout, one retry, 1000
// clients, 60s, seed 1, every default algorithm.
func DefaultScenario() Scenario {
	return Scenario{
		Servers:    5,
		Slow:       []Slowdown{{Server: 1, Factor: 10}},
		RPS:        2000,
		Median:     20 * time.Millisecond,
		Sigma:      1,
		Workers:    24,
		Duration:   60 * time.Second,
		Timeout:    30 * time.Second,
		Retries:    1,
		Clients:    1000,
		Seed:       1,
		Algorithms: append([]string(nil), DefaultAlgorithms...),
	}
}

// Validate returns every problem of the scenario, joined, or nil.
func (sc Scenario) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if sc.Servers < 1 || sc.Servers > 10000 {
		bad("servers: %d is not between 1 and 10000", sc.Servers)
	}
	window := func(what string, i, server int, from, until time.Duration) {
		if server < 0 || server >= sc.Servers {
			bad("%s[%d]: no server %d (servers are numbered from 0 to %d)", what, i, server, sc.Servers-1)
		}
		if from < 0 {
			bad("%s[%d]: negative start %s", what, i, from)
		}
		if until != 0 && until <= from {
			bad("%s[%d]: end %s is not after start %s", what, i, until, from)
		}
	}
	for i, s := range sc.Slow {
		window("slow", i, s.Server, s.From, s.Until)
		if !(s.Factor > 0) || math.IsInf(s.Factor, 0) {
			bad("slow[%d]: factor %g is not a positive number", i, s.Factor)
		}
	}
	for i, f := range sc.Fail {
		window("fail", i, f.Server, f.From, f.Until)
		if !(f.Rate >= 0 && f.Rate <= 1) {
			bad("fail[%d]: rate %g is not between 0 and 1", i, f.Rate)
		}
	}
	if !(sc.RPS > 0) || math.IsInf(sc.RPS, 0) {
		bad("rps: %g is not a positive number", sc.RPS)
	}
	if sc.Median <= 0 {
		bad("median: %s is not positive", sc.Median)
	}
	if !(sc.Sigma >= 0 && sc.Sigma <= 4) {
		bad("sigma: %g is not between 0 and 4", sc.Sigma)
	}
	if sc.Workers < 1 {
		bad("workers: %d is below 1", sc.Workers)
	}
	if sc.Duration <= 0 {
		bad("duration: %s is not positive", sc.Duration)
	} else if sc.RPS*sc.Duration.Seconds() > maxRequests {
		bad("rps * duration: %.0f requests, more than %d", sc.RPS*sc.Duration.Seconds(), maxRequests)
	}
	if sc.Timeout <= 0 {
		bad("timeout: %s is not positive", sc.Timeout)
	}
	if sc.Retries < 0 || sc.Retries > maxRetries {
		bad("retries: %d is not between 0 and %d", sc.Retries, maxRetries)
	}
	if sc.Clients < 1 {
		bad("clients: %d is below 1", sc.Clients)
	}
	if len(sc.Algorithms) == 0 {
		bad("algorithms: none")
	}
	probe := []*pool.Server{newServer("probe", 0)}
	for _, a := range sc.Algorithms {
		if _, err := balance.New(balance.Options{Algorithm: a}, probe); err != nil || a == "" {
			bad("algorithms: unknown algorithm %q", a)
		}
	}
	return errors.Join(errs...)
}

// Result is the outcome of Run: one entry per algorithm, in the scenario's
// order.
type Result struct {
	Scenario   Scenario          `json:"scenario"`
	Algorithms []AlgorithmResult `json:"results"`
}

// AlgorithmResult is what one algorithm did with the scenario's workload.
type AlgorithmResult struct {
	Algorithm string `json:"algorithm"`
	// Requests is the number of client requests.
	Requests int `json:"requests"`
	// P50, P99 and P999 are percentiles of the requests' latencies (nearest
	// rank), errors included.
	P50  time.Duration `json:"p50Ns"`
	P99  time.Duration `json:"p99Ns"`
	P999 time.Duration `json:"p999Ns"`
	// Errors is the number of requests that failed for the client, after
	// retries, Timeouts of them by timing out; ErrorRate is Errors / Requests.
	Errors    int     `json:"errors"`
	Timeouts  int     `json:"timeouts"`
	ErrorRate float64 `json:"errorRate"`
	// Retries is the number of attempts sent again after a failure.
	Retries int `json:"retries"`
	// Share is each server's share of the attempts, 0 to 1.
	Share []float64 `json:"share"`
	// Events is the number of events simulated.
	Events int `json:"events"`
}

// Run simulates the scenario once per algorithm. It panics when the scenario is
// not valid: call Validate first on a scenario from outside the program.
func Run(sc Scenario) Result {
	if err := sc.Validate(); err != nil {
		panic("sim: invalid scenario: " + err.Error())
	}
	res := Result{Scenario: sc}
	var lat []int64
	for _, algo := range sc.Algorithms {
		e := newEngine(sc, algo, lat)
		e.run()
		res.Algorithms = append(res.Algorithms, e.result())
		lat = e.lat[:0]
	}
	return res
}

// String is the slowdown as --slow takes it: SERVER:FACTORx[@FROM[-UNTIL]].
func (s Slowdown) String() string {
	return strconv.Itoa(s.Server) + ":" + strconv.FormatFloat(s.Factor, 'g', -1, 64) + "x" + window(s.From, s.Until)
}

// String is the failure as --fail takes it: SERVER:RATE[@FROM[-UNTIL]].
func (f Failure) String() string {
	return strconv.Itoa(f.Server) + ":" + strconv.FormatFloat(f.Rate, 'g', -1, 64) + window(f.From, f.Until)
}

func window(from, until time.Duration) string {
	switch {
	case until != 0:
		return "@" + from.String() + "-" + until.String()
	case from != 0:
		return "@" + from.String()
	}
	return ""
}

// ParseSlow parses a comma-separated list of slowdowns, each
// SERVER:FACTOR[x][@FROM[-UNTIL]] (e.g. "1:10x", "1:10x@30s", "1:3x@20s-40s");
// "" and "none" are none.
func ParseSlow(list string) ([]Slowdown, error) {
	var out []Slowdown
	err := parseList(list, func(server int, value string, from, until time.Duration) error {
		f, err := strconv.ParseFloat(strings.TrimSuffix(value, "x"), 64)
		if err != nil || !(f > 0) || math.IsInf(f, 0) {
			return fmt.Errorf("factor %q is not a positive number", value)
		}
		out = append(out, Slowdown{Server: server, Factor: f, From: from, Until: until})
		return nil
	})
	return out, err
}

// ParseFail parses a comma-separated list of failures, each
// SERVER:RATE[@FROM[-UNTIL]], RATE between 0 and 1 or a percentage (e.g.
// "2:0.5@20s", "2:50%@20s-40s"); "" and "none" are none.
func ParseFail(list string) ([]Failure, error) {
	var out []Failure
	err := parseList(list, func(server int, value string, from, until time.Duration) error {
		v, pct := strings.CutSuffix(value, "%")
		r, err := strconv.ParseFloat(v, 64)
		if pct {
			r /= 100
		}
		if err != nil || !(r >= 0 && r <= 1) {
			return fmt.Errorf("rate %q is not between 0 and 1 (or 0%% and 100%%)", value)
		}
		out = append(out, Failure{Server: server, Rate: r, From: from, Until: until})
		return nil
	})
	return out, err
}

// parseList splits list into SERVER:VALUE[@FROM[-UNTIL]] items and hands each
// to item.
func parseList(list string, item func(server int, value string, from, until time.Duration) error) error {
	if list = strings.TrimSpace(list); list == "" || list == "none" {
		return nil
	}
	for spec := range strings.SplitSeq(list, ",") {
		spec = strings.TrimSpace(spec)
		err := func() error {
			head, when, timed := strings.Cut(spec, "@")
			s, value, ok := strings.Cut(head, ":")
			if !ok {
				return errors.New("want SERVER:VALUE[@FROM[-UNTIL]]")
			}
			server, err := strconv.Atoi(s)
			if err != nil || server < 0 {
				return fmt.Errorf("server %q is not a number from 0", s)
			}
			var from, until time.Duration
			if timed {
				f, u, ranged := strings.Cut(when, "-")
				if from, err = time.ParseDuration(f); err != nil || from < 0 {
					return fmt.Errorf("start %q is not a duration such as 30s", f)
				}
				if ranged {
					if until, err = time.ParseDuration(u); err != nil || until <= from {
						return fmt.Errorf("end %q is not a duration after the start", u)
					}
				}
			}
			return item(server, value, from, until)
		}()
		if err != nil {
			return fmt.Errorf("%q: %w", spec, err)
		}
	}
	return nil
}
