//go:build linux

package loadgen

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const haveLoops = true

// loops is the engine for HTTP/1.1 in the clear: Threads event loops, each
// with its share of the connections.
func (r *run) loops(req []byte) (func(context.Context) error, error) {
	ta, err := net.ResolveTCPAddr("tcp", r.addr())
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", r.addr(), err)
	}
	// A Sockaddr keeps its raw form inside it as Connect fills it in: one
	// per loop.
	family := unix.AF_INET
	if ta.IP.To4() == nil {
		family = unix.AF_INET6
	}
	sockaddr := func() unix.Sockaddr {
		if ip4 := ta.IP.To4(); ip4 != nil {
			s := &unix.SockaddrInet4{Port: ta.Port}
			copy(s.Addr[:], ip4)
			return s
		}
		s := &unix.SockaddrInet6{Port: ta.Port}
		copy(s.Addr[:], ta.IP.To16())
		if ta.Zone != "" {
			if ifi, err := net.InterfaceByName(ta.Zone); err == nil {
				s.ZoneId = uint32(ifi.Index)
			}
		}
		return s
	}
	// Only with a P to spare: the loops keep theirs while they wait, and
	// the rest of the program (a server in the same process, in tests)
	// needs one.
	raw := r.cfg.Threads < runtime.GOMAXPROCS(0)
	ls := make([]*loop, r.cfg.Threads)
	for k := range ls {
		l := &loop{r: r, t: r.newTally(), req: req, family: family, sa: sockaddr(), ep: -1, wake: -1, timer: -1,
			head: r.cfg.Method == http.MethodHead, raw: raw, timeout: int64(r.cfg.Timeout), quota: -1,
			buf: make([]byte, 64<<10), events: make([]unix.EpollEvent, 256)}
		if n := r.cfg.Requests; n > 0 {
			l.quota = n / int64(len(ls))
			if int64(k) < n%int64(len(ls)) {
				l.quota++
			}
		}
		// Connection i belongs to loop i mod Threads; request j of loop k
		// is request j*Threads+k of the run, for its due time.
		for i := k; i < r.cfg.Conns; i += len(ls) {
			l.conns = append(l.conns, &conn{fd: -1, idx: int32(len(l.conns))})
		}
		l.stride, l.nth = int64(len(ls)), int64(k)
		ls[k] = l
	}
	return func(ctx context.Context) error {
		errs := make([]error, len(ls))
		var wg sync.WaitGroup
		for k, l := range ls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[k] = l.run(ctx)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// loop is one event loop: its connections, its epoll set and its tally.
type loop struct {
	r      *run
	t      *tally
	req    []byte
	family int
	sa     unix.Sockaddr
	head   bool
	raw    bool // wait out of the scheduler's sight (rawEpollWait)

	ep, wake, timer int // the epoll set; an eventfd rung when ctx ends; a timerfd for --rate
	buf             []byte
	events          []unix.EpollEvent
	conns           []*conn
	idle            []*conn // free, waiting for the next due time (--rate)
	again           []*conn // free after a failure: start their next request after this round of events
	quota           int64   // requests this loop may still start; -1: no bound
	inflight        int
	timeout         int64 // of one request, ns
	stride, nth     int64 // for the due times: this loop's requests are nth, nth+stride...
	issued          int64 // requests started (for the due times)
	armed           int64 // the due time the timer is set for, -1 none
}

// conn is one connection of a loop.
type conn struct {
	fd       int
	idx      int32
	connects bool  // a non-blocking connect is under way
	out      bool  // EPOLLOUT is asked for (a connect, or a write that did not fit)
	busy     bool  // a request is out
	reused   bool  // it answered before: a close now may be the server's idle timeout
	retried  bool  // this request was sent again once already
	wrote    int   // bytes of the request written
	got      int   // bytes of the response read
	due      int64 // when the request was due, ns since the start: its latency counts from there
	began    int64 // when it was sent: its timeout counts from there
	p        respParser
}

const (
	tagWake  = -1
	tagTimer = -2
)

func (l *loop) now() int64 { return int64(time.Since(l.r.start)) }

func (l *loop) run(ctx context.Context) (err error) {
	if l.ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("epoll: %w", err)
	}
	defer unix.Close(l.ep)
	if l.wake, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	defer unix.Close(l.wake)
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, l.wake, &unix.EpollEvent{Events: unix.EPOLLIN, Pad: tagWake}); err != nil {
		return fmt.Errorf("epoll: %w", err)
	}
	stop := context.AfterFunc(ctx, func() {
		one := [8]byte{1}
		unix.Write(l.wake, one[:])
	})
	defer stop()
	rate := l.r.cfg.Rate > 0
	if rate {
		if l.timer, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err != nil {
			return fmt.Errorf("timerfd: %w", err)
		}
		defer unix.Close(l.timer)
		if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, l.timer, &unix.EpollEvent{Events: unix.EPOLLIN, Pad: tagTimer}); err != nil {
			return fmt.Errorf("epoll: %w", err)
		}
		l.armed = -1
	}
	defer func() {
		for _, c := range l.conns {
			if c.fd >= 0 {
				unix.Close(c.fd)
			}
		}
	}()
	deadline := int64(-1)
	if d := l.r.cfg.Duration; d > 0 {
		deadline = int64(d)
	}
	now := l.now()
	for _, c := range l.conns {
		l.free(c, now)
	}
	lastScan := now
	for {
		if ctx.Err() != nil || (l.quota == 0 && l.inflight == 0) {
			return nil
		}
		wait := 100 // ms: the timeouts are checked at least this often
		if len(l.again) > 0 {
			wait = 0
		} else if deadline >= 0 {
			wait = min(wait, int((deadline-now+int64(time.Millisecond)-1)/int64(time.Millisecond)))
		}
		var n int
		if l.raw {
			n, err = rawEpollWait(l.ep, l.events, max(wait, 0))
		} else {
			n, err = unix.EpollWait(l.ep, l.events, max(wait, 0))
		}
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("epoll: %w", err)
		}
		now = l.now()
		if deadline >= 0 && now >= deadline {
			return nil
		}
		for _, ev := range l.events[:max(n, 0)] {
			switch ev.Pad {
			case tagWake:
				return nil
			case tagTimer:
				var b [8]byte
				unix.Read(l.timer, b[:])
				l.armed = -1
				l.dispatch(now)
				continue
			}
			c := l.conns[ev.Pad]
			if c.fd != int(ev.Fd) {
				continue // closed since
			}
			l.event(c, ev.Events, now)
		}
		if len(l.again) > 0 {
			again := l.again
			l.again = l.again[len(l.again):]
			for _, c := range again {
				l.free(c, now)
			}
			if len(l.again) == 0 {
				l.again = again[:0]
			}
		}
		if now-lastScan >= int64(100*time.Millisecond) {
			lastScan = now
			for _, c := range l.conns {
				if c.busy && now-c.began > l.timeout {
					l.fail(c, "timeout")
				}
			}
		}
	}
}

