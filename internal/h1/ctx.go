package h1

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// probeEvery bounds how often Err probes the client's connection.
const probeEvery = 100 * time.Millisecond

// reqCtx is a request's context. It costs nothing until asked: Err probes
// the connection lazily (see probe), and Done's channel and the watch of the
// client (see watch) are made on the first call of Done or AfterFunc. It is
// done when the handler has returned, when the client is known to be gone
// (its connection ended, or its body's reads found the end), or when the
// server's base context is.
//
// AfterFunc is the method package context looks for: WithCancel, WithTimeout
// and context.AfterFunc children register with it and need no goroutine of
// their own.
type reqCtx struct {
	c    *conn
	done atomic.Bool // the handler returned
	w    atomic.Pointer[ctxWatch]
}

// ctxWatch is what Done and AfterFunc make.
type ctxWatch struct {
	ch       chan struct{}
	mu       sync.Mutex
	closed   bool
	fns      []*afterFn
	stopBase func() bool // the AfterFunc on the base context, if it can end
}

type afterFn struct {
	f     func()
	state atomic.Int32 // 0 waiting, 1 run, 2 stopped
}

func (x *reqCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (x *reqCtx) String() string              { return "h1.requestContext" }

func (x *reqCtx) Value(key any) any {
	if key == http.LocalAddrContextKey {
		return x.c.rwc.LocalAddr()
	}
	return x.c.base.Value(key)
}

// Done returns a channel closed when the context is done. The first call
// starts watching the client.
func (x *reqCtx) Done() <-chan struct{} { return x.watch().ch }

// AfterFunc arranges for f to run once the context is done (at once, on a
// goroutine of its own, when it already is); stop prevents that and reports
// whether it did. This is what context.AfterFunc and the cancel contexts
// derived from this one use.
func (x *reqCtx) AfterFunc(f func()) (stop func() bool) {
	w := x.watch()
	a := &afterFn{f: f}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		// The caller may hold locks f takes (package context does).
		go a.run()
		return func() bool { return false }
	}
	w.fns = append(w.fns, a)
	w.mu.Unlock()
	return func() bool {
		if !a.state.CompareAndSwap(0, 2) {
			return false
		}
		w.mu.Lock()
		for i, b := range w.fns {
			if b == a {
				last := len(w.fns) - 1
				w.fns[i], w.fns[last] = w.fns[last], nil
				w.fns = w.fns[:last]
				break
			}
		}
		w.mu.Unlock()
		return true
	}
}

func (a *afterFn) run() {
	if a.state.CompareAndSwap(0, 1) {
		a.f()
	}
}

func (x *reqCtx) Err() error {
	c := x.c
	if err := c.base.Err(); err != nil {
		return err
	}
	if x.done.Load() || c.gone.Load() {
		return context.Canceled
	}
	now := time.Now().UnixNano()
	if last := c.lastProbe.Load(); now-last < int64(probeEvery) || !c.lastProbe.CompareAndSwap(last, now) {
		return nil
	}
	if c.probe(x) {
		x.cancel()
		return context.Canceled
	}
	return nil
}

// watch returns the context's ctxWatch, made (and the watch of the client
// started) on the first call.
func (x *reqCtx) watch() *ctxWatch {
	if w := x.w.Load(); w != nil {
		return w
	}
	w := &ctxWatch{ch: make(chan struct{})}
	if !x.w.CompareAndSwap(nil, w) {
		return x.w.Load()
	}
	c := x.c
	if c.base.Done() != nil {
		stop := context.AfterFunc(c.base, x.cancel)
		w.mu.Lock()
		w.stopBase = stop
		w.mu.Unlock()
	}
	// Whoever made the context done before w was there found nothing to
	// close: look again now that it is.
	if x.done.Load() || c.gone.Load() || c.base.Err() != nil {
		x.cancel()
	} else {
		c.startWatch(x)
	}
	return w
}

