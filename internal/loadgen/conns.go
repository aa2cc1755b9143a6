package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// goroutines is the engine for HTTPS and HTTP/2: one goroutine per
// connection (HTTP/2: per stream in flight), each with its own tally.
func (r *run) goroutines() (func(context.Context) error, error) {
	var mk func(*tally) worker
	var closeAll func()
	if r.cfg.HTTP2 {
		c := r.h2Client()
		closeAll = c.CloseIdleConnections
		mk = func(t *tally) worker { return &h2Worker{r: r, t: t, c: c} }
	} else {
		req, err := r.h1Request()
		if err != nil {
			return nil, err
		}
		mk = func(t *tally) worker { return &h1Worker{r: r, t: t, req: req, buf: make([]byte, 32<<10)} }
	}
	workers := make([]worker, r.cfg.Conns)
	for i := range workers {
		workers[i] = mk(r.newTally())
	}
	return func(ctx context.Context) error {
		if closeAll != nil {
			defer closeAll()
		}
		var sent atomic.Int64
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer w.close()
				for {
					due, ok := r.next(ctx, &sent)
					if !ok {
						return
					}
					w.do(ctx, due)
				}
			}()
		}
		wg.Wait()
		return nil
	}, nil
}

type worker interface {
	do(ctx context.Context, due time.Time)
	close()
}

// next hands out the next request: false when the run is over. At a fixed
// rate it waits until the request is due, and returns when it was due.
func (r *run) next(ctx context.Context, sent *atomic.Int64) (time.Time, bool) {
	n := sent.Add(1)
	if r.cfg.Requests > 0 && n > r.cfg.Requests {
		return time.Time{}, false
	}
	if ctx.Err() != nil {
		return time.Time{}, false
	}
	if r.cfg.Rate <= 0 {
		return time.Now(), true
	}
	at := r.start.Add(due(n-1, r.cfg.Rate))
	if wait := time.Until(at); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return time.Time{}, false
		case <-t.C:
		}
	}
	return at, true
}

// failCtx counts a failure unless the run is ending (then it is the run's
// end, not the server's failure).
func failCtx(ctx context.Context, t *tally, kind string) {
	if ctx.Err() == nil {
		t.fail(kind)
	}
}

// h1Worker is one keep-alive connection over TLS.
type h1Worker struct {
	r    *run
	t    *tally
	req  []byte
	conn net.Conn
	buf  []byte
	p    respParser
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
	return nil
}

func (w *h1Worker) do(ctx context.Context, due time.Time) {
	for attempt := 0; ; attempt++ {
		fresh := w.conn == nil
		if fresh {
			if err := w.dial(ctx); err != nil {
				failCtx(ctx, w.t, "connect")
				return
			}
		}
		_ = w.conn.SetDeadline(time.Now().Add(w.r.cfg.Timeout))
		got, keep, err := w.exchange()
		if err == nil {
			w.t.answer(w.p.status, time.Since(due))
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
		if !fresh && attempt == 0 && got == 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
			continue
		}
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			failCtx(ctx, w.t, "timeout")
		case errors.Is(err, errMalformed):
			failCtx(ctx, w.t, "malformed response")
		default:
			failCtx(ctx, w.t, "read")
		}
		return
	}
}

// exchange writes the request and reads one response: got is how many
// bytes of it came.
func (w *h1Worker) exchange() (got int, keep bool, err error) {
	if _, err := w.conn.Write(w.req); err != nil {
		return 0, false, err
	}
	w.p.reset()
	w.p.head = w.r.cfg.Method == http.MethodHead
	for {
		n, err := w.conn.Read(w.buf)
		if n > 0 {
			got += n
			w.t.bytes += int64(n)
			used, done, perr := w.p.feed(w.buf[:n])
			if perr != nil {
				return got, false, perr
			}
			if done {
				// Bytes past the response, unasked for: the connection is
				// out of step, so it is not used again.
				return got, w.p.keep && used == n, nil
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) && w.p.eof() {
				return got, false, nil
			}
			if errors.Is(err, io.EOF) && got > 0 {
				err = io.ErrUnexpectedEOF
			}
			return got, false, err
		}
	}
}

// h2Client is Go's HTTP/2 client: h2 by ALPN over TLS, prior knowledge in
// the clear.
func (r *run) h2Client() *http.Client {
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
	return &http.Client{Transport: t, Timeout: r.cfg.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type h2Worker struct {
	r *run
	t *tally
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
		failCtx(ctx, w.t, "request")
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
			failCtx(ctx, w.t, "timeout")
		} else {
			failCtx(ctx, w.t, "read")
		}
		return
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	w.t.bytes += n
	if err != nil {
		failCtx(ctx, w.t, "read")
		return
	}
	w.t.answer(resp.StatusCode, time.Since(due))
}