// free takes a connection with no request out: it sends the next one now
// (closed loop), or when it is due (--rate), unless the run has sent all.
func (l *loop) free(c *conn, now int64) {
	if l.quota == 0 {
		return
	}
	if l.r.cfg.Rate > 0 {
		l.idle = append(l.idle, c)
		l.dispatch(now)
		return
	}
	l.send(c, now, now)
}

// dispatch sends the requests that are due on idle connections, and sets
// the timer for the next one.
func (l *loop) dispatch(now int64) {
	for len(l.idle) > 0 && l.quota != 0 {
		at := int64(due(l.issued*l.stride+l.nth, l.r.cfg.Rate))
		if at > now {
			if l.armed != at {
				l.armed = at
				d := at - now
				ts := unix.ItimerSpec{Value: unix.Timespec{Sec: d / 1e9, Nsec: d % 1e9}}
				unix.TimerfdSettime(l.timer, 0, &ts, nil)
			}
			return
		}
		c := l.idle[len(l.idle)-1]
		l.idle = l.idle[:len(l.idle)-1]
		l.send(c, at, now)
	}
}

// send starts a request on c: due is when it was due, now when it goes.
func (l *loop) send(c *conn, due, now int64) {
	if l.quota > 0 {
		l.quota--
	}
	l.issued++
	l.inflight++
	c.busy, c.retried, c.due = true, false, due
	l.start(c, now)
}

// start dials if need be and writes the request.
func (l *loop) start(c *conn, now int64) {
	c.began, c.wrote, c.got = now, 0, 0
	c.p.reset()
	c.p.head = l.head
	if c.fd < 0 {
		if err := l.dial(c); err != nil {
			l.fail(c, "connect")
			return
		}
		if c.connects {
			return
		}
	}
	l.write(c)
}

