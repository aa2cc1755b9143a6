package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/usher-lb/usher/internal/sim"
)

func cmdSim(args []string, stdout, stderr io.Writer) int {
	def := sim.DefaultScenario()
	fs := newFlags("sim", "sim [flags]\n\n"+
		"Simulates usher's balancing algorithms (the real code, on a virtual clock) in front of\n"+
		"servers, some slow or failing, and prints each algorithm's latency percentiles, error\n"+
		"rate and spread of requests side by side. Servers are numbered from 0.", stderr)
	servers := fs.Int("servers", def.Servers, "number of servers")
	slow := fs.String("slow", joinSpecs(def.Slow), "slow servers, comma-separated `SERVER:FACTORx[@FROM[-UNTIL]]` (e.g. 1:10x, 1:10x@30s, 1:3x@20s-40s); \"none\" for none")
	fail := fs.String("fail", "none", "failing servers, comma-separated `SERVER:RATE[@FROM[-UNTIL]]` (e.g. 2:0.5@20s, 2:50%); failed requests never reach the server and are retried")
	rps := fs.Float64("rps", def.RPS, "requests per second (Poisson arrivals)")
	median := fs.Duration("median", def.Median, "median service time on an idle server of normal speed")
	sigma := fs.Float64("sigma", def.Sigma, "shape of the log-normal service time (standard deviation of its log; 0: constant)")
	workers := fs.Int("workers", def.Workers, "requests a server runs at full speed; more share it (processor sharing)")
	duration := fs.Duration("duration", def.Duration, "simulated time during which requests arrive")
	timeout := fs.Duration("timeout", def.Timeout, "an attempt that has not answered after this long fails (not retried)")
	retries := fs.Int("retries", def.Retries, "retries of a request that failed without reaching a server (0 to 3)")
	clients := fs.Int("clients", def.Clients, "distinct clients, whose keys the hash algorithms hash")
	seed := fs.Uint64("seed", def.Seed, "seed of the workload")
	algos := fs.String("algorithms", strings.Join(def.Algorithms, ","), "algorithms compared, comma-separated")
	asJSON := fs.Bool("json", false, "print the result as JSON (durations in nanoseconds)")
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "usher sim: unexpected argument %q\n", fs.Arg(0))
		return 2
	}

	sc := sim.Scenario{
		Servers: *servers, RPS: *rps, Median: *median, Sigma: *sigma, Workers: *workers,
		Duration: *duration, Timeout: *timeout, Retries: *retries, Clients: *clients, Seed: *seed,
	}
	var err error
	if sc.Slow, err = sim.ParseSlow(*slow); err != nil {
		fmt.Fprintln(stderr, "usher sim: --slow:", err)
		return 2
	}
	if sc.Fail, err = sim.ParseFail(*fail); err != nil {
		fmt.Fprintln(stderr, "usher sim: --fail:", err)
		return 2
	}
	for a := range strings.SplitSeq(*algos, ",") {
		if a = strings.TrimSpace(a); a != "" {
			sc.Algorithms = append(sc.Algorithms, a)
		}
	}
	if err := sc.Validate(); err != nil {
		fmt.Fprintf(stderr, "usher sim: %s\n", strings.ReplaceAll(err.Error(), "\n", "\nusher sim: "))
		return 2
	}

	res := sim.Run(sc)
	if *asJSON {
		err = res.WriteJSON(stdout)
	} else {
		err = res.WriteTable(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "usher sim:", err)
		return 1
	}
	return 0
}

func joinSpecs[T fmt.Stringer](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = x.String()
	}
	return strings.Join(s, ",")
}
