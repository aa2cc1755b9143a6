//go:build !unix

package h1

import "errors"

// Without MSG_PEEK, a connection waits for its next request in a read that
// holds its buffers, and the liveness probe falls back to a short read.
const canPeek = false

func (c *conn) ready(uintptr) bool { return true }

func (c *conn) peek() probeResult { return probeUnknown }

func (c *conn) waitGone() (probeResult, error) { return probeUnknown, errors.ErrUnsupported }

func lingerReset(uintptr) bool { return true }
