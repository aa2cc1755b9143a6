package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable writes the result as an aligned text table: the scenario on a line,
// then one row per algorithm with its latency percentiles, error rate, retries
// (per 100 requests) and each server's share of the attempts.
func (r Result) WriteTable(w io.Writer) error {
	sc := r.Scenario
	var b strings.Builder
	fmt.Fprintf(&b, "%d servers, slow %s, failing %s; %g rps (Poisson), service log-normal median %s sigma %g, %d workers a server;\n",
		sc.Servers, list(sc.Slow), list(sc.Fail), sc.RPS, shortDur(sc.Median), sc.Sigma, sc.Workers)
	fmt.Fprintf(&b, "timeout %s, %d %s; %s simulated, seed %d\n\n",
		shortDur(sc.Timeout), sc.Retries, plural(sc.Retries, "retry", "retries"), shortDur(sc.Duration), sc.Seed)

	// Right-aligned columns; names padded to one width stay on the left.
	width := len("algorithm")
	for _, a := range r.Algorithms {
		width = max(width, len(a.Algorithm))
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tp50\tp99\tp99.9\terrors\tretries\t", width, "algorithm")
	for k := range sc.Servers {
		fmt.Fprintf(tw, "s%d\t", k)
	}
	fmt.Fprintln(tw)
	for _, a := range r.Algorithms {
		fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t%s\t%s\t", width, a.Algorithm, fmtDur(a.P50), fmtDur(a.P99), fmtDur(a.P999),
			pct(a.ErrorRate, 2), pct(ratio(a.Retries, a.Requests), 2))
		for _, s := range a.Share {
			fmt.Fprintf(tw, "%s\t", pct(s, 1))
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("latency: arrival to end, errors included; errors: after retries; retries: per request; s0..: share of attempts\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the result as indented JSON (durations in nanoseconds).
func (r Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// shortDur writes a duration of the scenario: 60s rather than 1m0s.
func shortDur(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

func list[T fmt.Stringer](xs []T) string {
	if len(xs) == 0 {
		return "none"
	}
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = x.String()
	}
	return strings.Join(s, ",")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func pct(x float64, decimals int) string {
	return fmt.Sprintf("%.*f%%", decimals, 100*x)
}

// fmtDur writes d with three significant digits: 850µs, 21.3ms, 1.25s.
func fmtDur(d time.Duration) string {
	f := func(v float64, unit string) string {
		switch {
		case v < 9.995:
			return fmt.Sprintf("%.2f%s", v, unit)
		case v < 99.95:
			return fmt.Sprintf("%.1f%s", v, unit)
		}
		return fmt.Sprintf("%.0f%s", v, unit)
	}
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d)
	case d < 999500*time.Nanosecond:
		return f(float64(d)/1e3, "µs")
	case d < 999500*time.Microsecond:
		return f(float64(d)/1e6, "ms")
	}
	return f(d.Seconds(), "s")
}
