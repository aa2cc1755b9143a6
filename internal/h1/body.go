package h1

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"

	"github.com/usher-lb/usher/internal/wire"
)

const (
	maxDrain     = 256 << 10 // unread request body drained to keep the connection
	maxChunkLine = 4096      // chunk-size line with its extensions
)

// ErrMalformedBody is what a BodyError wraps when the client's chunked
// encoding is broken: a bad chunk-size line, chunk data not followed by CRLF,
// a chunk line or trailer section over its limit, a malformed trailer field.
var ErrMalformedBody = errors.New("malformed chunked encoding")

var errKicked = errors.New("h1: the handler returned while the body was being read")

// BodyError is the error of a request body's Read when the client broke the
// body: it is the client's fault, never the server's. Err tells which way:
//   - ErrMalformedBody: a framing error in the chunked encoding;
//   - io.ErrUnexpectedEOF: the connection ended before the body did;
//   - a timeout (Timeout reports true): no body byte came for the server's
//     BodyIdleTimeout, or the request's ReadTimeout passed;
//   - another network error, a connection reset for one.
//
// BodyError is a net.Error. Later Reads return the same error. A response
// the handler writes after it (a 400, a 408) goes with Connection: close,
// and the connection is closed once it is sent.
type BodyError struct {
	Err    error
	Detail string // where, what: "chunk-size line \"zz\"", "after 10 of 100 bytes"
}

