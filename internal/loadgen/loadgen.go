// Package loadgen is the load generator behind `usher bench`. HTTP/1.1 in
// the clear runs as wrk does, on Linux: a few event loops (one per thread,
// -t), each driving its share of the keep-alive connections through its own
// epoll set with non-blocking reads and writes of a request serialized
// once, a response parser that copies nothing, and counters and a latency
// histogram of its own, so that a request costs two system calls and no
// allocation. HTTPS and HTTP/2 (through Go's client) run as one goroutine
// per connection. Closed loop (each connection sends its next request when
// the last is answered) or at a fixed rate, where each request's latency
// counts from when it was due, not from when a busy connection got to send
// it (no coordinated omission).
package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one run.
type Config struct {
	URL      *url.URL
	Method   string      // default GET
	Header   http.Header // sent with every request (Host among them overrides the URL's)
	Body     []byte
	Conns    int           // connections (HTTP/2: streams in flight); default 1
	Threads  int           // event loops for HTTP/1.1 in the clear; default GOMAXPROCS, at most Conns
	Requests int64         // stop after this many; 0: no bound
	Duration time.Duration // stop after this long; 0: no bound (Requests must be set)
	Rate     float64       // requests per second in all; 0: as fast as answers come
	HTTP2    bool          // HTTP/2 (h2 over TLS, h2c in the clear)
	Timeout  time.Duration // of one request; default 30s
	Insecure bool          // do not verify the server's certificate
}

// Result is what a run measured.
type Result struct {
	Requests  int64            `json:"requests"`  // answered, whatever the status
	NonOK     int64            `json:"non2xx3xx"` // answered with a status outside 2xx and 3xx
	Errors    int64            `json:"errors"`    // no answer: connect, write, read, timeout
	Status    map[int]int64    `json:"status"`
	Errs      map[string]int64 `json:"errorKinds,omitempty"`
	BytesRead int64            `json:"bytesRead"`
	Elapsed   time.Duration    `json:"elapsedNs"`
	Latency   *Histogram       `json:"-"`
}

// Live is what a run has done so far, for a progress line.
type Live struct {
	Requests, Errors int64
	Elapsed          time.Duration
	Latency          *Histogram
}

// Run drives the load until its bound or ctx ends. progress, when not nil,
// is called about every second from another goroutine.
func Run(ctx context.Context, cfg Config, progress func(Live)) (*Result, error) {
	if cfg.URL == nil || (cfg.URL.Scheme != "http" && cfg.URL.Scheme != "https") || cfg.URL.Host == "" {
		return nil, errors.New("the URL must be http:// or https:// with a host")
	}
	if cfg.Requests <= 0 && cfg.Duration <= 0 {
		return nil, errors.New("a run needs a number of requests or a duration")
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodGet
	}
	if cfg.Conns <= 0 {
		cfg.Conns = 1
	}
	if cfg.Threads <= 0 {
		cfg.Threads = runtime.GOMAXPROCS(0)
	}
	cfg.Threads = min(cfg.Threads, cfg.Conns)
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	r := &run{cfg: cfg}
	var engine func(context.Context) error
	if !cfg.HTTP2 && cfg.URL.Scheme == "http" && haveLoops {
		req, err := r.h1Request()
		if err != nil {
			return nil, err
		}
		engine, err = r.loops(req)
		if err != nil {
			return nil, err
		}
	} else {
		var err error
		if engine, err = r.goroutines(); err != nil {
			return nil, err
		}
	}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	r.start = time.Now()
	done := make(chan struct{})
	var pwg sync.WaitGroup
	if progress != nil {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					l := Live{Elapsed: time.Since(r.start), Latency: &Histogram{}}
					for _, t := range r.tallies {
						l.Requests += t.answered.Load()
						l.Errors += t.failed.Load()
						l.Latency.Merge(&t.hist)
					}
					progress(l)
				}
			}
		}()
	}
	err := engine(ctx)
	elapsed := time.Since(r.start)
	close(done)
	pwg.Wait()
	if err != nil {
		return nil, err
	}
	res := &Result{Status: map[int]int64{}, Errs: map[string]int64{}, Elapsed: elapsed, Latency: &Histogram{}}
	for _, t := range r.tallies {
		res.Requests += t.answered.Load()
		res.Errors += t.failed.Load()
		res.BytesRead += t.bytes
		res.Latency.Merge(&t.hist)
		for c, n := range t.codes {
			if n > 0 {
				res.Status[c] += n
			}
		}
		if t.odd > 0 {
			res.Status[600] += t.odd
		}
		for k, n := range t.errs {
			res.Errs[k] += n
		}
	}
	for c, n := range res.Status {
		if c < 200 || c >= 400 {
			res.NonOK += n
		}
	}
	return res, nil
}

type run struct {
	cfg     Config
	start   time.Time
	tallies []*tally // one per event loop or goroutine, all made before the start
}

// tally is what one event loop or goroutine counted: it alone writes it, so
// that counting costs no lock and no shared cache line. The progress line
// reads the atomics and the histogram as they go; the rest is read once the
// writer is done.
type tally struct {
	answered, failed atomic.Int64
	hist             Histogram
	bytes            int64
	codes            [600]int64
	odd              int64 // answers whose status is past 599
	errs             map[string]int64
}

func (r *run) newTally() *tally {
	t := &tally{errs: map[string]int64{}}
	r.tallies = append(r.tallies, t)
	return t
}

func (t *tally) answer(status int, latency time.Duration) {
	t.hist.Record(latency)
	t.answered.Add(1)
	if status >= 0 && status < len(t.codes) {
		t.codes[status]++
	} else {
		t.odd++
	}
}

func (t *tally) fail(kind string) {
	t.failed.Add(1)
	t.errs[kind]++
}

// due is when request n (from 0) of a run at rate is due, from the start.
func due(n int64, rate float64) time.Duration {
	return time.Duration(float64(n) / rate * float64(time.Second))
}

// h1Request serializes the request once.
func (r *run) h1Request() ([]byte, error) {
	u := r.cfg.URL
	var b bytes.Buffer
	target := u.RequestURI()
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", r.cfg.Method, target)
	host := u.Host
	if h := r.cfg.Header.Get("Host"); h != "" {
		host = h
	}
	fmt.Fprintf(&b, "Host: %s\r\n", host)
	for k, vv := range r.cfg.Header {
		if strings.EqualFold(k, "Host") || strings.EqualFold(k, "Content-Length") {
			continue
		}
		for _, v := range vv {
			if strings.ContainsAny(k+v, "\r\n") {
				return nil, fmt.Errorf("header %q: no line breaks in headers", k)
			}
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	if len(r.cfg.Body) > 0 || r.cfg.Method == http.MethodPost || r.cfg.Method == http.MethodPut || r.cfg.Method == http.MethodPatch {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.cfg.Body))
	}
	b.WriteString("\r\n")
	b.Write(r.cfg.Body)
	return b.Bytes(), nil
}

func (r *run) addr() string {
	u := r.cfg.URL
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}
