package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/usher-lb/usher/internal/wire"
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// internSize is how many header values a connection remembers. A server sends
// the same Content-Type, Server and such on every response: reusing the string
// read last time saves an allocation per header.
const internSize = 16

type internEntry struct{ k, v string }

func (c *conn) intern(k string, v []byte) string {
	for i := range c.interned {
		e := &c.interned[i]
		if e.k == k {
			if e.v == string(v) {
				return e.v
			}
			e.v = string(v)
			return e.v
		}
	}
	s := string(v)
	c.interned[c.internNext%internSize] = internEntry{k, s}
	c.internNext++
	return s
}

// bodyless tells whether the response has no body whatever its headers say.
func (resp *Response) bodyless() bool {
	return resp.isHead || resp.Status == http.StatusNoContent || resp.Status == http.StatusNotModified || resp.Status < 200
}

// WriteTo sends the response to the client: status, headers and the body,
// streamed as it comes. Streams (no Content-Length, or text/event-stream) are
// flushed whenever the server has nothing more buffered, so events reach the
// client one by one. It returns the body bytes written and the first error;
// an error means the response was cut short (what was written is flushed)
// and the connection to the server is closed: the caller must then abort
// the exchange with the client (see Outcome.Abort), else the client takes
// the part it got for the whole. The error is a client error (IsClientError)
// when the client went away, else the server's body ended before its
// framing said (IsTruncated). The Response must not be used afterwards.
func (resp *Response) WriteTo(w http.ResponseWriter) (int64, error) {
	if resp.h2 != nil {
		return resp.writeH2(w)
	}
	h := w.Header()
	// One backing array for every value slice: a response costs one allocation
	// for its header values rather than one per header.
	nv := len(resp.vals)
	vals := make([]string, nv+1) // +1: Content-Length
	copy(vals, resp.vals)
	for i, k := range resp.keys {
		if old, ok := h[k]; ok {
			h[k] = append(old, vals[i])
		} else {
			h[k] = vals[i : i+1 : i+1]
		}
	}
	if _, ok := h["Content-Type"]; !ok {
		// The server sent none: a nil value keeps net/http from sniffing one.
		h["Content-Type"] = nil
	}
	bodyless := resp.bodyless()
	if resp.contentLength >= 0 && (!bodyless || resp.isHead) {
		vals[nv] = resp.clStr
		h["Content-Length"] = vals[nv : nv+1 : nv+1]
	}
	w.WriteHeader(resp.Status)
	if bodyless {
		// Whatever the server sent after the head is not part of this
		// response: finish sees it and does not reuse the connection.
		resp.finish(nil)
		return 0, nil
	}
	stream := resp.contentLength < 0 || strings.HasPrefix(resp.Header("Content-Type"), "text/event-stream")
	var n int64
	var err error
	switch {
	case resp.chunked:
		n, err = resp.copyChunked(w, stream)
	case resp.contentLength >= 0:
		n, err = resp.copyBuffered(w, resp.contentLength, stream)
	default: // until the server closes
		resp.closeAfter = true
		n, err = resp.copyBuffered(w, -1, stream)
		if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	if err != nil {
		if !IsClientError(err) {
			err = &truncatedError{err}
		}
		http.NewResponseController(w).Flush()
	}
	resp.finish(err)
	return n, err
}

// Discard ends a response that will not be sent to the client (a retry on
// another server follows). The connection is closed rather than drained: a
// retried response is rare and its body may be large.
func (resp *Response) Discard() {
	if resp.h2 != nil {
		resp.h2.end()
		return
	}
	if !resp.bodyless() {
		resp.closeAfter = true
	}
	// Nothing went to the client, and its body is still wanted (the retry
	// sends it again): finish must neither flush nor end its reads.
	resp.client = nil
	resp.finish(nil)
}

// finish pools the connection when the exchange ended cleanly, else closes
// it: after an error, when the response said so, when the request's body
// could not all be sent, and when anything is left on the connection past
// the response's framing (a second response that no request asked for must
// never answer the next one).
func (resp *Response) finish(err error) {
	c := resp.c
	if resp.writing {
		resp.writing = false
		select {
		case werr := <-c.wdone:
			if werr != nil {
				resp.closeAfter = true
			}
		default:
			// The server answered before the request's body was all sent:
			// the connection cannot carry another exchange, and closing it
			// ends the writer's wait on the server. A wait on the client's
			// body is ended by a read deadline, which the client's server
			// (net/http, HTTP/2, usher's h1) applies to a read in progress;
			// what the client was answered is flushed first, so that it
			// has it meanwhile.
			c.nc.Close()
			if resp.client != nil {
				rc := http.NewResponseController(resp.client)
				_ = rc.Flush()
				_ = rc.SetReadDeadline(aLongTimeAgo)
			}
			<-c.wdone
			c.body.release()
			return
		}
		c.body.release()
	}
	if err != nil || resp.closeAfter || c.br.Buffered() > 0 {
		c.nc.Close()
		return
	}
	resp.up.put(c)
}

// copyBuffered copies n bytes of the body (all until EOF when n < 0) from br to w using br's
// own buffer: the bytes go from the server's socket to the client's writer with
// no extra copy and no buffer of ours.
func (resp *Response) copyBuffered(w http.ResponseWriter, n int64, stream bool) (int64, error) {
	br := resp.c.br
	var written int64
	flusher, _ := w.(http.Flusher)
	for n < 0 || written < n {
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				if err = resp.wait(err); err == nil {
					continue
				}
				if err == io.EOF && n >= 0 {
					err = io.ErrUnexpectedEOF
				}
				return written, err
			}
		}
		m := br.Buffered()
		if n >= 0 && int64(m) > n-written {
			m = int(n - written)
		}
		b, _ := br.Peek(m)
		k, err := w.Write(b)
		br.Discard(k)
		written += int64(k)
		if err != nil {
			return written, &clientError{err}
		}
		if stream && br.Buffered() == 0 && flusher != nil {
			flusher.Flush()
		}
	}
	return written, nil
}

