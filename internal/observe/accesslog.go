package observe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// AccessLog writes one line per finished request, as JSON (one object per
// line) or as text (key=value pairs, logfmt style), with these keys in this
// order:
//
//	time        when the request arrived, RFC 3339 with nanoseconds, UTC
//	requestId   the X-Request-Id usher kept or made (see EnsureRequestID)
//	clientIp    the client's address (the forwarded one when its proxy is trusted)
//	method, host, path, protocol
//	            of the request as the client sent it; the path without its
//	            query string, which can hold secrets
//	status      the status the client got
//	bytesIn     request body bytes read; bytesOut: response body bytes written
//	durationMs  arrival to end of the response, in milliseconds (µs precision)
//	ttfbMs      time to the server's first response byte, in milliseconds
//	entrypoint, router, service, server
//	            where the request went ("" for none); the server URL without
//	            any user:password
//	retries     how many times the request was sent again to another server
//	error       what went wrong and whose failure it was, the server's or
//	            the client's (one of the Err* of Record.Error); only on the
//	            lines of requests where something did
//	user        who an auth middleware found the client to be: the user name,
//	            or an API key's id (never a credential); only when one did
//	userAgent   the User-Agent header
//
// No other header is ever written: not Authorization, not Cookie, not any
// other credential. Long values are cut (path at 2048 bytes, user agent at
// 512, host at 256).
//
// The request never waits on disk: Observe formats the line into a pooled
// buffer on the request's goroutine and hands it to a bounded queue (8192
// lines). One writer goroutine drains the queue every 10ms (sooner when it is
// half full) into a buffered writer, which it flushes after each drain, so a
// line is on its way to the file within about 10ms. When the queue is full
// the line is dropped and counted (Dropped). The goroutine belongs to the
// AccessLog: Close stops it.
//
// Reopen opens the file again by its path, for log rotation (rename the file,
// then tell usher, with SIGUSR1): the writer goroutine itself finishes the
// lines queued for the old file, then switches, so no line is lost or split.
type AccessLog struct {
	text bool
	path string // the file's path; "" for stdout and stderr, which are not reopened

	// w and closer belong to the writer goroutine, and to Close once it has
	// stopped.
	w      io.Writer
	closer io.Closer // nil for stdout and stderr, which usher does not own

	queue  chan *[]byte
	wake   chan struct{}   // nudges the writer when the queue fills up
	reopen chan chan error // asks the writer to reopen the file; it answers on the channel
	stop   chan struct{}
	done   chan struct{}

	closed    atomic.Bool
	dropped   atomic.Uint64
	writeErrs atomic.Uint64
	closeOnce sync.Once
	closeErr  error
}

const (
	accessLogQueue = 8192                  // lines waiting for the writer
	accessLogDrain = 10 * time.Millisecond // the writer drains and flushes this often
	accessLogBuf   = 64 << 10              // the writer's buffer

	maxPath      = 2048
	maxUserAgent = 512
	maxHost      = 256
	maxShort     = 128 // request id, method, protocol
	maxServer    = 512
)

// NewAccessLog opens the access log: path is "stdout", "stderr" or a file,
// opened for appending (created with mode 0640); format is "json" (also for
// "") or "text". The caller owns it and must Close it.
func NewAccessLog(path, format string) (*AccessLog, error) {
	if format != "" && format != "json" && format != "text" {
		return nil, fmt.Errorf("access log format %q is not one of json, text", format)
	}
	switch path {
	case "", "stdout":
		return newAccessLog(os.Stdout, nil, format, accessLogQueue), nil
	case "stderr":
		return newAccessLog(os.Stderr, nil, format, accessLogQueue), nil
	}
	f, err := openAccessLog(path)
	if err != nil {
		return nil, err
	}
	a := newAccessLog(f, f, format, accessLogQueue)
	a.path = path
	return a, nil
}

func openAccessLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	return f, nil
}

