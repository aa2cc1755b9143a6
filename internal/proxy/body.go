package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
)

// BodyError is a failure to read the client's request body while it was
// being sent to the server: a malformed chunked body, a body shorter than
// its Content-Length, a body read that timed out. It is the client's doing,
// never the server's: it feeds no health check and no retry.
type BodyError struct{ Err error }

func (e *BodyError) Error() string { return "request body: " + e.Err.Error() }
func (e *BodyError) Unwrap() error { return e.Err }

// Status is what the client is answered: 408 when its body timed out, 413
// when a limit set before the proxy (http.MaxBytesReader) stopped it, 400
// for anything else.
func (e *BodyError) Status() int {
	var mb *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(e.Err, &mb):
		return http.StatusRequestEntityTooLarge
	case errors.Is(e.Err, os.ErrDeadlineExceeded) || (errors.As(e.Err, &ne) && ne.Timeout()):
		return http.StatusRequestTimeout
	}
	return http.StatusBadRequest
}

// replayMax is the most of a request body kept to send it again on a fresh
// connection when the pooled one turns out to have been closed by the server
// (see RoundTrip). A larger body is sent again only when it has GetBody.
const replayMax = 64 << 10

var replayPool = sync.Pool{New: func() any { b := make([]byte, 0, replayMax); return &b }}

// sendBody is the request body on its way to the server. It tells a failure
// to read the client's body (err) from a failure to write to the server, and
// keeps the first replayMax bytes read, so that the request can be sent again
// (replay). While a body writer goroutine runs, only that goroutine touches
// it.
type sendBody struct {
	src    io.Reader
	remain int64   // bytes still to be read when the length is known; -1: until EOF
	err    error   // the first read error but io.EOF: the client's
	kept   *[]byte // what was read so far, from replayPool; nil: nothing yet
	over   bool    // not kept: more than replayMax was read, or GetBody replays
	// spare is the kept buffer of an earlier try that this one replays
	// (see replay): released with this one's.
	spare *[]byte
}

func (b *sendBody) reset(src io.Reader, length int64, keep bool) {
	*b = sendBody{src: src, remain: length, over: !keep}
}

func (b *sendBody) Read(p []byte) (int, error) {
	if b.remain == 0 {
		return 0, io.EOF
	}
	if b.remain > 0 && int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	n, err := b.src.Read(p)
	if b.remain > 0 {
		b.remain -= int64(n)
		if err == io.EOF && b.remain > 0 {
			err = io.ErrUnexpectedEOF // shorter than its Content-Length
		}
	}
	if n > 0 && !b.over {
		b.keep(p[:n])
	}
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

func (b *sendBody) keep(p []byte) {
	if b.kept == nil {
		b.kept = replayPool.Get().(*[]byte)
	}
	k := *b.kept
	if len(k)+len(p) > cap(k) {
		b.over = true
		b.putKept()
		return
	}
	*b.kept = append(k, p...)
}

func (b *sendBody) putKept() {
	putSpare(b.kept)
	b.kept = nil
}

// release gives back the buffers kept for a replay; the exchange can no
// longer be sent again.
func (b *sendBody) release() {
	b.putKept()
	putSpare(b.spare)
	b.spare = nil
	b.over = true
	b.src = nil
}

// replay returns the body of r to send again, from its start: GetBody's, or
// the bytes kept followed by the rest of the client's body. ok is false when
// neither can be had. The kept buffer is handed over as spare, for the next
// try's sendBody to release.
func (b *sendBody) replay(r *http.Request) (body io.Reader, spare *[]byte, ok bool) {
	if r.Body == nil || r.Body == http.NoBody {
		return http.NoBody, nil, true
	}
	if b.err != nil {
		return nil, nil, false
	}
	if r.GetBody != nil {
		rc, err := r.GetBody()
		if err != nil {
			return nil, nil, false
		}
		return rc, nil, true
	}
	if b.over {
		return nil, nil, false
	}
	spare, b.kept = b.kept, nil
	if spare == nil || len(*spare) == 0 {
		return b.src, spare, true
	}
	return io.MultiReader(&byteReader{b: *spare}, b.src), spare, true
}

// byteReader reads b; unlike bytes.Reader it is only what MultiReader needs.
type byteReader struct{ b []byte }

func (r *byteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// putSpare gives back a kept buffer that no try took.
func putSpare(b *[]byte) {
	if b != nil {
		*b = (*b)[:0]
		replayPool.Put(b)
	}
}
