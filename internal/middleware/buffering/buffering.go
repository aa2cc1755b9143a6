// Package buffering implements the buffering middleware: it reads the whole
// request body before the request goes on, refusing bodies over a limit, so that
// the server gets the body at once with its length, and the body can be sent
// again on a retry.
package buffering

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"

	"github.com/usher-lb/usher/internal/config"
)

// DefaultMemRequestBodyBytes is how much of a body is kept in memory when
// memRequestBodyBytes is 0: 1MiB.
const DefaultMemRequestBodyBytes = 1 << 20

// copyBufSize is the size of the buffer a body is copied to its file with, when
// the memory buffer is smaller.
const copyBufSize = 32 << 10

// createTemp creates the file a large body spills to; tests replace it.
var createTemp = os.CreateTemp

type buffering struct {
	next   http.Handler
	max    int64 // bodies over this get 413; 0 = no limit
	memCap int64 // bodies up to this stay in memory: memRequestBodyBytes, at most max
}

// New returns a handler that reads the whole request body before passing the
// request to next.
//
// A body larger than cfg.MaxRequestBodyBytes (0, the default, is no limit) gets
// 413 Request Entity Too Large with a short text/plain body and never reaches
// next: at once when the Content-Length says so, without reading the body;
// otherwise (a chunked body, or one cut short by an http.MaxBytesReader) as soon
// as more than the limit has been read.
//
// A body of up to cfg.MemRequestBodyBytes (0 means DefaultMemRequestBodyBytes,
// 1MiB) is kept in memory; a larger one is written to a temporary file in
// os.TempDir, named usher-body-*, which is closed and removed when next
// returns (on Unix it is unlinked as soon as it is created, so that nothing is
// left behind even if the process dies). next gets r.Body reading the buffered
// body, r.ContentLength set to its length, r.TransferEncoding cleared, and
// r.GetBody returning a new reader of it from the start each time (for retries).
// The body and the readers GetBody returns are valid only until next returns.
// A request with no body goes to next with a GetBody that returns http.NoBody.
//
// A body that cannot be read (the client went away, a malformed chunk) gets
// 400 Bad Request; a temporary file that cannot be created or written gets 500
// Internal Server Error. Neither reaches next.
//
// Both sizes must not be negative.
func New(_ context.Context, next http.Handler, cfg *config.Buffering, _ string) (http.Handler, error) {
	if cfg == nil {
		return nil, fmt.Errorf("buffering: no configuration")
	}
	if cfg.MaxRequestBodyBytes < 0 {
		return nil, fmt.Errorf("buffering: maxRequestBodyBytes %d is negative", cfg.MaxRequestBodyBytes)
	}
	if cfg.MemRequestBodyBytes < 0 {
		return nil, fmt.Errorf("buffering: memRequestBodyBytes %d is negative", cfg.MemRequestBodyBytes)
	}
	b := &buffering{next: next, max: int64(cfg.MaxRequestBodyBytes), memCap: int64(cfg.MemRequestBodyBytes)}
	if b.memCap == 0 {
		b.memCap = DefaultMemRequestBodyBytes
	}
	if b.max > 0 && b.max < b.memCap {
		b.memCap = b.max
	}
	return b, nil
}

var (
	errTooLarge = errors.New("request body too large")
	// noBody is the GetBody of a request without a body.
	noBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
)

// tempError is a failure of the temporary file, the proxy's fault.
type tempError struct{ err error }

func (e tempError) Error() string { return "buffering: temporary file: " + e.err.Error() }

