package h1

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/usher-lb/usher/internal/wire"
)

// response is the http.ResponseWriter of one request.
type response struct {
	c      *conn
	req    *http.Request
	x      *reqCtx // req's context (the handler may replace req's)
	body   *body
	h      http.Header
	expect bool

	status      int
	wroteHeader bool // status chosen
	committed   bool // status line and headers written to the connection's buffer
	done        bool // handler returned
	hijacked    bool
	noBody      bool // HEAD, 1xx, 204, 304
	chunked     bool
	closeDelim  bool // HTTP/1.0 body without a length: ends with the connection
	closeAfter  bool
	cl          int64 // Content-Length sent, -1: none
	written     int64
	buf         []byte // body written before commit
	trailers    []string
	writeErr    error
}

var (
	errWriteAfterDone    = errors.New("h1: write after the handler returned")
	errDeadlineAfterDone = errors.New("h1: SetReadDeadline after the handler returned")
)

func (w *response) Header() http.Header { return w.h }

func (w *response) WriteHeader(code int) {
	if w.hijacked {
		w.c.srv.logf("h1: WriteHeader(%d) on a hijacked connection", code)
		return
	}
	if w.wroteHeader || w.done {
		w.c.srv.logf("h1: superfluous WriteHeader(%d)", code)
		return
	}
	if code < 100 || code > 999 {
		panic("h1: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.writeInterim(code)
		return
	}
	w.wroteHeader = true
	w.status = code
	if v := w.h["Content-Length"]; len(v) > 0 {
		if n, ok := wire.ParseContentLength(v[0]); ok && len(v) == 1 && !strings.Contains(v[0], ",") {
			w.cl = n
		} else {
			w.c.srv.logf("h1: invalid response Content-Length %q", v)
			delete(w.h, "Content-Length")
		}
	}
}

// writeInterim sends a 1xx response at once (not to HTTP/1.0 clients, which
// do not know them).
func (w *response) writeInterim(code int) {
	if w.req.ProtoMinor == 0 {
		return
	}
	c := w.c
	if code == http.StatusContinue {
		c.cmu.Lock()
		defer c.cmu.Unlock()
		if c.sent100 {
			return
		}
		c.sent100 = true
	}
	bw := c.bw
	bw.WriteString(statusLine(code))
	writeHeaderMap(bw, w.h, nil)
	bw.WriteString("\r\n")
	if err := bw.Flush(); err != nil {
		w.writeErr = err
	}
}

func (w *response) bodyAllowed() bool {
	s := w.status
	return !(s >= 100 && s <= 199) && s != http.StatusNoContent && s != http.StatusNotModified
}

func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if w.done {
		return 0, errWriteAfterDone
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.bodyAllowed() {
		return 0, http.ErrBodyNotAllowed
	}
	if w.writeErr != nil {
		return 0, w.writeErr
	}
	var errCL error
	if w.cl >= 0 && w.written+int64(len(p)) > w.cl {
		p = p[:w.cl-w.written]
		errCL = http.ErrContentLength
	}
	if w.req.Method == http.MethodHead {
		w.written += int64(len(p))
		return len(p), errCL
	}
	if !w.committed {
		if w.cl < 0 && len(w.buf)+len(p) <= smallBody {
			if w.buf == nil {
				w.buf = w.c.scratch[:0]
			}
			w.buf = append(w.buf, p...)
			w.written += int64(len(p))
			return len(p), errCL
		}
		w.commit(false)
	}
	n, err := w.writeBody(p)
	if err == nil {
		err = errCL
	}
	return n, err
}

// writeBody writes p after the headers, framed.
func (w *response) writeBody(p []byte) (int, error) {
	if len(p) == 0 || w.noBody {
		return len(p), nil
	}
	bw := w.c.bw
	if w.chunked {
		var hex [16]byte
		bw.Write(strconv.AppendInt(hex[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
	}
	n, err := bw.Write(p)
	if w.chunked && err == nil {
		_, err = bw.WriteString("\r\n")
	}
	w.written += int64(n)
	if err != nil {
		w.writeErr = err
	}
	return n, err
}

// Flush sends what has been written so far; the body is then chunked (or
// close-delimited) unless the handler set a Content-Length.
func (w *response) Flush() { _ = w.FlushError() }

// FlushError is Flush, with its error, for http.ResponseController.
func (w *response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if w.done {
		return errWriteAfterDone
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false)
	}
	if w.writeErr != nil {
		return w.writeErr
	}
	if err := w.c.bw.Flush(); err != nil {
		w.writeErr = err
	}
	return w.writeErr
}

// SetWriteDeadline and SetReadDeadline serve http.ResponseController.
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.rwc.SetWriteDeadline(t) }

// SetReadDeadline takes effect at once, a body Read in progress included
// (which then fails with a BodyError whose Timeout is true), and bounds the
// request's later reads, the drain of what the handler leaves of its body
// included.
func (w *response) SetReadDeadline(t time.Time) error {
	c := w.c
	if c.hijackedA.Load() {
		return http.ErrHijacked
	}
	return c.setReadDeadline(t, w.x)
}

// EnableFullDuplex serves http.ResponseController: the body stays readable
// while the response is written anyway.
func (w *response) EnableFullDuplex() error { return nil }

// Hijack hands the connection over (protocol upgrades). The server forgets
// it; the buffered reader keeps the bytes already read.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.done {
		return nil, nil, errWriteAfterDone
	}
	c := w.c
	if w.wroteHeader && !w.committed {
		w.noBody = true
		w.commit(false)
	}
	if err := c.bw.Flush(); err != nil {
		return nil, nil, err
	}
	c.hijackedA.Store(true)
	c.stopWatch()
	c.rmu.Lock()
	c.hijacked = true
	c.bodyIdle = false // the hijacker's reads go through br: no body deadline
	c.rmu.Unlock()
	w.hijacked = true
	_ = c.rwc.SetDeadline(time.Time{})
	c.setState(http.StateHijacked)
	return c.rwc, bufio.NewReadWriter(c.br, c.bw), nil
}

