//go:build !unix

package server

import (
	"errors"
	"net"
)

// udpBuffers cannot tell the buffer sizes here: no warning is given.
func udpBuffers(*net.UDPConn) (rcv, snd int, err error) {
	return 0, 0, errors.New("socket buffer sizes are not known on this system")
}
