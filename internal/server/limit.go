package server

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/usher-lb/usher/internal/observe"
)

// connLimiter enforces an entrypoint's maxConnections and
// maxConnectionsPerIP on the connections its listener accepts.
//
// A connection over a limit is accepted and closed at once, not left in the
// kernel's backlog (as HAProxy does when its maxconn is reached): a client
// in the backlog waits for its connect timeout and keeps knocking, one told
// no at once backs off, and the listener keeps draining the backlog, so that
// the clients within their limits still get in while an abuser holds its
// share. On a plain HTTP entrypoint the refused client first gets a
// 503 with Retry-After and Connection: close, written before reading anything (a
// response may come before its request; curl and browsers show it), and
// its request is read and dropped for a short while so that the close does
// not turn into a reset that would destroy the 503 before the client reads
// it. A few such drains run at once (maxDraining); beyond them a refused
// connection is just closed. On a TLS entrypoint a 503 would need a whole
// handshake, which is what an abuser wants usher to spend: it is closed.
//
// Per IP counts the TCP peer's address (not X-Forwarded-For: nothing is read
// yet), IPv6 addresses by their /64, which a single host or subscriber is
// usually given whole: by /128 a client could take as many addresses as it
// likes. Behind a proxy or a CDN every client shares the proxy's addresses.
//
// Counting costs an atomic add per connection, and a lock of one of 32
// shards of the per-IP counts on open and close: nothing per request. Counts
// are kept even with no limit set, so that a reload that sets one finds
// them right.
type connLimiter struct {
	max, perIP atomic.Int64
	open       atomic.Int64
	shards     [32]ipShard
	plain      bool // answer 503 before closing

	draining atomic.Int32

	entrypoint string
	metrics    *observe.Metrics
	log        *slog.Logger
	lastLog    atomic.Int64    // unix nanos of the last log line
	refused    [2]atomic.Int64 // since the last log line, by reason
}

type ipShard struct {
	mu sync.Mutex
	m  map[netip.Addr]int32
	_  [40]byte // one shard a cache line
}

// Reasons a connection is refused, as labels and in the log.
var refuseReasons = [2]string{"maxConnections", "maxConnectionsPerIP"}

const (
	maxDraining     = 64
	drainFor        = 500 * time.Millisecond
	refuseLogPeriod = 10 * time.Second
)

var refused503 = []byte("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\nConnection: close\r\n\r\nService Unavailable\n")

// set changes the limits (0: none). Connections already open above a
// lowered limit stay; new ones are refused until the count is below it.
func (l *connLimiter) set(maxConns, perIP int) {
	l.max.Store(int64(max(maxConns, 0)))
	l.perIP.Store(int64(max(perIP, 0)))
}

// peerKey is the address per-IP limits count: IPv4 whole, IPv6 by /64.
func peerKey(a net.Addr) (netip.Addr, bool) {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Addr{}, false
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	if !ip.IsValid() {
		return ip, false
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		ip = p.Addr()
	}
	return ip, true
}

func (l *connLimiter) shard(ip netip.Addr) *ipShard {
	b := ip.As16()
	h := uint32(2166136261)
	for _, c := range b[8:] { // IPv4 and the /64's last bytes vary most
		h = (h ^ uint32(c)) * 16777619
	}
	for _, c := range b[:8] {
		h = (h ^ uint32(c)) * 16777619
	}
	return &l.shards[h%uint32(len(l.shards))]
}

// admit counts c in, or refuses it (0 or 1: the reason) and returns nil.
func (l *connLimiter) admit(c net.Conn) net.Conn {
	if n := l.open.Add(1); l.overMax(n) {
		l.open.Add(-1)
		l.refuse(c, 0)
		return nil
	}
	lc := &limitedConn{Conn: c, l: l}
	if ip, ok := peerKey(c.RemoteAddr()); ok {
		sh := l.shard(ip)
		sh.mu.Lock()
		if sh.m == nil {
			sh.m = map[netip.Addr]int32{}
		}
		n := sh.m[ip] + 1
		if p := l.perIP.Load(); p > 0 && int64(n) > p {
			sh.mu.Unlock()
			l.open.Add(-1)
			l.refuse(c, 1)
			return nil
		}
		sh.m[ip] = n
		sh.mu.Unlock()
		lc.ip, lc.counted = ip, true
	}
	return lc
}

func (l *connLimiter) overMax(n int64) bool {
	m := l.max.Load()
	return m > 0 && n > m
}

func (l *connLimiter) release(lc *limitedConn) {
	l.open.Add(-1)
	if !lc.counted {
		return
	}
	sh := l.shard(lc.ip)
	sh.mu.Lock()
	if n := sh.m[lc.ip] - 1; n > 0 {
		sh.m[lc.ip] = n
	} else {
		delete(sh.m, lc.ip)
	}
	sh.mu.Unlock()
}

// refuse closes c, after a 503 on a plain HTTP entrypoint; it counts and
// logs the refusal, one log line per period at most.
func (l *connLimiter) refuse(c net.Conn, reason int) {
	l.metrics.ConnRejected(l.entrypoint, refuseReasons[reason]).Inc()
	l.refused[reason].Add(1)
	now := time.Now().UnixNano()
	if last := l.lastLog.Load(); now-last >= int64(refuseLogPeriod) && l.lastLog.CompareAndSwap(last, now) {
		l.log.Warn("connections refused: limit reached (one line per 10s at most)", "entrypoint", l.entrypoint,
			"maxConnections", l.max.Load(), "maxConnectionsPerIP", l.perIP.Load(), "open", l.open.Load(),
			"refusedMaxConnections", l.refused[0].Swap(0), "refusedMaxConnectionsPerIP", l.refused[1].Swap(0),
			"lastPeer", c.RemoteAddr().String())
	}
	if !l.plain || l.draining.Add(1) > maxDraining {
		if l.plain {
			l.draining.Add(-1)
		}
		c.Close()
		return
	}
	// A fresh socket's send buffer is empty: the write does not block the
	// accept loop (the deadline is for the impossible case).
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := c.Write(refused503); err != nil {
		l.draining.Add(-1)
		c.Close()
		return
	}
	go func() {
		defer l.draining.Add(-1)
		defer c.Close()
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		c.SetReadDeadline(time.Now().Add(drainFor))
		io.Copy(io.Discard, io.LimitReader(c, 64<<10))
	}()
}

// limitListener is a listener whose connections count against a connLimiter.
type limitListener struct {
	net.Listener
	l *connLimiter
}

func (ll *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if lc := ll.l.admit(c); lc != nil {
			return lc, nil
		}
	}
}

// limitedConn gives its place back when closed, once. It passes CloseWrite
// and SyscallConn through (the HTTP server and tunnels use them).
type limitedConn struct {
	net.Conn
	l       *connLimiter
	ip      netip.Addr
	counted bool
	closed  atomic.Bool
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c)
	}
	return err
}

func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *limitedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, syscall.EINVAL
}

// ReadFrom lets a copy into the connection use the socket's own (splice).
func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
