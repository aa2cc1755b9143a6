// Package h1 is a lean HTTP/1.1 server for plain (non-TLS) entrypoints, with
// the shape of http.Server so that it can take its place.
//
// Compared with net/http's server it runs one goroutine per connection and
// none per request (no background read: a handler learns that its client is
// gone from its request context's Err, probed lazily, or from its Done, whose
// first call starts a watch of the connection), changes the read
// deadline at most once per bodiless request on a keep-alive connection,
// reuses each connection's response header map and buffers, and parses
// requests strictly (RFC 9112: CRLF line endings only, no obs-fold, one Host,
// chunked as the only transfer coding, never Transfer-Encoding with
// Content-Length).
//
// A read deadline set through http.ResponseController takes effect at once,
// on a body Read in progress too (a proxy ends with it the upload of a client
// its server has already answered). A connection closed while its client may
// still be sending (a body the handler left unread, a refused request) is
// closed lingering, as nginx's lingering_close: half-closed, then read for
// half a second at most, so that the client's writes do not meet a reset
// before it has read its answer.
//
// An idle keep-alive connection costs about 5 KiB: between requests it holds
// no buffer (reader, writer, scratch and response header map come from a pool
// when the socket becomes readable and go back when the response is done),
// it waits on the poller with a peek rather than a read, and after stackIdle
// it moves to a fresh goroutine so that the stack a handler grew is freed.
package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves HTTP/1.x on the listeners given to Serve.
type Server struct {
	Handler           http.Handler
	ReadHeaderTimeout time.Duration // from the first byte of a request to the end of its headers; 0 = none
	// IdleTimeout is how long a keep-alive connection waits for its next
	// request. As in net/http, 0 means ReadTimeout, and both 0 means none.
	IdleTimeout  time.Duration
	ReadTimeout  time.Duration // whole request, headers and body; 0 = none
	WriteTimeout time.Duration // whole response, from the end of the request's headers; 0 = none
	// BodyIdleTimeout is the longest wait for request body bytes: between
	// two reads of the socket, from the first Read of the body (so from the
	// 100 Continue for a request that expects one), as nginx's
	// client_body_timeout. A body that times out fails with a BodyError
	// whose Timeout is true, and the connection closes after the response.
	// 0 = none (then ReadTimeout alone bounds a body).
	BodyIdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers (and, separately, a
	// chunked body's trailer section); default 64KiB; over it: 431. It also
	// bounds the buffer a long line is gathered in.
	MaxHeaderBytes int
	ConnState      func(net.Conn, http.ConnState)
	// H2C, when set, takes the connections that speak HTTP/2 in the clear:
	// those that start with the HTTP/2 preface, and those whose first
	// request asks for `Upgrade: h2c`. Without it they are HTTP/1.1's (the
	// preface gets a 505).
	H2C         H2C
	ErrorLog    *log.Logger
	BaseContext func(net.Listener) context.Context

	inShutdown atomic.Bool
	mu         sync.Mutex
	listeners  map[*net.Listener]struct{}
	conns      map[*conn]struct{}
}

const defaultMaxHeaderBytes = 64 << 10

func (s *Server) maxHeaderBytes() int {
	if s.MaxHeaderBytes > 0 {
		return s.MaxHeaderBytes
	}
	return defaultMaxHeaderBytes
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout != 0 {
		return s.IdleTimeout
	}
	return s.ReadTimeout
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}

func (s *Server) shuttingDown() bool { return s.inShutdown.Load() }

// Serve accepts connections on ln and serves each on its own goroutine. It
// closes ln when it returns, and returns http.ErrServerClosed after Shutdown
// or Close.
func (s *Server) Serve(ln net.Listener) error {
	if !s.trackListener(&ln, true) {
		return http.ErrServerClosed
	}
	defer s.trackListener(&ln, false)
	defer ln.Close()
	base := context.Background()
	if s.BaseContext != nil {
		base = s.BaseContext(ln)
		if base == nil {
			panic("h1: BaseContext returned a nil context")
		}
	}
	var delay time.Duration
	for {
		rw, err := ln.Accept()
		if err != nil {
			if s.shuttingDown() {
				return http.ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: back off as net/http does.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else {
				delay = min(2*delay, time.Second)
			}
			s.logf("h1: Accept error: %v; retrying in %v", err, delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		c := newConn(s, rw, base)
		if !s.trackConn(c, true) {
			rw.Close()
			return http.ErrServerClosed
		}
		c.setState(http.StateNew)
		go c.serve()
	}
}

func (s *Server) trackListener(ln *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.shuttingDown() {
			return false
		}
		if s.listeners == nil {
			s.listeners = map[*net.Listener]struct{}{}
		}
		s.listeners[ln] = struct{}{}
	} else {
		delete(s.listeners, ln)
	}
	return true
}

func (s *Server) trackConn(c *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.shuttingDown() {
			return false
		}
		if s.conns == nil {
			s.conns = map[*conn]struct{}{}
		}
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
	return true
}

func (s *Server) closeListeners() error {
	var err error
	for ln := range s.listeners {
		if e := (*ln).Close(); e != nil && err == nil {
			err = e
		}
	}
	return err
}

// Close closes the listeners and every connection at once (not the hijacked
// ones).
func (s *Server) Close() error {
	s.inShutdown.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.closeListeners()
	for c := range s.conns {
		c.rwc.Close()
		delete(s.conns, c)
	}
	return err
}

// Shutdown stops accepting, closes idle connections at once and the others
// after their current response, and returns when none is left or with ctx's
// error when ctx ends first.
func (s *Server) Shutdown(ctx context.Context) error {
	s.inShutdown.Store(true)
	s.mu.Lock()
	err := s.closeListeners()
	s.mu.Unlock()
	wait := time.Millisecond
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		if s.closeIdle() {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			wait = min(2*wait, 500*time.Millisecond)
			t.Reset(wait)
		}
	}
}

// closeIdle closes the idle connections (and the new ones silent for 5s) and
// reports whether no connection is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	quiet := true
	now := time.Now().Unix()
	for c := range s.conns {
		st, since := c.getState()
		if st == http.StateNew && since < now-5 {
			st = http.StateIdle
		}
		if st != http.StateIdle {
			quiet = false
			continue
		}
		c.rwc.Close()
		delete(s.conns, c)
	}
	return quiet
}

// connBufs is what a connection needs only while it reads or answers a
// request: taken from bufPool when the socket becomes readable, given back
// when the connection goes idle, so that an idle keep-alive connection holds
// no buffer (see conn.await).
type connBufs struct {
	br      *bufio.Reader
	bw      *bufio.Writer
	scratch []byte      // long lines, response bodies before commit, drains
	hdr     http.Header // the response header map
}

var bufPool sync.Pool

const (
	bufSize   = 4096
	smallBody = 4096 // a body up to this size, finished before any Flush, gets a Content-Length

	// What goes back to bufPool is bounded: a scratch buffer or a header map
	// grown past these by one request is dropped, not pooled.
	maxPooledScratch = 2 * smallBody
	maxPooledFields  = 64
)

func getBufs(r io.Reader, c net.Conn) *connBufs {
	b, _ := bufPool.Get().(*connBufs)
	if b == nil {
		return &connBufs{
			br:      bufio.NewReaderSize(r, bufSize),
			bw:      bufio.NewWriterSize(c, bufSize),
			scratch: make([]byte, 0, smallBody),
			hdr:     make(http.Header),
		}
	}
	b.br.Reset(r)
	b.bw.Reset(c)
	return b
}

func putBufs(b *connBufs) {
	b.br.Reset(nil)
	b.bw.Reset(nil)
	if cap(b.scratch) > maxPooledScratch {
		b.scratch = make([]byte, 0, smallBody)
	}
	b.scratch = b.scratch[:0]
	if len(b.hdr) > maxPooledFields {
		b.hdr = make(http.Header)
	} else {
		clear(b.hdr)
	}
	bufPool.Put(b)
}
