// Package loadgen is the load generator behind `usher bench`: HTTP/1.1 on
// keep-alive connections with a request serialized once and a response read
// with no allocation (so that one core drives as many requests as wrk), or
// HTTP/2 through Go's client; closed loop (each connection sends its next
// request when the last is answered) or at a fixed rate, where each
// request's latency counts from when it was due, not from when a busy
// connection got to send it (no coordinated omission).
package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
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
	Requests int64         // stop after this many; 0: no bound
	Duration time.Duration // stop after this long; 0: no bound (Requests must be set)
	Rate     float64       // requests per second in all; 0: as fast as answers come
	HTTP2    bool          // HTTP/2 (h2 over TLS, h2c in the clear)
	Timeout  time.Duration // of one request; default 30s
	Insecure bool          // do not verify the server's certificate
}

// Result is what a run measured.
type Result struct {
	Requests  int64            `json:"requests"` // answered, whatever the status
	Errors    int64            `json:"errors"`   // no answer: connect, write, read, timeout
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
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	r := &run{cfg: cfg, hist: &Histogram{}, status: map[int]int64{}, errs: map[string]int64{}}
	r.start = time.Now()
	var send func() worker
	if cfg.HTTP2 {
		c, err := r.h2Client()
		if err != nil {
			return nil, err
		}
		defer c.CloseIdleConnections()
		send = func() worker { return &h2Worker{r: r, c: c} }
	} else {
		req, err := r.h1Request()
		if err != nil {
			return nil, err
		}
		send = func() worker { return &h1Worker{r: r, req: req} }
	}
	done := make(chan struct{})
	if progress != nil {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					progress(Live{Requests: r.answered.Load(), Errors: r.failed.Load(), Elapsed: time.Since(r.start), Latency: r.hist})
				}
			}
		}()
	}
	var wg sync.WaitGroup
	for range cfg.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := send()
			defer w.close()
			for {
				due, ok := r.next(ctx)
				if !ok {
					return
				}
				w.do(ctx, due)
			}
		}()
	}
	wg.Wait()
	close(done)
	for c := range r.codes {
		if v := r.codes[c].Load(); v > 0 {
			r.status[c] = v
		}
	}
	if v := r.odd.Load(); v > 0 {
		r.status[600] = v
	}
	res := &Result{Requests: r.answered.Load(), Errors: r.failed.Load(), Status: r.status, Errs: r.errs,
		BytesRead: r.bytes.Load(), Elapsed: time.Since(r.start), Latency: r.hist}
	return res, nil
}

type run struct {
	cfg   Config
	start time.Time
	hist  *Histogram
	sent  atomic.Int64 // requests handed out

	answered, failed, bytes atomic.Int64
	codes                   [600]atomic.Int64 // answers by status; others in odd

	odd    atomic.Int64 // answers whose status is past 599
	mu     sync.Mutex
	status map[int]int64
	errs   map[string]int64
}

type worker interface {
	do(ctx context.Context, due time.Time)
	close()
}

// next hands out the next request: false when the run is over. At a fixed
// rate it waits until the request is due, and returns when it was due.
func (r *run) next(ctx context.Context) (time.Time, bool) {
	n := r.sent.Add(1)
	if r.cfg.Requests > 0 && n > r.cfg.Requests {
		return time.Time{}, false
	}
	if ctx.Err() != nil {
		return time.Time{}, false
	}
	if r.cfg.Rate <= 0 {
		return time.Now(), true
	}
	due := r.start.Add(time.Duration(float64(n-1) / r.cfg.Rate * float64(time.Second)))
	if wait := time.Until(due); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return time.Time{}, false
		case <-t.C:
		}
	}
	return due, true
}

func (r *run) answer(status int, due time.Time, n int64) {
	r.hist.Record(time.Since(due))
	r.answered.Add(1)
	r.bytes.Add(n)
	if status >= 0 && status < len(r.codes) {
		r.codes[status].Add(1)
	} else {
		r.odd.Add(1)
	}
}

func (r *run) fail(ctx context.Context, kind string) {
	if ctx.Err() != nil {
		return // the run's end, not the server's failure
	}
	r.failed.Add(1)
	r.mu.Lock()
	r.errs[kind]++
	r.mu.Unlock()
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

// h1Worker is one keep-alive connection.
type h1Worker struct {
	r    *run
	req  []byte
	conn net.Conn
	br   *bufio.Reader
}

func (w *h1Worker) close() {
	if w.conn != nil {
		w.conn.Close()
	}
}

func (w *h1Worker) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: w.r.cfg.Timeout}
	c, err := d.DialContext(ctx, "tcp", w.r.addr())
	if err != nil {
		return err
	}
	if w.r.cfg.URL.Scheme == "https" {
		tc := tls.Client(c, &tls.Config{ServerName: w.r.cfg.URL.Hostname(), InsecureSkipVerify: w.r.cfg.Insecure, NextProtos: []string{"http/1.1"}})
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return err
		}
		c = tc
	}
	w.conn = c
	if w.br == nil {
		w.br = bufio.NewReaderSize(c, 32<<10)
	} else {
		w.br.Reset(c)
	}
	return nil
}

