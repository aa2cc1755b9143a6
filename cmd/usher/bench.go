package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/usher-lb/usher/internal/loadgen"
)

func cmdBench(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("bench", "bench [flags] URL\n\n"+
		"Sends HTTP requests to URL as wrk or ab do and prints their rate and latency: on\n"+
		"-c keep-alive connections, each sending its next request when the last is answered,\n"+
		"or at --rate requests per second in all, where a request's latency counts from when\n"+
		"it was due (a slow server is not hidden by fewer requests being sent).", stderr)
	conns := fs.Int("c", 16, "connections (with --http2: requests in flight)")
	threads := fs.Int("t", 0, "threads: event loops sharing the connections, and Go's GOMAXPROCS (default: the CPUs usher may use)")
	n := fs.Int64("n", 0, "stop after this many requests")
	d := fs.Duration("d", 0, "stop after this long (default 10s when -n is not given)")
	rate := fs.Float64("rate", 0, "requests per second in all (0: as fast as the server answers)")
	method := fs.String("m", "GET", "request method")
	bodyFile := fs.String("body", "", "file whose content is the request body")
	h2 := fs.Bool("http2", false, "HTTP/2 (h2 over TLS, h2c with prior knowledge in the clear)")
	insecure := fs.Bool("k", false, "do not verify the server's certificate")
	timeout := fs.Duration("timeout", 30*time.Second, "of one request")
	asJSON := fs.Bool("json", false, "print the result as JSON (durations in nanoseconds)")
	var headers headerFlags
	fs.Var(&headers, "H", "`Name: value` header, repeatable")
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usher bench: give one URL")
		return 2
	}
	u, err := url.Parse(fs.Arg(0))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "usher bench: %q is not an http:// or https:// URL\n", fs.Arg(0))
		return 2
	}
	if *threads < 0 || *conns < 1 {
		fmt.Fprintln(stderr, "usher bench: -c must be at least 1 and -t at least 0")
		return 2
	}
	if *threads > 0 {
		// As wrk's -t: that many threads carry the load. One P more than the
		// loops: while every loop waits in epoll_wait, Go's sysmon sees an
		// idle P and leaves theirs alone; with none it would take each one
		// back 20µs into the wait and wake another thread to look for work,
		// costing more than the requests themselves.
		runtime.GOMAXPROCS(*threads + 1)
	}
	cfg := loadgen.Config{URL: u, Method: strings.ToUpper(*method), Header: http.Header{}, Conns: *conns, Threads: *threads,
		Requests: *n, Duration: *d, Rate: *rate, HTTP2: *h2, Timeout: *timeout, Insecure: *insecure}
	if cfg.Requests == 0 && cfg.Duration == 0 {
		cfg.Duration = 10 * time.Second
	}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(k) == "" {
			fmt.Fprintf(stderr, "usher bench: -H %q: want \"Name: value\"\n", h)
			return 2
		}
		cfg.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if *bodyFile != "" {
		if cfg.Body, err = os.ReadFile(*bodyFile); err != nil {
			fmt.Fprintf(stderr, "usher bench: --body: %v\n", err)
			return 2
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var progress func(loadgen.Live)
	if f, ok := stderr.(*os.File); ok && !*asJSON && term.IsTerminal(int(f.Fd())) {
		progress = func(l loadgen.Live) {
			rps := float64(l.Requests) / l.Elapsed.Seconds()
			fmt.Fprintf(stderr, "\r%6.1fs  %d requests  %.0f/s  %d errors  p50 %s  p99 %s   ",
				l.Elapsed.Seconds(), l.Requests, rps, l.Errors, short(l.Latency.Quantile(0.5)), short(l.Latency.Quantile(0.99)))
		}
	}
	res, err := loadgen.Run(ctx, cfg, progress)
	if err != nil {
		fmt.Fprintln(stderr, "usher bench:", err)
		return 2
	}
	if progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	qs := []float64{0.5, 0.75, 0.9, 0.99, 0.999}
	if *asJSON {
		type out struct {
			*loadgen.Result
			RPS       float64          `json:"rps"`
			Quantiles map[string]int64 `json:"latencyNs"`
			Histogram []loadgen.Bar    `json:"histogram"`
			Config    map[string]any   `json:"config"`
		}
		o := out{Result: res, RPS: float64(res.Requests) / res.Elapsed.Seconds(), Quantiles: map[string]int64{}, Histogram: res.Latency.Bars(20),
			Config: map[string]any{"url": u.Redacted(), "connections": cfg.Conns, "threads": *threads, "rate": cfg.Rate, "http2": cfg.HTTP2, "method": cfg.Method}}
		for _, q := range qs {
			o.Quantiles[fmt.Sprintf("p%g", q*100)] = int64(res.Latency.Quantile(q))
		}
		o.Quantiles["max"] = int64(res.Latency.Max())
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(o)
	} else {
		mode := fmt.Sprintf("%d connections", cfg.Conns)
		if cfg.Rate > 0 {
			mode += fmt.Sprintf(", %g requests/s", cfg.Rate)
		}
		fmt.Fprintf(stdout, "%s %s, %s, %s\n", cfg.Method, u.Redacted(), mode, res.Elapsed.Round(time.Millisecond))
		fmt.Fprintf(stdout, "  requests  %d  (%.1f/s)  %s read\n", res.Requests, float64(res.Requests)/res.Elapsed.Seconds(), bytesText(res.BytesRead))
		codes := make([]int, 0, len(res.Status))
		for c := range res.Status {
			codes = append(codes, c)
		}
		sort.Ints(codes)
		var parts []string
		for _, c := range codes {
			parts = append(parts, fmt.Sprintf("%d: %d", c, res.Status[c]))
		}
		if len(parts) > 0 {
			fmt.Fprintf(stdout, "  status    %s\n", strings.Join(parts, ", "))
		}
		if res.NonOK > 0 {
			fmt.Fprintf(stdout, "  non-2xx/3xx  %d\n", res.NonOK)
		}
		if res.Errors > 0 {
			var kinds []string
			for k, v := range res.Errs {
				kinds = append(kinds, fmt.Sprintf("%s %d", k, v))
			}
			sort.Strings(kinds)
			fmt.Fprintf(stdout, "  errors    %d  (%s)\n", res.Errors, strings.Join(kinds, ", "))
		}
		fmt.Fprint(stdout, "  latency  ")
		for _, q := range qs {
			fmt.Fprintf(stdout, "  p%g %s", q*100, short(res.Latency.Quantile(q)))
		}
		fmt.Fprintf(stdout, "  max %s\n", short(res.Latency.Max()))
		bars := res.Latency.Bars(12)
		var most uint64
		for _, b := range bars {
			most = max(most, b.Count)
		}
		for _, b := range bars {
			w := 0
			if most > 0 {
				w = int(b.Count * 40 / most)
			}
			fmt.Fprintf(stdout, "  %9s  %-40s %d\n", "≤"+short(b.Upper), strings.Repeat("#", w), b.Count)
		}
	}
	if res.Errors > 0 || res.Requests == 0 {
		return 1
	}
	return 0
}

// short prints a latency with three significant digits.
func short(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.3gs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.3gms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.3gµs", float64(d)/1e3)
	}
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
