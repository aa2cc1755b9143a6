//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// idlePeek looks at a pooled connection's socket: see quiet. Its parts are
// made once per connection, so that a look allocates nothing.
type idlePeek struct {
	rc   syscall.RawConn // nil: not made yet
	none bool            // the connection is not a socket we can look into
	fn   func(fd uintptr) bool
	buf  [1]byte
	n    int
	err  error
}

// quiet tells whether nothing is waiting on the socket c: no byte, no end of
// stream, no error. It costs one recv(MSG_PEEK|MSG_DONTWAIT), which consumes
// nothing and never blocks. (A read deadline set in the past would not do:
// Go fails such a read before making the system call.) A connection it
// cannot look into counts as quiet.
func (p *idlePeek) quiet(c net.Conn) bool {
	if p.rc == nil {
		if p.none {
			return true
		}
		sc, ok := c.(syscall.Conn)
		if !ok {
			p.none = true
			return true
		}
		rc, err := sc.SyscallConn()
		if err != nil {
			p.none = true
			return true
		}
		p.rc, p.fn = rc, p.recv
	}
	if err := p.rc.Read(p.fn); err != nil {
		return false // closed, or its read deadline passed: not worth keeping
	}
	return p.n <= 0 && (p.err == syscall.EAGAIN || p.err == syscall.EWOULDBLOCK || p.err == syscall.EINTR)
}

func (p *idlePeek) recv(fd uintptr) bool {
	p.n, _, p.err = syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return true
}
