//go:build unix

package h1

import (
	"syscall"
)

const canPeek = true

// ready is await's function for RawConn.Read: a first call peeks without
// blocking (recv with MSG_PEEK|MSG_DONTWAIT) and, on EAGAIN, returns false,
// which parks the goroutine on the poller until the socket is readable or
// the read deadline passes. The call after the wake-up does not peek again:
// the read that follows tells data from end of stream.
func (c *conn) ready(fd uintptr) bool {
	if c.woke {
		return true
	}
	for {
		_, _, err := syscall.Recvfrom(int(fd), c.pb[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			c.woke = true
			return false
		}
		return true // data, end of stream or an error: the read tells
	}
}

// peek looks at the socket without blocking and without consuming:
// recv(MSG_PEEK|MSG_DONTWAIT). Data (a pipelined request, body bytes) or
// EAGAIN: alive; end of stream or an error: gone. (A read deadline set in the
// past would not do: Go fails such a read before making the system call.)
func (c *conn) peek() probeResult {
	if c.rc == nil {
		return probeUnknown
	}
	var n int
	var rerr error
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			n, _, rerr = syscall.Recvfrom(int(fd), c.pb[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if rerr != syscall.EINTR {
				return true
			}
		}
	})
	if err != nil {
		return probeUnknown // deadline passed, or closed
	}
	switch {
	case n > 0:
		return probeAlive
	case rerr == nil:
		return probeGone
	case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK:
		return probeAlive
	default:
		return probeGone
	}
}

// waitGone waits, on the poller and without consuming, until the socket has
// data (probeAlive) or its end (probeGone), or the read deadline passes (an
// error).
func (c *conn) waitGone() (probeResult, error) {
	var b [1]byte
	res := probeAlive
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return false
			case n == 0 || err != nil:
				res = probeGone
			}
			return true
		}
	})
	return res, err
}

// lingerReset is lingerClose's function for RawConn.Read while it waits
// without reading: it reports true, which ends the wait, once the client has
// reset the connection (data still unread hides that from a peek).
func lingerReset(fd uintptr) bool {
	v, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_ERROR)
	return err != nil || v != 0
}
