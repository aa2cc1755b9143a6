package waf

import (
	"bufio"
	"io"
	"net"
	"net/http"

	"github.com/corazawaf/coraza/v3/types"

	"github.com/usher-lb/usher/internal/observe"
)

// inspector runs the response's phases: its headers when the handler sends
// them, and its body, when Coraza takes one of its type, held (up to
// responseBodyLimit) until it ends, fills the limit, or is flushed, then
// inspected before a byte of it is sent. Nothing of a response refused
// reaches the client but the 403.
type inspector struct {
	w      http.ResponseWriter
	tx     types.Transaction
	h      *handler
	r      *http.Request
	client string
	id     string

	status   int
	headed   bool // WriteHeader ran (the headers were inspected)
	holding  bool // the body goes to the transaction, not yet to the client
	sent     bool // the headers went to the client
	blocked  bool // refused: the rest is discarded
	detected bool // would have been refused (detect mode)
	hijacked bool
}

// wrap returns the writer the handler gets: the inspector, with Hijacker
// when w has it (upgrades pass uninspected once hijacked).
func (i *inspector) wrap() http.ResponseWriter {
	if _, ok := i.w.(http.Hijacker); ok {
		return hijackInspector{i}
	}
	return i
}

func (i *inspector) Header() http.Header { return i.w.Header() }

// Unwrap lets http.ResponseController and observe.From reach w.
func (i *inspector) Unwrap() http.ResponseWriter { return i.w }

func (i *inspector) WriteHeader(code int) {
	if i.headed || i.blocked {
		return
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		i.w.WriteHeader(code) // informational: not the response
		return
	}
	i.headed, i.status = true, code
	for k, vs := range i.w.Header() {
		for _, v := range vs {
			i.tx.AddResponseHeader(k, v)
		}
	}
	if it := i.tx.ProcessResponseHeaders(code, i.r.Proto); it != nil && i.interrupted(it) {
		return
	}
	if !i.detected && code != http.StatusSwitchingProtocols && i.r.Method != http.MethodHead &&
		i.tx.IsResponseBodyAccessible() && i.tx.IsResponseBodyProcessable() {
		i.holding = true
		return
	}
	i.send()
}

// interrupted handles an interruption of the response's phases; it reports
// whether the response was refused.
func (i *inspector) interrupted(it *types.Interruption) bool {
	i.h.report(i.r, i.tx, it, i.client, i.id)
	if i.h.detect {
		i.detected = true
		return false
	}
	i.blocked, i.holding = true, false
	h := i.w.Header()
	for k := range h {
		if k != observe.RequestIDHeader {
			delete(h, k)
		}
	}
	if it.Status < 400 {
		it.Status = http.StatusForbidden
	}
	refuse(i.w, i.r, it, i.id)
	return true
}

func (i *inspector) send() {
	if !i.sent {
		i.sent = true
		i.w.WriteHeader(i.status)
	}
}

func (i *inspector) Write(b []byte) (int, error) {
	if i.blocked {
		return len(b), nil
	}
	if !i.headed {
		i.WriteHeader(http.StatusOK)
		if i.blocked {
			return len(b), nil
		}
	}
	if !i.holding {
		i.send()
		return i.w.Write(b)
	}
	it, n, err := i.tx.WriteResponseBody(b)
	if err != nil {
		return 0, err
	}
	if it != nil && i.interrupted(it) {
		return len(b), nil
	}
	if n == len(b) && it == nil && !i.detected {
		return n, nil
	}
	// The limit is reached (Coraza inspected what it holds) or a detection
	// was made: what is held goes, then the rest.
	if err := i.release(); err != nil {
		return 0, err
	}
	m, err := i.w.Write(b[n:])
	return n + m, err
}

func (i *inspector) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(struct{ io.Writer }{i}, r)
}

// release sends the headers and the body held so far, and the rest of the
// body as it comes.
func (i *inspector) release() error {
	i.holding = false
	rd, err := i.tx.ResponseBodyReader()
	if err != nil {
		return err
	}
	i.send()
	_, err = io.Copy(i.w, rd)
	return err
}

// Flush inspects what is held and sends it: a stream is inspected up to its
// first flush.
func (i *inspector) Flush() {
	if i.blocked {
		return
	}
	if !i.headed {
		i.WriteHeader(http.StatusOK)
		if i.blocked {
			return
		}
	}
	if i.holding {
		if it, err := i.tx.ProcessResponseBody(); err == nil && it != nil && i.interrupted(it) {
			return
		}
		if i.release() != nil {
			return
		}
	}
	i.send()
	http.NewResponseController(i.w).Flush()
}

// finish ends the response once the handler returned: what is still held
// is inspected and sent, or refused.
func (i *inspector) finish() {
	if i.hijacked || i.blocked {
		return
	}
	if !i.headed {
		i.WriteHeader(http.StatusOK)
		if i.blocked {
			return
		}
	}
	if i.holding {
		if it, err := i.tx.ProcessResponseBody(); err == nil && it != nil && i.interrupted(it) {
			return
		}
		i.release()
	}
	i.send()
}

type hijackInspector struct{ *inspector }

func (h hijackInspector) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(h.w).Hijack()
	if err == nil {
		h.hijacked = true
	}
	return c, rw, err
}