// commit writes the status line and the headers, choosing the framing. final
// means the handler has returned: a buffered body then gets a Content-Length.
func (w *response) commit(final bool) {
	c := w.c
	if w.expect {
		c.cmu.Lock()
		c.committed = true
		c.cmu.Unlock()
	}
	w.committed = true
	c.now = time.Now()
	r := w.req
	h := w.h
	if !w.bodyAllowed() || r.Method == http.MethodHead {
		w.noBody = true
	}
	if tr, ok := h["Trailer"]; ok && r.ProtoMinor == 1 && !w.noBody && w.cl < 0 {
		for _, v := range tr {
			for v != "" {
				var k string
				k, v, _ = strings.Cut(v, ",")
				if k = strings.Trim(k, " \t"); k != "" {
					w.trailers = append(w.trailers, http.CanonicalHeaderKey(k))
				}
			}
		}
	}
	switch {
	case w.status == http.StatusNoContent || (w.status >= 100 && w.status <= 199):
		w.cl = -1
	case w.cl >= 0:
	case final && len(w.trailers) == 0 && (!w.noBody || w.written > 0):
		if w.status != http.StatusNotModified {
			w.cl = w.written
		}
	case w.noBody:
	case r.ProtoMinor == 1:
		w.chunked = true
	default:
		w.closeDelim = true
	}

	// Connection.
	if w.status == http.StatusSwitchingProtocols {
		// For Hijack: the handler's Connection and Upgrade go as they are.
	} else if r.Close || w.closeDelim || c.bodyBroken.Load() || c.srv.shuttingDown() || wire.HasToken(h["Connection"], "close") {
		w.closeAfter = true
	} else if b := w.body; b != nil && (final || c.rmu.TryLock()) {
		// An unread body too large to drain, or one the client will only
		// send after 100 Continue, closes the connection: say so. (After
		// the handler, the caller holds rmu; during it, a body read in
		// progress leaves that to the drain.)
		if !b.eof && (b.expect || (!b.chunked && b.remain > maxDrain)) {
			w.closeAfter = true
		}
		if !final {
			c.rmu.Unlock()
		}
	}

	bw := c.bw
	bw.WriteString(statusLine(w.status))
	writeHeaderMap(bw, h, w)
	if _, ok := h["Date"]; !ok {
		bw.Write(dateLine(c.now))
	}
	if w.cl >= 0 {
		if _, ok := h["Content-Length"]; !ok {
			var num [20]byte
			bw.WriteString("Content-Length: ")
			bw.Write(strconv.AppendInt(num[:0], w.cl, 10))
			bw.WriteString("\r\n")
		}
	} else if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	switch {
	case w.status == http.StatusSwitchingProtocols:
	case w.closeAfter:
		bw.WriteString("Connection: close\r\n")
	case r.ProtoMinor == 0:
		bw.WriteString("Connection: keep-alive\r\n")
	}
	if _, err := bw.WriteString("\r\n"); err != nil {
		w.writeErr = err
	}
	if len(w.buf) > 0 {
		buf := w.buf
		w.buf = nil
		w.written -= int64(len(buf))
		_, _ = w.writeBody(buf)
	}
}

