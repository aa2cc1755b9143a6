package h1

import (
	"errors"
	"io"
	"net/http"

	"github.com/usher-lb/usher/internal/wire"
)

const (
	maxDrain     = 256 << 10 // unread request body drained to keep the connection
	maxChunkLine = 4096      // chunk-size line with its extensions
)

var (
	errChunk     = errors.New("h1: malformed chunked encoding")
	errChunkLine = errors.New("h1: chunk line too long")
	errTrailer   = errors.New("h1: trailer section too large")
)

// body is a request body: Content-Length bytes, or a chunked stream with its
// trailer section. Reads are serialized with the liveness probe by the
// connection's read mutex, so a body may be read from any goroutine while its
// handler runs.
type body struct {
	c       *conn
	req     *http.Request
	remain  int64 // CL: bytes left; chunked: bytes left in the current chunk
	chunked bool
	crlf    bool // chunked: the CRLF after a chunk's data is still to read
	eof     bool
	closed  bool // closed by the handler, or the handler returned
	expect  bool // send 100 Continue before the first read
	err     error
}

func (b *body) Read(p []byte) (int, error) {
	b.c.rmu.Lock()
	defer b.c.rmu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.expect {
		b.expect = false
		b.c.sendContinue()
	}
	b.c.reading.Store(true)
	defer b.c.reading.Store(false)
	return b.readLocked(p)
}

// Close stops the handler's reads; what is left is drained (or the
// connection closed) after the handler returns.
func (b *body) Close() error {
	b.c.rmu.Lock()
	b.closed = true
	b.c.rmu.Unlock()
	return nil
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
	b.c.bodyDeadline()
	if !b.chunked {
		if int64(len(p)) > b.remain {
			p = p[:b.remain]
		}
		n, err = b.c.br.Read(p)
		b.remain -= int64(n)
		if b.remain == 0 {
			b.eof = true
			return n, io.EOF
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			b.err = err
		}
		return n, err
	}
	n, err = b.readChunked(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func (b *body) readChunked(p []byte) (int, error) {
	br := b.c.br
	if b.remain == 0 {
		if b.crlf {
			c1, err := br.ReadByte()
			if err != nil {
				return 0, unexpected(err)
			}
			c2, err := br.ReadByte()
			if err != nil {
				return 0, unexpected(err)
			}
			if c1 != '\r' || c2 != '\n' {
				return 0, errChunk
			}
			b.crlf = false
		}
		lr := lineReader{br: br, budget: maxChunkLine}
		line, err := lr.line(errChunkLine)
		if err != nil {
			return 0, unexpected(err)
		}
		size, ok := wire.ParseChunkSize(line)
		if !ok {
			return 0, errChunk
		}
		if size == 0 {
			if err := b.readTrailer(); err != nil {
				return 0, err
			}
			b.eof = true
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
		return n, unexpected(err)
	}
	return n, nil
}

func unexpected(err error) error {
	if err == io.EOF || err == errShortRequest {
		return io.ErrUnexpectedEOF
	}
	if se, ok := err.(*statusError); ok {
		return errors.New("h1: " + se.text)
	}
	return err
}

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
		return unexpected(err)
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
