package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// conn is one client connection, served by one goroutine at a time.
//
// Reading: the connection's goroutine holds rmu except while the handler
// runs. The body's Read and the liveness probe take it, so a body may be read
// from another goroutine (a proxy streaming it upstream) while the handler
// goroutine polls its context, and nothing reads the socket concurrently.
//
// Memory: between requests the connection holds no buffer (they are in
// bufPool, see await) and, once idle for stackIdle, runs on a fresh goroutine
// whose stack is the smallest (a handler may have grown the first one's).
type conn struct {
	srv        *Server
	rwc        net.Conn
	rc         syscall.RawConn // nil when the connection cannot be peeked (not a socket)
	readyFn    func(fd uintptr) bool
	woke       bool    // await: the poller said readable
	pb         [1]byte // await's peek
	bufs       *connBufs
	br         *bufio.Reader // bufs' while a request is served, else nil
	bw         *bufio.Writer
	base       context.Context
	remoteAddr string
	moved      bool      // serve runs on a new goroutine, in the middle of an idle wait
	idleDL     time.Time // end of the current idle wait; zero: none

	rmu      sync.Mutex
	rdl      time.Time // read deadline in force (under rmu); unknownDeadline: not known
	reqDL    time.Time // the current request's body deadline: zero, start+ReadTimeout, or the handler's
	hdrArmed bool      // header deadline set for the current request
	handling bool      // the handler runs (under rmu): deadline changes take dmu
	lr       lineReader
	scratch  []byte // from bufs: long lines, response bodies before commit

	// A read deadline a handler sets (SetReadDeadline, for
	// http.ResponseController) goes on the socket at once, under dmu and
	// not rmu, so that it ends a body read in progress; the reader takes it
	// in as reqDL (see takeDeadline) before its next deadline change. While
	// the handler runs, the reader's changes are made under dmu too, so
	// that neither undoes the other unseen.
	dmu    sync.Mutex
	dlGen  atomic.Uint32 // SetReadDeadline calls so far
	dlWant time.Time     // the last one's deadline (under dmu)
	dlSeen uint32        // the dlGen taken in (under rmu)

	hdr http.Header // response header map, from bufs

	state atomic.Uint64 // http.ConnState<<56 | unix seconds

	gone      atomic.Bool  // the client is known to be gone
	lastProbe atomic.Int64 // unix nanos of the last liveness probe
	hijacked  bool         // under rmu
	reading   atomic.Bool  // a body Read holds rmu

	cr         connReader  // what br reads from
	bodyIdle   bool        // socket reads are the body's: BodyIdleTimeout applies (under rmu)
	kicked     atomic.Bool // the handler returned: reads of its body must stop
	bodyBroken atomic.Bool // the body failed (BodyError): close after the response
	linger     bool        // close with a lingering close: the client may still be sending

	// The watch of the client for Done (see startWatch). wmu orders starting
	// and stopping it; the watching goroutine is the only reader of the
	// socket while it runs.
	ctx         *reqCtx // the current request's
	wmu         sync.Mutex
	watching    atomic.Bool
	watched     bool // this request had a watch (which may have moved the read deadline)
	watchDone   chan struct{}
	wantWatch   atomic.Bool // Done was called while the body was still to be read
	bodyPending atomic.Bool // a body is there and has not been read to its end nor closed
	hijackedA   atomic.Bool

	// 100 Continue against the response's commit, for requests with Expect.
	cmu       sync.Mutex
	committed bool
	sent100   bool

	now time.Time // the last clock read of the conn's goroutine
}

func newConn(s *Server, rw net.Conn, base context.Context) *conn {
	c := &conn{srv: s, rwc: rw, base: base, remoteAddr: rw.RemoteAddr().String(), now: time.Now()}
	if sc, ok := rw.(syscall.Conn); ok && canPeek {
		if rc, err := sc.SyscallConn(); err == nil {
			c.rc = rc
			c.readyFn = c.ready
		}
	}
	c.lr.more = c.armHeader
	c.cr.c = c
	return c
}

