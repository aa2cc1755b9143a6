package service

import (
	"errors"
	"io"
)

// replayBody keeps what is read of a request body, up to a limit, so that a
// retry can send it again. Past the limit it keeps nothing and the request can
// no longer be retried once it reached a server.
type replayBody struct {
	src   io.ReadCloser
	buf   []byte
	limit int64
	pos   int  // next byte of buf to give back after a rewind
	over  bool // more than limit was read: not rewindable
}

func newReplayBody(src io.ReadCloser, limit int64) *replayBody {
	return &replayBody{src: src, limit: limit}
}

func (b *replayBody) Read(p []byte) (int, error) {
	if b.pos < len(b.buf) {
		n := copy(p, b.buf[b.pos:])
		b.pos += n
		return n, nil
	}
	n, err := b.src.Read(p)
	if n > 0 && !b.over {
		if int64(len(b.buf)+n) > b.limit {
			b.over, b.buf = true, nil
		} else {
			b.buf = append(b.buf, p[:n]...)
		}
		b.pos = len(b.buf)
	}
	return n, err
}

func (b *replayBody) Close() error { return b.src.Close() }

func (b *replayBody) rewindable() bool { return !b.over }

// rewind makes the next Read start again from the first byte.
func (b *replayBody) rewind() io.ReadCloser {
	b.pos = 0
	return b
}

var errNotReplayable = errors.New("request body too large to send again")

// getBody is rewind as http.Request.GetBody.
func (b *replayBody) getBody() (io.ReadCloser, error) {
	if !b.rewindable() {
		return nil, errNotReplayable
	}
	return b.rewind(), nil
}