func (w *h1Worker) do(ctx context.Context, due time.Time) {
	for attempt := 0; ; attempt++ {
		fresh := w.conn == nil
		if fresh {
			if err := w.dial(ctx); err != nil {
				w.r.fail(ctx, "connect")
				return
			}
		}
		_ = w.conn.SetDeadline(time.Now().Add(w.r.cfg.Timeout))
		status, n, keep, err := w.exchange()
		if err == nil {
			w.r.answer(status, due, n)
			if !keep {
				w.conn.Close()
				w.conn = nil
			}
			return
		}
		w.conn.Close()
		w.conn = nil
		// A kept-alive connection the server closed as this request went
		// out is tried again once on a new one, as browsers and wrk do.
		if !fresh && attempt == 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) && n == 0 {
			continue
		}
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			w.r.fail(ctx, "timeout")
		case errors.Is(err, errMalformed):
			w.r.fail(ctx, "malformed response")
		default:
			w.r.fail(ctx, "read")
		}
		return
	}
}

var errMalformed = errors.New("malformed response")

// exchange writes the request and reads one response, discarding its body.
func (w *h1Worker) exchange() (status int, n int64, keep bool, err error) {
	if _, err := w.conn.Write(w.req); err != nil {
		return 0, 0, false, err
	}
	br := w.br
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, 0, false, err
	}
	n = int64(len(line))
	for len(line) > 12 && line[9] == '1' && line[10] < '2' && bytes.HasPrefix(line, []byte("HTTP/1.")) {
		// An interim response (100, 103): skip it and its fields.
		for {
			l, err := br.ReadSlice('\n')
			if err != nil {
				return 0, n, false, err
			}
			n += int64(len(l))
			if len(bytes.TrimRight(l, "\r\n")) == 0 {
				break
			}
		}
		if line, err = br.ReadSlice('\n'); err != nil {
			return 0, n, false, err
		}
		n += int64(len(line))
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, n, false, errMalformed
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, n, false, errMalformed
	}
	keep = line[7] == '1'
	length, chunked := int64(-1), false
	for {
		l, err := br.ReadSlice('\n')
		if err != nil {
			return status, n, false, err
		}
		n += int64(len(l))
		l = bytes.TrimRight(l, "\r\n")
		if len(l) == 0 {
			break
		}
		k, v, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			return status, n, false, errMalformed
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			length, err = strconv.ParseInt(string(v), 10, 64)
			if err != nil || length < 0 {
				return status, n, false, errMalformed
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.Contains(bytes.ToLower(v), []byte("chunked"))
		case bytes.EqualFold(k, []byte("Connection")):
			if bytes.Contains(bytes.ToLower(v), []byte("close")) {
				keep = false
			}
		}
	}
	bodyless := status == http.StatusNoContent || status == http.StatusNotModified || w.r.cfg.Method == http.MethodHead
	switch {
	case bodyless:
	case chunked:
		m, err := discardChunked(br)
		n += m
		if err != nil {
			return status, n, false, err
		}
	case length >= 0:
		m, err := br.Discard(int(length))
		n += int64(m)
		if err != nil {
			return status, n, false, err
		}
	default:
		m, err := io.Copy(io.Discard, br)
		n += m
		if err != nil {
			return status, n, false, err
		}
		keep = false
	}
	return status, n, keep, nil
}

func discardChunked(br *bufio.Reader) (int64, error) {
	var n int64
	for {
		l, err := br.ReadSlice('\n')
		if err != nil {
			return n, err
		}
		n += int64(len(l))
		sz := bytes.TrimRight(l, "\r\n")
		if i := bytes.IndexByte(sz, ';'); i >= 0 {
			sz = sz[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(sz)), 16, 64)
		if err != nil || size < 0 {
			return n, errMalformed
		}
		if size == 0 {
			for { // trailers, then the empty line
				l, err := br.ReadSlice('\n')
				if err != nil {
					return n, err
				}
				n += int64(len(l))
				if len(bytes.TrimRight(l, "\r\n")) == 0 {
					return n, nil
				}
			}
		}
		m, err := br.Discard(int(size) + 2)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
}

// h2Client is Go's HTTP/2 client: h2 by ALPN over TLS, prior knowledge in
// the clear.
func (r *run) h2Client() (*http.Client, error) {
	var p http.Protocols
	if r.cfg.URL.Scheme == "https" {
		p.SetHTTP2(true)
	} else {
		p.SetUnencryptedHTTP2(true)
	}
	t := &http.Transport{
		Protocols:           &p,
		DisableCompression:  true,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: r.cfg.Insecure},
		MaxIdleConnsPerHost: r.cfg.Conns,
	}
	return &http.Client{Transport: t, Timeout: r.cfg.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}

type h2Worker struct {
	r *run
	c *http.Client
}

func (w *h2Worker) close() {}

func (w *h2Worker) do(ctx context.Context, due time.Time) {
	var body io.Reader
	if len(w.r.cfg.Body) > 0 {
		body = bytes.NewReader(w.r.cfg.Body)
	}
	req, err := http.NewRequestWithContext(ctx, w.r.cfg.Method, w.r.cfg.URL.String(), body)
	if err != nil {
		w.r.fail(ctx, "request")
		return
	}
	for k, vv := range w.r.cfg.Header {
		if strings.EqualFold(k, "Host") {
			req.Host = vv[0]
			continue
		}
		req.Header[k] = vv
	}
	resp, err := w.c.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			w.r.fail(ctx, "timeout")
		} else {
			w.r.fail(ctx, "read")
		}
		return
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		w.r.fail(ctx, "read")
		return
	}
	w.r.answer(resp.StatusCode, due, n)
}