func newAccessLog(w io.Writer, c io.Closer, format string, queue int) *AccessLog {
	a := &AccessLog{
		text:   format == "text",
		w:      w,
		closer: c,
		queue:  make(chan *[]byte, queue),
		wake:   make(chan struct{}, 1),
		reopen: make(chan chan error),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go a.run()
	return a
}

// errAccessLogClosed is what Reopen says after Close.
var errAccessLogClosed = errors.New("access log: closed")

// Reopen closes the log file and opens it again by its path (creating it),
// as log rotation needs: after logrotate (or an operator) renamed the file,
// the lines go to a new file of the old name. Every line observed before
// Reopen is called goes to the old file or the new one, none is lost; every
// line observed after it returns goes to the new one. It is safe while
// requests are being logged, which never wait for it. When the file cannot
// be opened, the log keeps writing to the old file and Reopen says why. For
// stdout, stderr and a nil *AccessLog it does nothing.
func (a *AccessLog) Reopen() error {
	if a == nil || a.path == "" {
		return nil
	}
	answer := make(chan error, 1)
	select {
	case a.reopen <- answer:
		return <-answer
	case <-a.done:
		return errAccessLogClosed
	}
}

// Dropped is the number of lines dropped because the queue was full.
func (a *AccessLog) Dropped() uint64 { return a.dropped.Load() }

// WriteErrors is the number of failed writes (each may lose a buffer of lines).
func (a *AccessLog) WriteErrors() uint64 { return a.writeErrs.Load() }

// Close writes the lines queued so far, flushes, stops the writer goroutine
// and closes the file. Lines observed after Close (or while it runs) are
// dropped. Closing twice is harmless.
func (a *AccessLog) Close() error {
	if a == nil {
		return nil
	}
	a.closeOnce.Do(func() {
		a.closed.Store(true)
		close(a.stop)
		<-a.done
		if a.closer != nil {
			a.closeErr = a.closer.Close()
		}
	})
	return a.closeErr
}

// Observe queues the line of one request. It never blocks. A nil *AccessLog
// (no accessLog configured) does nothing.
func (a *AccessLog) Observe(r *http.Request, rec *Record) {
	if a == nil || a.closed.Load() {
		return
	}
	bp := getBuf()
	if a.text {
		*bp = appendText((*bp)[:0], r, rec)
	} else {
		*bp = appendJSON((*bp)[:0], r, rec)
	}
	select {
	case a.queue <- bp:
		if len(a.queue) > cap(a.queue)/2 { // a burst: drain before the next tick
			select {
			case a.wake <- struct{}{}:
			default:
			}
		}
	default:
		a.dropped.Add(1)
		putBuf(bp)
	}
}

func (a *AccessLog) run() {
	defer close(a.done)
	bw := bufio.NewWriterSize(a.w, accessLogBuf)
	tick := time.NewTicker(accessLogDrain)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-a.wake:
		case answer := <-a.reopen:
			answer <- a.switchFile(bw)
			continue
		case <-a.stop:
			a.drain(bw)
			a.flush(bw)
			return
		}
		a.drain(bw)
		a.flush(bw)
	}
}

// switchFile writes what is queued to the old file, then opens the path
// again and writes to the new file from now on.
func (a *AccessLog) switchFile(bw *bufio.Writer) error {
	a.drain(bw)
	a.flush(bw)
	f, err := openAccessLog(a.path)
	if err != nil {
		return err
	}
	old := a.closer
	a.w, a.closer = f, f
	bw.Reset(f)
	if old != nil {
		if err := old.Close(); err != nil {
			return fmt.Errorf("access log: closing the old file: %w", err)
		}
	}
	return nil
}

// drain writes the lines queued now. The writer never waits on the queue
// itself: a receiver parked on the channel would make every Observe pay for
// waking it (a futex call), where a send into a buffered channel nobody waits
// on is a few nanoseconds.
func (a *AccessLog) drain(bw *bufio.Writer) {
	for {
		select {
		case bp := <-a.queue:
			a.write(bw, bp)
		default:
			return
		}
	}
}

func (a *AccessLog) write(bw *bufio.Writer, bp *[]byte) {
	if _, err := bw.Write(*bp); err != nil {
		a.failed(bw)
	}
	putBuf(bp)
}

func (a *AccessLog) flush(bw *bufio.Writer) {
	if bw.Buffered() > 0 && bw.Flush() != nil {
		a.failed(bw)
	}
}

// failed counts a write error and starts afresh: a bufio.Writer keeps its
// first error forever, and a full disk that frees up must not end the log.
func (a *AccessLog) failed(bw *bufio.Writer) {
	a.writeErrs.Add(1)
	bw.Reset(a.w)
}

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getBuf() *[]byte { return lineBufs.Get().(*[]byte) }

func putBuf(bp *[]byte) {
	if cap(*bp) > 16<<10 { // one huge line must not pin memory
		return
	}
	lineBufs.Put(bp)
}

// statusOf is the status the client got: a handler that wrote nothing got the
// 200 net/http sends for it.
func statusOf(rec *Record) int {
	if rec.Status == 0 {
		return http.StatusOK
	}
	return rec.Status
}

