//go:build unix

package h1

import (
	"net"
	"syscall"
)

// peekConn looks at the socket without blocking and without consuming:
// recv(MSG_PEEK|MSG_DONTWAIT). Data (a pipelined request, body bytes) or
// EAGAIN: alive; end of stream or an error: gone. (A read deadline set in the
// past would not do: Go fails such a read before making the system call.)
func peekConn(c net.Conn) probeResult {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return probeUnknown
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return probeUnknown
	}
	var buf [1]byte
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	})
	if err != nil {
		return probeUnknown // deadline passed, or closed
	}
	switch {
	case n > 0:
		return probeAlive
	case rerr == nil:
		return probeGone
	case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK || rerr == syscall.EINTR:
		return probeAlive
	default:
		return probeGone
	}
}
