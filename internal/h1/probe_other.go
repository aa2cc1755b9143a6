//go:build !unix

package h1

import "net"

func peekConn(net.Conn) probeResult { return probeUnknown }