func (c *conn) setState(st http.ConnState) {
	var now int64
	if st == http.StateNew {
		now = time.Now().Unix()
	}
	c.state.Store(uint64(st)<<56 | uint64(now))
	if h := c.srv.ConnState; h != nil {
		h(c.rwc, st)
	}
}

func (c *conn) getState() (http.ConnState, int64) {
	v := c.state.Load()
	return http.ConnState(v >> 56), int64(v & (1<<56 - 1))
}

// unknownDeadline is rdl when the deadline on the socket is not known (the
// handler or the watch set one): the next setRead applies its own.
var unknownDeadline = time.Unix(0, 1)

// setRead sets the read deadline unless it is the one in force. While the
// handler runs, it reports false, and sets nothing, when the handler set a
// deadline since the last takeDeadline: that one is then taken in (reqDL),
// and the caller, which may have derived t from the old reqDL, computes t
// again. The caller holds rmu.
func (c *conn) setRead(t time.Time) bool {
	if !c.handling {
		if !t.Equal(c.rdl) {
			c.rdl = t
			_ = c.rwc.SetReadDeadline(t)
		}
		return true
	}
	if c.dlGen.Load() == c.dlSeen && t.Equal(c.rdl) {
		return true // (a handler's deadline set now bounds the read to come: as wanted)
	}
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if c.dlGen.Load() != c.dlSeen {
		c.takeDeadlineLocked()
		return false
	}
	if !t.Equal(c.rdl) {
		c.rdl = t
		_ = c.rwc.SetReadDeadline(t)
	}
	return true
}

// takeDeadline takes in the read deadline the handler set, if it set one
// since the last call: from now on it bounds the request's reads, as
// ReadTimeout's deadline did. The caller holds rmu.
func (c *conn) takeDeadline() {
	if c.dlGen.Load() == c.dlSeen {
		return
	}
	c.dmu.Lock()
	c.takeDeadlineLocked()
	c.dmu.Unlock()
}

func (c *conn) takeDeadlineLocked() {
	c.dlSeen = c.dlGen.Load()
	c.reqDL = c.dlWant
	c.rdl = unknownDeadline
}

// setReadDeadline is the SetReadDeadline of the handler of x's request. It
// may be called from any goroutine while the handler runs; once it has
// returned, it is refused (see serveOne).
func (c *conn) setReadDeadline(t time.Time, x *reqCtx) error {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if x.done.Load() {
		return errDeadlineAfterDone
	}
	c.dlWant = t
	c.dlGen.Add(1)
	return c.rwc.SetReadDeadline(t)
}

// armHeader sets the header deadline, the first time a read of the current
// request's head may block.
func (c *conn) armHeader() {
	if c.hdrArmed {
		return
	}
	c.hdrArmed = true
	s := c.srv
	if s.ReadHeaderTimeout <= 0 {
		c.setRead(c.reqDL)
		return
	}
	d := time.Now().Add(s.ReadHeaderTimeout)
	if !c.reqDL.IsZero() && c.reqDL.Before(d) {
		d = c.reqDL
	}
	c.setRead(d)
}

// connReader is what a connection's bufio.Reader reads from: the socket,
// with the body's deadline put in force before each read of body bytes.
type connReader struct{ c *conn }

func (r *connReader) Read(p []byte) (int, error) {
	c := r.c
	if c.bodyIdle {
		if c.kicked.Load() {
			return 0, errKicked
		}
		c.takeDeadline()
		for !c.bodyReadDeadline() {
		}
		if c.kicked.Load() { // kicked while the deadline moved: its past deadline may be lost
			return 0, errKicked
		}
	}
	return c.rwc.Read(p)
}