func (b *buffering) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		if r.GetBody == nil {
			r.GetBody = noBody
		}
		b.next.ServeHTTP(w, r)
		return
	}
	if b.max > 0 && r.ContentLength > b.max {
		tooLarge(w)
		return
	}
	buf, err := b.read(r.Body, r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		var te tempError
		switch {
		case errors.Is(err, errTooLarge), errors.As(err, &mbe):
			tooLarge(w)
		case errors.As(err, &te):
			http.Error(w, "500 Internal Server Error: the request body could not be buffered", http.StatusInternalServerError)
		default:
			http.Error(w, "400 Bad Request: the request body could not be read", http.StatusBadRequest)
		}
		return
	}
	if buf.file != nil {
		defer buf.release()
	}
	r.ContentLength = buf.size
	r.TransferEncoding = nil
	if buf.size == 0 {
		r.Body, r.GetBody = http.NoBody, noBody
	} else {
		r.Body, r.GetBody = buf.reader(), buf.getBody
	}
	b.next.ServeHTTP(w, r)
}

func tooLarge(w http.ResponseWriter) {
	http.Error(w, "413 Request Entity Too Large", http.StatusRequestEntityTooLarge)
}

// buffered is a read body: in memory, or in a file.
type buffered struct {
	mem     []byte
	file    *os.File
	size    int64
	removed bool // the file is unlinked already
}

// memBody and fileBody are the readers of a buffered body.
type memBody struct{ *bytes.Reader }

func (memBody) Close() error { return nil }

type fileBody struct{ *io.SectionReader }

func (fileBody) Close() error { return nil }

func (bb *buffered) reader() io.ReadCloser {
	if bb.file != nil {
		return fileBody{io.NewSectionReader(bb.file, 0, bb.size)}
	}
	return memBody{bytes.NewReader(bb.mem)}
}

func (bb *buffered) getBody() (io.ReadCloser, error) { return bb.reader(), nil }

// release closes the file and removes it if it is not yet.
func (bb *buffered) release() {
	bb.file.Close()
	if !bb.removed {
		os.Remove(bb.file.Name())
	}
}

// read reads body, of length cl (-1 when unknown), to its end: in memory while
// it fits in b.memCap, then in a temporary file. It fails with errTooLarge as
// soon as more than b.max has been read.
func (b *buffering) read(body io.Reader, cl int64) (*buffered, error) {
	var buf []byte
	if cl <= b.memCap { // includes -1, unknown
		size := cl + 1 // room to see the EOF without growing
		if cl < 0 {
			size = min(b.memCap+1, 4<<10)
		}
		buf = make([]byte, 0, size)
		for {
			if len(buf) == cap(buf) {
				if int64(len(buf)) > b.memCap {
					break // spill
				}
				grown := make([]byte, len(buf), min(2*int64(cap(buf)), b.memCap+1))
				copy(grown, buf)
				buf = grown
			}
			n, err := body.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				if int64(len(buf)) > b.memCap { // a longer body than its Content-Length
					break
				}
				return &buffered{mem: buf, size: int64(len(buf))}, nil
			}
			if err != nil {
				return nil, err
			}
		}
	}
	if b.max > 0 && int64(len(buf)) > b.max {
		return nil, errTooLarge
	}
	return b.spill(body, buf)
}

// spill writes head, then the rest of body, to a new temporary file.
func (b *buffering) spill(body io.Reader, head []byte) (_ *buffered, err error) {
	f, err := createTemp("", "usher-body-*")
	if err != nil {
		return nil, tempError{err}
	}
	bb := &buffered{file: f}
	defer func() {
		if err != nil {
			bb.release()
		}
	}()
	if runtime.GOOS != "windows" { // an open file cannot be removed on Windows
		bb.removed = os.Remove(f.Name()) == nil
	}
	if _, werr := f.Write(head); werr != nil {
		return nil, tempError{werr}
	}
	total := int64(len(head))
	cbuf := head[:cap(head)]
	if len(cbuf) < copyBufSize {
		cbuf = make([]byte, copyBufSize)
	}
	for {
		n, rerr := body.Read(cbuf)
		if n > 0 {
			total += int64(n)
			if b.max > 0 && total > b.max {
				return nil, errTooLarge
			}
			if _, werr := f.Write(cbuf[:n]); werr != nil {
				return nil, tempError{werr}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, rerr
		}
	}
	bb.size = total
	return bb, nil
}
