//go:build !unix

package proxy

import "net"

// idlePeek cannot look into a socket here: every pooled connection is taken
// as it is (a stale one is still caught by RoundTrip's resend).
type idlePeek struct{}

func (*idlePeek) quiet(net.Conn) bool { return true }