// writeHeaderMap writes h's fields, skipping invalid names, the framing
// fields the server sets itself and trailer keys; CR, LF and NUL in values
// become spaces (no response splitting).
func writeHeaderMap(bw *bufio.Writer, h http.Header, w *response) {
	if w == nil {
		wire.WriteHeader(bw, h, nil)
		return
	}
	wire.WriteHeader(bw, h, func(k string) bool {
		switch k {
		case "Transfer-Encoding":
			return true
		case "Content-Length":
			return w.cl < 0
		case "Connection":
			if w.status == http.StatusSwitchingProtocols {
				return false
			}
			return w.closeAfter || (w.req.ProtoMinor == 0 && !wire.HasToken(h[k], "close"))
		}
		return false
	})
}

// finish completes the response after the handler returned and reports
// whether the connection may carry another request.
func (w *response) finish() bool {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.done = true
	if !w.committed {
		w.commit(true)
	} else {
		// Streamed: the idle time starts now, not when the headers went.
		w.c.now = time.Now()
	}
	bw := w.c.bw
	if w.chunked {
		bw.WriteString("0\r\n")
		w.writeTrailers(bw)
		bw.WriteString("\r\n")
	}
	if err := bw.Flush(); err != nil || w.writeErr != nil {
		return false
	}
	if w.cl >= 0 && w.written < w.cl && w.req.Method != http.MethodHead && w.bodyAllowed() {
		return false // short body: the connection ends it
	}
	return !w.closeAfter
}

func (w *response) writeTrailers(bw *bufio.Writer) {
	h := w.h
	for _, k := range w.trailers {
		for _, v := range h[k] {
			wire.WriteField(bw, k, v)
		}
	}
	for k, vv := range h {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && wire.ValidName(name) {
			for _, v := range vv {
				wire.WriteField(bw, name, v)
			}
		}
	}
}

var statusLines = func() (t [600]string) {
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			t[code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n"
		}
	}
	return
}()

func statusLine(code int) string {
	if code < len(statusLines) && statusLines[code] != "" {
		return statusLines[code]
	}
	return "HTTP/1.1 " + strconv.Itoa(code) + " status code " + strconv.Itoa(code) + "\r\n"
}

type dateCache struct {
	sec  int64
	line []byte
}

var cachedDate atomic.Pointer[dateCache]

// dateLine returns "Date: ...\r\n" for now, formatted once per second.
func dateLine(now time.Time) []byte {
	sec := now.Unix()
	if d := cachedDate.Load(); d != nil && d.sec == sec {
		return d.line
	}
	b := make([]byte, 0, 40)
	b = append(b, "Date: "...)
	b = now.UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, "\r\n"...)
	cachedDate.Store(&dateCache{sec: sec, line: b})
	return b
}