// bodyReadDeadline puts in force, before a read of body bytes, a deadline
// BodyIdleTimeout from now, but never past the request's ReadTimeout. It is
// moved only when less than the timeout is left, to at most an eighth more:
// a steady upload changes it every eighth of the timeout, not every read.
// It reports false when it must be called again (see setRead). The caller
// holds rmu.
func (c *conn) bodyReadDeadline() bool {
	t := c.srv.BodyIdleTimeout
	if t <= 0 {
		return c.setRead(c.reqDL)
	}
	now := time.Now()
	end := now.Add(t + t/8)
	if !c.reqDL.IsZero() && c.reqDL.Before(end) {
		return c.setRead(c.reqDL)
	}
	if c.rdl.IsZero() || c.rdl.Before(now.Add(t)) || c.rdl.After(end) {
		return c.setRead(end)
	}
	return true
}

// drainDeadline bounds the draining of an unread body. It runs after the
// handler (no deadline of its can come meanwhile).
func (c *conn) drainDeadline() {
	c.bodyIdle = false
	d := time.Now().Add(5 * time.Second)
	if !c.reqDL.IsZero() && c.reqDL.Before(d) {
		d = c.reqDL
	}
	c.setRead(d)
}

// stackIdle is how long a connection waits for its next request on the
// goroutine that served the last one. After that it moves to a new goroutine,
// whose stack is the smallest, and the old one's stack (grown by the handler
// to whatever the middlewares needed) is freed. A busy keep-alive connection
// never moves; one that does pays a goroutine start and the stack's regrowth
// on its next request, about a microsecond.
const stackIdle = 100 * time.Millisecond

// serve runs the connection: from Serve, and again on a new goroutine when
// the connection moves (see stackIdle).
func (c *conn) serve() {
	s := c.srv
	c.rmu.Lock()
	moved := false
	defer func() {
		if e := recover(); e != nil {
			c.logPanic(e)
		}
		if moved {
			return
		}
		if c.hijacked {
			// The hijacker owns the buffered reader and writer now.
			c.bufs, c.br, c.bw = nil, nil, nil
			s.trackConn(c, false)
			return
		}
		if c.linger {
			c.releaseBufs() // not held through the wait
			c.lingerClose()
		}
		c.rwc.Close()
		c.setState(http.StateClosed)
		s.trackConn(c, false)
		c.releaseBufs()
	}()
	for {
		if c.bufs == nil || c.br.Buffered() == 0 {
			switch c.await() {
			case awaitMove:
				moved, c.moved = true, true
				c.rmu.Unlock()
				go c.serve()
				return
			case awaitEnd:
				return
			}
		}
		first := false
		if st, _ := c.getState(); st == http.StateNew {
			first = true
			if s.H2C != nil && c.startsWithPreface() {
				c.handOff(nil, nil)
				return
			}
		}
		c.setState(http.StateActive)
		if !c.serveOne(first) {
			return
		}
		if s.shuttingDown() {
			return
		}
	}
}

type awaitResult int

const (
	awaitReady awaitResult = iota // a request's first bytes are buffered
	awaitMove                     // idle for stackIdle: go on on a new goroutine
	awaitEnd                      // timeout, EOF, error: close
)

// await waits for the next request without holding buffers: on a socket, it
// parks on the poller with a peek (RawConn.Read with a function that reports
// EAGAIN, which honours the read deadline), then takes the buffers and reads.
// A read that found nothing would cost no more system calls than this: the
// wait is one peek that finds nothing, then the read of what woke it.
func (c *conn) await() awaitResult {
	s := c.srv
	c.releaseBufs()
	var dl time.Time
	phase := false // waiting stackIdle on this goroutine before moving
	if st, _ := c.getState(); c.moved {
		dl = c.idleDL
	} else if st == http.StateNew {
		d := s.idleTimeout()
		if s.ReadHeaderTimeout > 0 {
			d = s.ReadHeaderTimeout
		}
		if d > 0 {
			dl = c.now.Add(d)
		}
	} else {
		c.setState(http.StateIdle)
		c.idleDL = time.Time{}
		if d := s.idleTimeout(); d > 0 {
			c.idleDL = c.now.Add(d)
		}
		dl = c.idleDL
		if p := c.now.Add(stackIdle); c.rc != nil && (dl.IsZero() || p.Before(dl)) {
			dl, phase = p, true
		}
	}
	c.moved = false
	c.setRead(dl)
	if c.rc != nil {
		c.woke = false
		if err := c.rc.Read(c.readyFn); err != nil {
			if phase && errors.Is(err, os.ErrDeadlineExceeded) {
				return awaitMove
			}
			return awaitEnd
		}
	}
	c.acquireBufs()
	if _, err := c.br.Peek(1); err != nil {
		if !phase || !isTimeout(err) {
			return awaitEnd
		}
		// Woken just before the stackIdle deadline and read just after it
		// (or woken for nothing): the rest of the idle time is still there.
		c.setRead(c.idleDL)
		if _, err := c.br.Peek(1); err != nil {
			return awaitEnd
		}
	}
	return awaitReady
}