// cancel makes the context done, if Done or AfterFunc made it closable: it
// closes the channel and runs the AfterFunc functions. It is called when the
// handler returns, and when the client is found gone.
func (x *reqCtx) cancel() {
	w := x.w.Load()
	if w == nil {
		return
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	close(w.ch)
	fns, stop := w.fns, w.stopBase
	w.fns, w.stopBase = nil, nil
	w.mu.Unlock()
	if stop != nil {
		stop()
	}
	for _, a := range fns {
		a.run()
	}
}

// startWatch starts watching the client for the request of x: a goroutine
// parked on the poller with a peek, which finds the end of the connection
// (the client is gone) or data (a pipelined request: alive, and watching
// stops, as net/http's background read does). While a request body is still
// to be read, the body's reads do the watching (their end of stream is the
// client gone) and the watch starts when the body ends.
func (c *conn) startWatch(x *reqCtx) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if x.done.Load() || c.gone.Load() || c.hijackedA.Load() || c.watching.Load() || c.rc == nil {
		return
	}
	c.wantWatch.Store(true)
	if c.bodyPending.Load() {
		return // the body's end starts the watch (see body.ended)
	}
	c.wantWatch.Store(false)
	if c.br != nil && c.br.Buffered() > 0 {
		return // a pipelined request: alive
	}
	c.watching.Store(true)
	c.watched = true
	c.watchDone = make(chan struct{})
	go c.watchClient(x, c.watchDone)
}

// stopWatch stops the watch, once the handler has returned or hijacked the
// connection (which the caller has said first), and waits until the
// watching goroutine no longer reads the socket.
func (c *conn) stopWatch() {
	c.wmu.Lock()
	if !c.watching.Load() {
		c.wmu.Unlock()
		return
	}
	wd := c.watchDone
	c.wmu.Unlock()
	_ = c.rwc.SetReadDeadline(aLongTimeAgo) // wakes it
	<-wd
	c.wmu.Lock()
	c.watching.Store(false)
	c.wmu.Unlock()
}

func (c *conn) watchClient(x *reqCtx, wd chan struct{}) {
	defer close(wd)
	for {
		if x.done.Load() {
			return // stopWatch waits for wd and cleans up
		}
		res, err := c.waitGone()
		if x.done.Load() {
			return
		}
		c.wmu.Lock()
		if c.hijackedA.Load() {
			c.wmu.Unlock()
			return // Hijack is in stopWatch
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// This request's header deadline (or one the handler set)
				// passed: no read but this one needs it now.
				_ = c.rwc.SetReadDeadline(time.Time{})
				c.wmu.Unlock()
				continue
			}
			c.watching.Store(false)
			c.wmu.Unlock()
			return // closed
		}
		c.watching.Store(false)
		if res == probeGone {
			c.gone.Store(true)
		}
		c.wmu.Unlock()
		if res == probeGone {
			x.cancel()
		}
		return
	}
}

// probe checks, without blocking, whether the client is gone, and reports
// it. Only one goroutine at a time reads the connection: the probe runs only
// when it gets rmu at once, that is while the handler runs and no body read
// is in progress, and not while the client is watched (the watch finds out
// itself); a call that races with either is ignored (reports alive).
// Which goroutine calls does not matter.
func (c *conn) probe(x *reqCtx) bool {
	if !c.rmu.TryLock() {
		return false
	}
	defer c.rmu.Unlock()
	if x.done.Load() || c.hijacked {
		return x.done.Load()
	}
	if c.br.Buffered() > 0 {
		return false // a pipelined request or body bytes: alive
	}
	c.wmu.Lock() // no watch starts meanwhile: it would hold the socket's read lock
	defer c.wmu.Unlock()
	if c.watching.Load() {
		return c.gone.Load()
	}
	c.takeDeadline()
	res := c.peek()
	if res == probeUnknown && !c.rdl.IsZero() && !c.rdl.After(time.Now()) {
		// The idle or header deadline passed while the handler ran (or the
		// handler set one that did), which fails any read at once: nothing
		// needs it now (the body's reads put reqDL back).
		for !c.setRead(time.Time{}) {
		}
		res = c.peek()
	}
	if res == probeUnknown {
		// Not a socket: a short blocking peek through the reader, under
		// dmu (a SetReadDeadline of the handler's waits for its end).
		c.dmu.Lock()
		if c.dlGen.Load() != c.dlSeen {
			c.takeDeadlineLocked()
		}
		if c.rdl.Equal(unknownDeadline) {
			c.rdl = c.reqDL
		}
		idle := c.bodyIdle
		c.bodyIdle = false
		_ = c.rwc.SetReadDeadline(time.Now().Add(time.Millisecond))
		_, err := c.br.Peek(1)
		_ = c.rwc.SetReadDeadline(c.rdl)
		c.bodyIdle = idle
		c.dmu.Unlock()
		if err == nil || isTimeout(err) {
			return false
		}
		res = probeGone
	}
	if res == probeGone {
		c.gone.Store(true)
		return true
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

type probeResult int

const (
	probeUnknown probeResult = iota
	probeAlive
	probeGone
)