// clientError is a failed write to the client (it went away), not the server's fault.
type clientError struct{ err error }

func (e *clientError) Error() string { return "write to client: " + e.err.Error() }
func (e *clientError) Unwrap() error { return e.err }

// IsClientError tells whether err came from writing to the client.
func IsClientError(err error) bool {
	var ce *clientError
	return errors.As(err, &ce)
}

// truncatedError is a response body the server cut short: it ended (or
// broke: a malformed chunk, a reset) before its framing said it would.
type truncatedError struct{ err error }

func (e *truncatedError) Error() string {
	return "response body cut short by the server: " + e.err.Error()
}
func (e *truncatedError) Unwrap() error { return e.err }

// IsTruncated tells whether err is a response body the server cut short.
func IsTruncated(err error) bool {
	var te *truncatedError
	return errors.As(err, &te)
}

// line returns the next line of a chunked body (a chunk-size line, a
// trailer field) with its CRLF, waiting until it is whole.
func (resp *Response) line() ([]byte, error) {
	br := resp.c.br
	for {
		if b, _ := br.Peek(br.Buffered()); bytes.IndexByte(b, '\n') >= 0 {
			return br.ReadSlice('\n')
		}
		if br.Buffered() == br.Size() {
			return nil, errMalformed // a line longer than the buffer
		}
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			if err = resp.wait(err); err != nil {
				return nil, err
			}
		}
	}
}

// need waits until n bytes are buffered.
func (resp *Response) need(n int) error {
	br := resp.c.br
	for br.Buffered() < n {
		if _, err := br.Peek(n); err != nil {
			if err = resp.wait(err); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyChunked decodes a chunked body and writes it; trailers are passed on as
// HTTP trailers, but for the fields no trailer may carry (framing, routing,
// cookies, see wire.ForbiddenTrailer), which are dropped.
func (resp *Response) copyChunked(w http.ResponseWriter, stream bool) (int64, error) {
	br := resp.c.br
	var written int64
	flusher, _ := w.(http.Flusher)
	for {
		raw, err := resp.line()
		if err != nil {
			return written, err
		}
		line, ok := wire.CutCRLF(raw)
		if !ok {
			return written, errMalformed
		}
		size, ok := wire.ParseChunkSize(line)
		if !ok {
			return written, errMalformed
		}
		if size == 0 {
			break
		}
		k, err := resp.copyBuffered(w, size, false)
		written += k
		if err != nil {
			return written, err
		}
		if err := resp.need(2); err != nil {
			return written, err
		}
		if crlf, _ := br.Peek(2); crlf[0] != '\r' || crlf[1] != '\n' {
			return written, errMalformed
		}
		br.Discard(2)
		if stream && br.Buffered() == 0 && flusher != nil {
			flusher.Flush()
		}
	}
	// trailer section
	budget := maxTrailerBytes
	for {
		raw, err := resp.line()
		if err != nil {
			return written, err
		}
		if budget -= len(raw); budget < 0 {
			return written, errMalformed
		}
		line, ok := wire.CutCRLF(raw)
		if !ok {
			return written, errMalformed
		}
		if len(line) == 0 {
			return written, nil
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 || !wire.IsToken(line[:i]) {
			return written, errMalformed
		}
		v := wire.TrimOWS(line[i+1:])
		if !wire.ValidValue(v) {
			return written, errMalformed
		}
		k := wire.CanonicalKey(line[:i])
		if wire.ForbiddenTrailer(k) || isHop(k) {
			continue
		}
		w.Header().Add(http.TrailerPrefix+k, string(v))
	}
}

// maxTrailerBytes bounds a response's trailer section.
const maxTrailerBytes = 16 << 10