func (c *conn) acquireBufs() {
	b := getBufs(&c.cr, c.rwc)
	c.bufs, c.br, c.bw = b, b.br, b.bw
	c.scratch, c.hdr = b.scratch[:0], b.hdr
	c.lr.br = b.br
}

// releaseBufs gives the buffers back; nothing may be buffered in them.
func (c *conn) releaseBufs() {
	b := c.bufs
	if b == nil {
		return
	}
	b.scratch = c.scratch
	c.bufs, c.br, c.bw, c.hdr, c.scratch = nil, nil, nil, nil, nil
	c.lr.br, c.lr.scratch = nil, nil
	putBufs(b)
}

// serveOne reads and answers one request; it reports whether the connection
// may carry another.
func (c *conn) serveOne(first bool) bool {
	s := c.srv
	c.hdrArmed = false
	c.reqDL = time.Time{}
	c.bodyIdle = false
	c.kicked.Store(false)
	c.bodyBroken.Store(false)
	if s.ReadTimeout > 0 || s.WriteTimeout > 0 {
		c.now = time.Now()
		if s.ReadTimeout > 0 {
			c.reqDL = c.now.Add(s.ReadTimeout)
		}
	}
	c.lr.budget = s.maxHeaderBytes()
	c.lr.scratch = c.scratch[:0]
	ctx := &reqCtx{c: c}
	c.ctx = ctx
	p, err := readRequest(&c.lr, ctx)
	if err != nil {
		// On a connection that may speak HTTP/2, a first line that is not
		// HTTP/1 at all is more likely a broken HTTP/2 preface, which RFC
		// 9113 §3.4 answers by closing: a 400 would be garbage to it.
		if err == errNotHTTP1 && first && s.H2C != nil {
			return false
		}
		if se, ok := err.(*statusError); ok {
			c.writeError(se)
		}
		return false
	}
	if s.WriteTimeout > 0 {
		_ = c.rwc.SetWriteDeadline(c.now.Add(s.WriteTimeout))
	}
	r := p.req
	r.RemoteAddr = c.remoteAddr
	if first && s.H2C != nil && p.bodyLen == 0 {
		r.Body = http.NoBody
		if settings, ok := h2cUpgrade(r); ok && !r.Close {
			c.bw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
			if c.bw.Flush() != nil {
				return false
			}
			c.handOff(r, settings)
			return false
		}
	}
	var b *body
	if p.bodyLen != 0 {
		b = &body{c: c, req: r, remain: p.bodyLen, total: p.bodyLen, chunked: p.bodyLen < 0, expect: p.expect}
		if b.chunked {
			b.remain = 0
		}
		r.Body = b
	} else {
		r.Body = http.NoBody
	}
	clear(c.hdr)
	w := &response{c: c, req: r, x: ctx, h: c.hdr, cl: -1, expect: p.expect, body: b}
	c.committed, c.sent100 = false, false
	c.bodyPending.Store(b != nil)
	c.wantWatch.Store(false)
	c.watched = false

	c.handling = true
	c.rmu.Unlock()
	ok := c.runHandler(w, r)
	ctx.done.Store(true)
	c.stopWatch()
	if !c.rmu.TryLock() {
		kicked := false
		if c.reading.Load() {
			// A goroutine of the handler still reads the body: unblock it.
			c.kicked.Store(true)
			_ = c.rwc.SetReadDeadline(aLongTimeAgo)
			ok, kicked = false, true
		}
		c.rmu.Lock() // else a probe, which does not block
		if kicked {
			c.rdl = aLongTimeAgo
		}
	}
	c.handling = false
	// The handler's deadline, if it set one, bounds the drain. Under dmu
	// (after done): a SetReadDeadline still to come is refused, none lost.
	c.dmu.Lock()
	if c.dlGen.Load() != c.dlSeen {
		c.takeDeadlineLocked()
	}
	c.dmu.Unlock()
	if c.watched {
		c.rdl = unknownDeadline // the watch moved the deadline: the next setRead must apply
	}
	ctx.cancel()
	if c.hijacked || !ok {
		if b != nil {
			b.closed = true
			c.linger = !c.hijacked && !b.eof
		}
		return false
	}
	keep := w.finish()
	if b != nil && keep {
		keep = b.drain()
	} else if b != nil {
		b.closed = true
	}
	if b != nil && !b.eof && !keep {
		// The client may still be sending the body: closing now would
		// reset the connection and could destroy the response in flight.
		c.linger = true
	}
	return keep && !c.gone.Load()
}