func (e *BodyError) Error() string {
	s := "h1: request body: "
	switch {
	case e.Timeout():
		s += "timeout"
	case errors.Is(e.Err, io.ErrUnexpectedEOF):
		s += "connection closed before the end"
	default:
		s += e.Err.Error()
	}
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

func (e *BodyError) Unwrap() error { return e.Err }

// Timeout reports whether the body timed out (a net.Error's Timeout).
func (e *BodyError) Timeout() bool {
	var ne net.Error
	return errors.As(e.Err, &ne) && ne.Timeout()
}

// Temporary is false: the body cannot go on. (net.Error asks for it.)
func (e *BodyError) Temporary() bool { return false }

// body is a request body: Content-Length bytes, or a chunked stream with its
// trailer section. Reads are serialized with the liveness probe by the
// connection's read mutex, so a body may be read from any goroutine while its
// handler runs.
type body struct {
	c       *conn
	req     *http.Request
	remain  int64 // CL: bytes left; chunked: bytes left in the current chunk
	total   int64 // CL: the length; chunked: -1
	read    int64 // body bytes read so far
	chunked bool
	crlf    bool // chunked: the CRLF after a chunk's data is still to read
	eof     bool
	closed  bool // closed by the handler, or the handler returned
	expect  bool // send 100 Continue before the first read
	err     error
}

func (b *body) Read(p []byte) (int, error) {
	c := b.c
	c.rmu.Lock()
	if b.closed {
		c.rmu.Unlock()
		return 0, http.ErrBodyReadAfterClose
	}
	if b.expect {
		b.expect = false
		c.sendContinue()
	}
	c.reading.Store(true)
	c.bodyIdle = true // the socket reads below get the body's deadline
	n, err := b.readLocked(p)
	c.reading.Store(false)
	x := c.ctx
	c.rmu.Unlock()
	b.ended(x)
	return n, err
}

// Close stops the handler's reads; what is left is drained (or the
// connection closed) after the handler returns.
func (b *body) Close() error {
	c := b.c
	c.rmu.Lock()
	b.closed = true
	c.bodyPending.Store(false)
	x := c.ctx
	c.rmu.Unlock()
	b.ended(x)
	return nil
}

// ended starts the watch of the client that Done asked for while the body
// was still to be read, once it has been read to its end or closed. (After
// a broken body the connection closes anyway: no watch.)
func (b *body) ended(x *reqCtx) {
	if c := b.c; x != nil && !c.bodyPending.Load() && c.wantWatch.Load() {
		c.startWatch(x)
	}
}

func (b *body) readLocked(p []byte) (n int, err error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.eof {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !b.chunked {
		if int64(len(p)) > b.remain {
			p = p[:b.remain]
		}
		n, err = b.c.br.Read(p)
		b.remain -= int64(n)
		b.read += int64(n)
		if b.remain == 0 {
			b.eof = true
			b.c.bodyPending.Store(false)
			return n, io.EOF
		}
		if err != nil {
			return n, b.fail(err, "")
		}
		return n, nil
	}
	n, err = b.readChunked(p)
	b.read += int64(n)
	return n, err
}

// fail records the body's error, which stays, and marks the connection as
// one to close after the response.
func (b *body) fail(err error, detail string) error {
	if err == errKicked {
		b.err = err
		return err
	}
	var se *statusError
	switch {
	case err == io.EOF || err == errShortRequest:
		err = io.ErrUnexpectedEOF
	case errors.As(err, &se):
		if detail == "" {
			detail = se.text
		} else {
			detail += ": " + se.text
		}
		err = ErrMalformedBody
	}
	if detail == "" && (err == io.ErrUnexpectedEOF || isTimeout(err)) {
		if b.total >= 0 {
			detail = "after " + strconv.FormatInt(b.read, 10) + " of " + strconv.FormatInt(b.total, 10) + " bytes"
		} else {
			detail = "after " + strconv.FormatInt(b.read, 10) + " bytes"
		}
	}
	b.err = &BodyError{Err: err, Detail: detail}
	b.c.bodyBroken.Store(true)
	return b.err
}

func (b *body) readChunked(p []byte) (int, error) {
	br := b.c.br
	if b.remain == 0 {
		if b.crlf {
			c1, err := br.ReadByte()
			if err != nil {
				return 0, b.fail(err, "")
			}
			c2, err := br.ReadByte()
			if err != nil {
				return 0, b.fail(err, "")
			}
			if c1 != '\r' || c2 != '\n' {
				return 0, b.fail(ErrMalformedBody, "chunk data not followed by CRLF")
			}
			b.crlf = false
		}
		lr := lineReader{br: br, budget: maxChunkLine}
		line, err := lr.line(errChunkLine)
		if err != nil {
			if err == errChunkLine {
				return 0, b.fail(ErrMalformedBody, "chunk-size line over "+strconv.Itoa(maxChunkLine)+" bytes")
			}
			return 0, b.fail(err, "chunk-size line")
		}
		size, ok := wire.ParseChunkSize(line)
		if !ok {
			return 0, b.fail(ErrMalformedBody, fmt.Sprintf("chunk-size line %.40q", line))
		}
		if size == 0 {
			if err := b.readTrailer(); err != nil {
				return 0, err
			}
			b.eof = true
			b.c.bodyPending.Store(false)
			return 0, io.EOF
		}
		b.remain = size
	}
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	n, err := br.Read(p)
	b.remain -= int64(n)
	if b.remain == 0 {
		b.crlf = true
	}
	if err != nil {
		return n, b.fail(err, "")
	}
	return n, nil
}

var (
	errChunkLine = errors.New("h1: chunk line too long")
	errTrailer   = &statusError{http.StatusBadRequest, "over maxHeaderBytes"}
)

func (b *body) readTrailer() error {
	lr := lineReader{br: b.c.br, budget: b.c.srv.maxHeaderBytes()}
	var t http.Header
	if b.c.br.Buffered() >= 2 {
		if p, _ := b.c.br.Peek(2); p[0] == '\r' && p[1] == '\n' {
			_, _ = b.c.br.Discard(2) // no trailer fields: the common case
			return nil
		}
	}
	t = http.Header{}
	if err := readFields(&lr, t, errTrailer, nil); err != nil {
		return b.fail(err, "trailer section")
	}
	for k, vv := range t {
		if wire.ForbiddenTrailer(k) {
			continue
		}
		if b.req.Trailer == nil {
			b.req.Trailer = http.Header{}
		}
		b.req.Trailer[k] = vv
	}
	return nil
}

// drain consumes what the handler left of the body, up to maxDrain bytes. It
// reports whether the connection can carry another request. The caller holds
// the read mutex.
func (b *body) drain() bool {
	defer func() { b.closed = true }()
	if b.eof {
		return true
	}
	if b.err != nil || b.expect {
		// A broken body, or a client still waiting for 100 Continue: it may
		// or may not send the body, so the connection cannot be reused.
		return false
	}
	if !b.chunked && b.remain > maxDrain {
		return false
	}
	b.c.drainDeadline()
	buf := b.c.scratch[:cap(b.c.scratch)]
	total := 0
	for total <= maxDrain {
		n, err := b.readLocked(buf)
		total += n
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}
