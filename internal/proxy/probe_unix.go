//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// idlePeek looks at a pooled connection's socket: see quiet.
type idlePeek struct {
	fd  int  // the socket, found on the first look
	set bool // fd is known, or none can be (see none)
	// none: the connection is not a socket we can look into
	none bool
	buf  [1]byte
}

// quiet tells whether nothing is waiting on the socket of c: no byte, no
// end of stream, no error. It costs one recv(MSG_PEEK|MSG_DONTWAIT), which
// consumes nothing and never blocks: 0.55-0.7µs (one system call) on the
// 2-core VMs of bench/RESULTS.md; RawConn.Read would add its fd locking,
// which is not needed here. (A read deadline set in the past would not do:
// Go fails such a read before making the system call.) A connection it
// cannot look into counts as quiet.
//
// The file descriptor is used outside RawConn because nothing else can
// close the connection meanwhile: it was taken off the pool, and only its
// one user closes it (after which it is never looked at again).
func (p *idlePeek) quiet(c net.Conn) bool {
	if !p.set {
		p.set = true
		sc, ok := c.(syscall.Conn)
		if !ok {
			p.none = true
		} else if rc, err := sc.SyscallConn(); err != nil {
			p.none = true
		} else if rc.Control(func(fd uintptr) { p.fd = int(fd) }) != nil {
			p.none = true
		}
	}
	if p.none {
		return true
	}
	for {
		// Data, or the end of stream (0 bytes, no error): not quiet.
		_, _, err := syscall.Recvfrom(p.fd, p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if err == syscall.EINTR {
			continue
		}
		return err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
	}
}