var aLongTimeAgo = time.Unix(1, 0)

func (c *conn) runHandler(w *response, r *http.Request) (ok bool) {
	defer func() {
		if e := recover(); e != nil {
			if e != http.ErrAbortHandler {
				c.logPanic(e)
			}
			ok = false
		}
	}()
	h := c.srv.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	h.ServeHTTP(w, r)
	return true
}

func (c *conn) logPanic(e any) {
	buf := make([]byte, 64<<10)
	buf = buf[:runtime.Stack(buf, false)]
	c.srv.logf("h1: panic serving %v: %v\n%s", c.remoteAddr, e, buf)
}

// writeError answers a refused request and lets the client read the answer
// before the connection closes.
func (c *conn) writeError(se *statusError) {
	text := strconv.Itoa(se.code) + " " + http.StatusText(se.code) + ": " + se.text + "\n"
	fmt.Fprintf(c.bw, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		se.code, http.StatusText(se.code), len(text), text)
	_ = c.rwc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if c.bw.Flush() != nil {
		return
	}
	c.linger = true
}

// Lingering close: a connection closed with unread input is reset by the
// kernel, and a client still writing its body (Go's client, curl) then
// reports the reset, not the answer it was sent and may not have read yet.
// So a connection whose client may still be sending (a body the handler left
// unread, a request refused before its end) is closed as nginx's
// lingering_close and net/http do it: half-closed, then what comes is read
// and thrown away, for lingerTime at most and lingerBytes at most (past
// them the reset comes, but the client has had lingerTime to read the
// answer), and the close follows at once when the client's end is seen.
const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = maxDrain
)

// lingerClose waits, before the close, as said above. The response has been
// flushed; the buffers are given back.
func (c *conn) lingerClose() {
	cw, ok := c.rwc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	end := time.Now().Add(lingerTime)
	if c.rwc.SetReadDeadline(end) != nil {
		return
	}
	if _, err := io.CopyN(io.Discard, c.rwc, lingerBytes); err != nil {
		return // the client's end or reset, the time up, or Close
	}
	// lingerBytes read and more coming: stop reading (the client's writes
	// then block rather than fail), and wait out the time.
	if c.rc == nil {
		time.Sleep(time.Until(end))
		return
	}
	// Parked on the poller until the deadline, the client's reset, or
	// Server.Close. Each new arrival wakes it for nothing, until the
	// receive window is full.
	_ = c.rc.Read(lingerReset)
}

// sendContinue writes 100 Continue, unless the response has begun. It is
// called by the body's first Read, under rmu.
func (c *conn) sendContinue() {
	c.cmu.Lock()
	defer c.cmu.Unlock()
	if c.committed || c.sent100 {
		return
	}
	c.sent100 = true
	_, _ = c.rwc.Write([]byte("HTTP/1.1 100 Continue\r\n\r\n"))
}