// requestPath is the path the client asked for, as it sent it (escaped, not
// rewritten by middlewares), without the query string.
func requestPath(r *http.Request) string {
	p := r.RequestURI
	if p == "" || (p[0] != '/' && p != "*") {
		// Absolute form (a proxy request) or a request built in code.
		if r.URL == nil {
			return ""
		}
		return r.URL.EscapedPath()
	}
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return p
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func appendJSON(b []byte, r *http.Request, rec *Record) []byte {
	start := rec.Start
	if start.IsZero() {
		start = time.Now()
	}
	b = append(b, `{"time":"`...)
	b = start.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","requestId":`...)
	b = appendJSONString(b, cut(rec.RequestID, maxShort))
	b = append(b, `,"clientIp":"`...)
	if rec.ClientIP.IsValid() {
		b = rec.ClientIP.AppendTo(b)
	}
	b = append(b, `","method":`...)
	b = appendJSONString(b, cut(r.Method, maxShort))
	b = append(b, `,"host":`...)
	b = appendJSONString(b, cut(r.Host, maxHost))
	b = append(b, `,"path":`...)
	b = appendJSONString(b, cut(requestPath(r), maxPath))
	b = append(b, `,"protocol":`...)
	b = appendJSONString(b, cut(r.Proto, maxShort))
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(statusOf(rec)), 10)
	b = append(b, `,"bytesIn":`...)
	b = strconv.AppendInt(b, rec.BytesIn, 10)
	b = append(b, `,"bytesOut":`...)
	b = strconv.AppendInt(b, rec.BytesOut, 10)
	b = append(b, `,"durationMs":`...)
	b = appendMillis(b, rec.Duration)
	b = append(b, `,"ttfbMs":`...)
	b = appendMillis(b, rec.TTFB)
	b = append(b, `,"entrypoint":`...)
	b = appendJSONString(b, rec.Entrypoint)
	b = append(b, `,"router":`...)
	b = appendJSONString(b, rec.Router)
	b = append(b, `,"service":`...)
	b = appendJSONString(b, rec.Service)
	b = append(b, `,"server":`...)
	b = appendJSONString(b, serverOf(rec))
	b = append(b, `,"retries":`...)
	b = strconv.AppendInt(b, int64(rec.Retries), 10)
	if rec.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, rec.Error)
	}
	if u := rec.Identity.Name(); u != "" {
		b = append(b, `,"user":`...)
		b = appendJSONString(b, cut(u, maxShort))
	}
	b = append(b, `,"userAgent":`...)
	b = appendJSONString(b, cut(userAgent(r), maxUserAgent))
	return append(b, "}\n"...)
}

func appendText(b []byte, r *http.Request, rec *Record) []byte {
	start := rec.Start
	if start.IsZero() {
		start = time.Now()
	}
	b = append(b, "time="...)
	b = start.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, " requestId="...)
	b = appendTextValue(b, cut(rec.RequestID, maxShort))
	b = append(b, " clientIp="...)
	if rec.ClientIP.IsValid() {
		b = rec.ClientIP.AppendTo(b)
	} else {
		b = append(b, `""`...)
	}
	b = append(b, " method="...)
	b = appendTextValue(b, cut(r.Method, maxShort))
	b = append(b, " host="...)
	b = appendTextValue(b, cut(r.Host, maxHost))
	b = append(b, " path="...)
	b = appendTextValue(b, cut(requestPath(r), maxPath))
	b = append(b, " protocol="...)
	b = appendTextValue(b, cut(r.Proto, maxShort))
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(statusOf(rec)), 10)
	b = append(b, " bytesIn="...)
	b = strconv.AppendInt(b, rec.BytesIn, 10)
	b = append(b, " bytesOut="...)
	b = strconv.AppendInt(b, rec.BytesOut, 10)
	b = append(b, " durationMs="...)
	b = appendMillis(b, rec.Duration)
	b = append(b, " ttfbMs="...)
	b = appendMillis(b, rec.TTFB)
	b = append(b, " entrypoint="...)
	b = appendTextValue(b, rec.Entrypoint)
	b = append(b, " router="...)
	b = appendTextValue(b, rec.Router)
	b = append(b, " service="...)
	b = appendTextValue(b, rec.Service)
	b = append(b, " server="...)
	b = appendTextValue(b, serverOf(rec))
	b = append(b, " retries="...)
	b = strconv.AppendInt(b, int64(rec.Retries), 10)
	if rec.Error != "" {
		b = append(b, " error="...)
		b = appendTextValue(b, rec.Error)
	}
	if u := rec.Identity.Name(); u != "" {
		b = append(b, " user="...)
		b = appendTextValue(b, cut(u, maxShort))
	}
	b = append(b, " userAgent="...)
	b = appendTextValue(b, cut(userAgent(r), maxUserAgent))
	return append(b, '\n')
}

// userAgent reads the header without canonicalizing its name (it is already).
func userAgent(r *http.Request) string {
	if v := r.Header["User-Agent"]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// serverOf is the server's URL without credentials. Cutting the userinfo out
// allocates, but only for the rare URL that has one.
func serverOf(rec *Record) string {
	return cut(redactURL(rec.Server), maxServer)
}

// appendMillis writes d in milliseconds with three decimals (microseconds).
func appendMillis(b []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	us := int64(d / time.Microsecond)
	b = strconv.AppendInt(b, us/1000, 10)
	f := us % 1000
	return append(b, '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
}

const hexDigits = "0123456789abcdef"

// jsonPlain tells the bytes a JSON string holds as they are: printable ASCII
// but the quote and the backslash.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD;
// control characters and U+2028/U+2029 are escaped, so that a line is always
// one valid JSON object on one line.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if jsonPlain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendTextValue writes s bare when it is made of printable ASCII without
// spaces, quotes or '=', and as a Go-quoted string otherwise (empty: "").
func appendTextValue(b []byte, s string) []byte {
	if s == "" {
		return append(b, `""`...)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '=' || c == '\\' {
			return strconv.AppendQuote(b, s)
		}
	}
	return append(b, s...)
}