func (l *loop) dial(c *conn) error {
	fd, err := unix.Socket(l.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	err = unix.Connect(fd, l.sa)
	c.connects = err == unix.EINPROGRESS
	if err != nil && !c.connects {
		unix.Close(fd)
		return err
	}
	c.out = c.connects
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd), Pad: c.idx}
	if c.out {
		ev.Events |= unix.EPOLLOUT
	}
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		return err
	}
	c.fd, c.reused = fd, false
	return nil
}

// want asks epoll for writability of c or stops asking.
func (l *loop) want(c *conn, out bool) {
	if c.out == out {
		return
	}
	c.out = out
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(c.fd), Pad: c.idx}
	if out {
		ev.Events |= unix.EPOLLOUT
	}
	unix.EpollCtl(l.ep, unix.EPOLL_CTL_MOD, c.fd, &ev)
}

func (l *loop) write(c *conn) {
	for c.wrote < len(l.req) {
		n, err := rawWrite(c.fd, l.req[c.wrote:])
		if err == unix.EAGAIN {
			l.want(c, true)
			return
		}
		if err != nil {
			l.dropped(c, "write")
			return
		}
		c.wrote += n
	}
	l.want(c, false)
}

func (l *loop) event(c *conn, events uint32, now int64) {
	if c.connects {
		if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		if e, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || e != 0 {
			l.fail(c, "connect")
			return
		}
		c.connects = false
		l.write(c)
		return
	}
	if events&unix.EPOLLOUT != 0 && c.busy && c.wrote < len(l.req) {
		l.write(c)
		if c.fd < 0 {
			return
		}
	}
	if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		l.read(c, now)
	}
}

func (l *loop) read(c *conn, now int64) {
	n, err := rawRead(c.fd, l.buf)
	if err == unix.EAGAIN {
		return
	}
	if n > 0 {
		if !c.busy {
			l.fail(c, "malformed response") // bytes nobody asked for
			return
		}
		c.got += n
		l.t.bytes += int64(n)
		used, done, err := c.p.feed(l.buf[:n])
		if err != nil {
			l.fail(c, "malformed response")
			return
		}
		if done {
			l.answered(c, c.p.keep && used == n, now)
		}
		return
	}
	// The connection closed (n == 0), or broke.
	if c.busy && err == nil && c.p.eof() {
		l.answered(c, false, now)
		return
	}
	kind := "read"
	if !c.busy {
		l.closeConn(c) // an idle connection the server closed: redial at the next request
		return
	}
	l.dropped(c, kind)
}

// answered counts c's response and starts its next request.
func (l *loop) answered(c *conn, keep bool, now int64) {
	l.t.answer(c.p.status, time.Duration(now-c.due))
	c.busy = false
	l.inflight--
	if keep {
		c.reused = true
	} else {
		l.closeConn(c)
	}
	l.free(c, now)
}

// dropped: the connection broke under a request. A kept-alive connection
// the server closed as the request went out is tried again once on a new
// one, as browsers and wrk do.
func (l *loop) dropped(c *conn, kind string) {
	if c.reused && !c.retried && c.got == 0 {
		l.closeConn(c)
		c.retried = true
		l.again = append(l.again, c) // not now: no dial loop within one event
		c.busy = false
		l.inflight--
		l.quota++ // the retry is the same request
		l.issued--
		return
	}
	l.fail(c, kind)
}

// fail counts a request that got no answer; the connection is closed and
// its next request starts after this round of events.
func (l *loop) fail(c *conn, kind string) {
	l.t.fail(kind)
	l.closeConn(c)
	if c.busy {
		c.busy = false
		l.inflight--
	}
	l.again = append(l.again, c)
}

func (l *loop) closeConn(c *conn) {
	if c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
	c.connects, c.out, c.reused = false, false, false
}

// rawRead and rawWrite are read(2) and write(2) on a non-blocking socket:
// they never block, so they skip the scheduler's bookkeeping for system
// calls that may.
func rawRead(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawWrite(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawEpollWait is epoll_wait(2) that Go's scheduler does not see as a
// system call. Through the usual wrapper, a wait longer than 20µs makes
// sysmon hand the loop's P over and poll again in 20µs, thousands of
// wake-ups a second that cost more than the requests themselves; this way
// the P stays with the loop, and sysmon, finding it busy for 10ms,
// preempts it with a signal, which ends the wait early (EINTR), as does
// the runtime when it needs to stop the world. The other goroutines
// (progress, timers) run on the spare P usher bench asks for; without one
// the loops use the usual wrapper.
func rawEpollWait(ep int, events []unix.EpollEvent, msec int) (int, error) {
	n, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(msec), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
