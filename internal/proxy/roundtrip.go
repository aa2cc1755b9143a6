package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/usher-lb/usher/internal/wire"
)

// Error is why an exchange with a server failed.
type Error struct {
	Op      string // dial | write | read
	NotSent bool   // the request never reached the server: safe to send elsewhere whatever its method
	Timeout bool   // the server did not answer in time
	Err     error
	// unanswered: not one byte of a response came (see isStale)
	unanswered bool
}

func (e *Error) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ErrCanceled is returned when the client went away during the exchange.
var ErrCanceled = errors.New("client canceled the request")

var (
	// errMalformed is a response that is not HTTP/1.x as we read it.
	errMalformed = errors.New("malformed response from server")
	// errUpgrade is a 101 to a request that did not ask to switch protocols.
	errUpgrade = errors.New("server switched protocols (101) unasked")
	// errInterim is a server sending more interim (1xx) responses than a
	// client can be expected to take (see maxInterim).
	errInterim = errors.New("too many interim (1xx) responses from server")
	// errBodyFailed wakes a reader whose exchange ended on the client's body.
	errBodyFailed = errors.New("client request body failed")
)

const (
	// maxInterim and maxInterimBytes bound the interim responses (100, 103…)
	// before a final one: their number and their heads' bytes together.
	maxInterim      = 8
	maxInterimBytes = 32 << 10
	// inlineBodyMax is the largest request body (of known length) written by
	// the handler's goroutine before it reads the response. A larger one, or
	// one of unknown length, is written by a goroutine of its own while the
	// response is read, so that a server's early answer (a 413 while the
	// upload goes on, then a close) reaches the client.
	inlineBodyMax = 16 << 10
)

// RequestOptions are per-service choices about the outgoing request.
type RequestOptions struct {
	PassHost bool // send the client's Host; else the server URL's host
}

// Response is a server's response whose status line and headers have been read;
// its body is still on the connection. Exactly one of WriteTo or Discard ends it.
type Response struct {
	Status int
	up     *Upstream
	c      *conn
	ctx    context.Context
	// Start is when the exchange began (the request was about to be written).
	Start  time.Time
	isHead bool

	// framing of the body
	contentLength int64 // -1 = unknown
	chunked       bool
	closeAfter    bool // the connection can't be reused after this response

	writing   bool                // a body writer goroutine may still run: finish waits for it
	client    http.ResponseWriter // the client's writer, while writing (nil: none)
	answered  bool                // a byte of the response came
	headBytes int                 // bytes of the heads read, interim ones included
	interims  int                 // interim responses read

	keys  []string
	vals  []string
	clStr string // the Content-Length value as the server sent it

	h2 *h2Response // the response came over HTTP/2 (c is nil)
}

// newResponse returns the connection's Response, reset for a new exchange. A
// connection serves one exchange at a time, so one Response (and its header
// slices) is reused for all: a Response is valid until WriteTo or Discard.
func (c *conn) newResponse(up *Upstream, ctx context.Context, r *http.Request, start time.Time) *Response {
	resp := &c.resp
	*resp = Response{up: up, c: c, ctx: ctx, isHead: r.Method == http.MethodHead, Start: start, keys: resp.keys[:0], vals: resp.vals[:0]}
	return resp
}

// BodyPending tells whether the server answered before the request's body was
// all sent: the body is still being written beside the response. Whoever
// would look at the request's body (to send it again) must end the response
// first (Discard), which stops the writer.
func (resp *Response) BodyPending() bool {
	if resp.h2 != nil {
		return resp.h2.body != nil && !resp.h2.done.Load()
	}
	return resp.writing
}

// Header returns the first value of the response header k (canonical form).
func (resp *Response) Header(k string) string {
	if resp.h2 != nil {
		if vv := resp.h2.hr.Header[k]; len(vv) > 0 {
			return vv[0]
		}
		return ""
	}
	for i, kk := range resp.keys {
		if kk == k {
			return resp.vals[i]
		}
	}
	return ""
}

// RoundTrip sends r to the server and reads the response headers. On error, no
// response was written and the connection is gone; the error is a *BodyError
// when reading the client's request body failed, ErrCanceled when the client
// went away, else an *Error. The request body is read (and so consumed) when
// r has one. Interim responses are not returned: a 103 (Early Hints) is
// passed on to w at once (when w is not nil), the others are dropped.
func (up *Upstream) RoundTrip(w http.ResponseWriter, r *http.Request, ro RequestOptions) (*Response, error) {
	ctx := r.Context()
	if up.useH2(ctx) {
		return up.roundTripH2(w, r, ro)
	}
	c, err := up.get(ctx)
	if err != nil {
		return nil, classify("dial", err, ctx, true)
	}
	resp, err := up.exchange(ctx, c, w, r, ro, r.Body, r.GetBody == nil, nil)
	if err == nil {
		return resp, nil
	}
	if !c.reused || !isStale(err) {
		c.body.release()
		return nil, err
	}
	// The pooled connection was closed by the server as the request went out
	// (its keep-alive timeout ran out as we sent): no byte of an answer came.
	// Send the request again, once, on a fresh connection, when its body can
	// be sent again.
	body, spare, ok := c.body.replay(r)
	c.body.release()
	if !ok {
		return nil, err
	}
	c, err = up.dial(ctx)
	if err != nil {
		putSpare(spare)
		return nil, classify("dial", err, ctx, true)
	}
	resp, err = up.exchange(ctx, c, w, r, ro, body, false, spare)
	if err != nil {
		c.body.release()
	}
	return resp, err
}

// isStale tells whether err is what a reused connection closed by the server
// looks like: the connection ended, or was reset, before any byte of a
// response arrived.
func isStale(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.Timeout || !e.unanswered {
		return false
	}
	return errors.Is(e.Err, io.EOF) || errors.Is(e.Err, io.ErrUnexpectedEOF) ||
		errors.Is(e.Err, net.ErrClosed) || isConnReset(e.Err)
}

func isConnReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && (strings.Contains(op.Err.Error(), "reset") || strings.Contains(op.Err.Error(), "broken pipe"))
}

func classify(op string, err error, ctx context.Context, notSent bool) error {
	if ctx.Err() != nil {
		return ErrCanceled
	}
	var ne net.Error
	timeout := errors.As(err, &ne) && ne.Timeout()
	return &Error{Op: op, NotSent: notSent, Timeout: timeout, Err: err}
}

// exchange sends r, with body as its body, on c and reads the response head.
// keep says to keep what is sent of the body for a replay; spare is the
// buffer of an earlier try that body replays, released with this try's.
func (up *Upstream) exchange(ctx context.Context, c *conn, w http.ResponseWriter, r *http.Request, ro RequestOptions, body io.Reader, keep bool, spare *[]byte) (*Response, error) {
	start := time.Now()
	c.watch(start)
	length := r.ContentLength
	if body == nil || body == http.NoBody || length == 0 {
		length = 0
	}
	c.body.reset(body, length, keep && length != 0)
	c.body.spare = spare
	resp := c.newResponse(up, ctx, r, start)
	up.writeHead(c.bw, r, ro, false, length)
	var werr error // the server would not take the request: it may have answered already
	if length >= 0 && length <= inlineBodyMax {
		werr = c.writeBody()
		if werr != nil && c.body.err != nil {
			c.nc.Close()
			return nil, &BodyError{c.body.err}
		}
		at := start
		if length > 0 {
			at = time.Now()
		}
		c.wroteAt.Store(at.UnixNano())
	} else {
		c.wroteAt.Store(0)
		c.bodyFailed.Store(false)
		if c.wdone == nil {
			c.wdone = make(chan error, 1)
		}
		if w != nil {
			// net/http's HTTP/1 server would otherwise stop the body once the
			// response begins; usher's own and HTTP/2 are full duplex anyway.
			_ = http.NewResponseController(w).EnableFullDuplex()
		}
		resp.writing, resp.client = true, w
		go c.writeAsync()
	}
	for {
		if err := resp.awaitHead(); err != nil {
			return resp.fail(err, werr)
		}
		if err := resp.readHead(); err != nil {
			return resp.fail(err, werr)
		}
		if resp.Status >= 200 {
			break
		}
		if resp.Status == http.StatusSwitchingProtocols {
			return resp.fail(errUpgrade, nil)
		}
		if resp.interims++; resp.interims > maxInterim || resp.headBytes > maxInterimBytes {
			return resp.fail(errInterim, nil)
		}
		if resp.Status == http.StatusEarlyHints && w != nil && r.ProtoAtLeast(1, 1) {
			resp.forwardHints(w)
		}
	}
	if werr != nil {
		resp.closeAfter = true // part of the request is not sent: the connection is out of step
	}
	if resp.writing {
		select {
		case err := <-c.wdone:
			resp.writing = false
			if err != nil {
				resp.closeAfter = true
			}
		default: // an answer before the whole body: finish waits for the writer
		}
	}
	if !resp.writing {
		c.body.release()
	}
	return resp, nil
}

// fail ends an exchange that got no usable response head: the connection is
// closed, a body writer is waited for, and the error says whose failure it
// was. werr is the failure to write the request that came before, if any.
func (resp *Response) fail(err, werr error) (*Response, error) {
	c := resp.c
	c.nc.Close()
	if resp.writing {
		resp.writing = false
		if e := <-c.wdone; e != nil {
			werr = e
		}
	}
	if c.body.err != nil {
		return nil, &BodyError{c.body.err}
	}
	op := "read"
	if werr != nil && !resp.answered {
		op, err = "write", werr
	}
	err = classify(op, err, resp.ctx, false)
	if e, ok := err.(*Error); ok {
		e.unanswered = !resp.answered
	}
	return nil, err
}

// writeAsync writes the request body, for exchange, while the response is
// read. A failure of the client's body ends the exchange: the reader is woken.
func (c *conn) writeAsync() {
	err := c.writeBody()
	if err != nil && c.body.err != nil {
		c.bodyFailed.Store(true)
		c.nc.SetReadDeadline(aLongTimeAgo)
	}
	c.wroteAt.Store(time.Now().UnixNano())
	c.wdone <- err
}

// forwardHints passes a 103 on to the client with the server's fields only:
// those already set on w (by usher, by middlewares) are held back meanwhile,
// and come back for the final response.
func (resp *Response) forwardHints(w http.ResponseWriter) {
	h := w.Header()
	saved := make(http.Header, len(h))
	for k, v := range h {
		saved[k] = v
	}
	clear(h)
	for i, k := range resp.keys {
		h[k] = append(h[k], resp.vals[i])
	}
	w.WriteHeader(http.StatusEarlyHints)
	clear(h)
	for k, v := range saved {
		h[k] = v
	}
}

// watchEvery is how often a blocked read on a server wakes up to check that
// its client is still there and that the response header timeout has not
// passed. Watching this way costs nothing per request (no timer, no callback
// registered on the request's context): the read deadline in force is moved
// only when less than 90% of watchEvery is left, and a read wakes only when it
// has waited that long. A client that goes away is noticed within watchEvery.
const watchEvery = 250 * time.Millisecond

// watch makes sure a read deadline of about watchEvery from now is in force.
func (c *conn) watch(now time.Time) {
	c.lastUsed = now
	if c.deadline.Sub(now) >= watchEvery-watchEvery/10 {
		return
	}
	c.deadline = now.Add(watchEvery)
	c.nc.SetReadDeadline(c.deadline)
}

// keepWaiting is called when a read on the server hit the watch deadline. It
// tells whether to wait on (and moves the deadline); otherwise the error says
// why not: the client went away, its request body failed, or the response
// headers are late. The response header timeout runs from the end of the
// request: not while its body is still being sent.
func (resp *Response) keepWaiting(err error, headers bool) error {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	if resp.ctx.Err() != nil {
		return ErrCanceled
	}
	c := resp.c
	if headers && c.bodyFailed.Load() {
		return errBodyFailed
	}
	now := time.Now()
	if t := resp.up.opts.ResponseHeaderTimeout; headers && t > 0 {
		if from := c.wroteAt.Load(); from != 0 && now.UnixNano()-from >= int64(t) {
			return err
		}
	}
	c.deadline = time.Time{}
	c.watch(now)
	return nil
}

// awaitHead waits until the response's first bytes arrive, then until its
// whole header block is buffered when it came in pieces, watching the client
// and the response header timeout meanwhile. readHead then parses buffered
// bytes only and never meets the watch deadline halfway through a line.
func (resp *Response) awaitHead() error {
	br := resp.c.br
	for {
		_, err := br.Peek(1)
		if err == nil {
			break
		}
		if err = resp.keepWaiting(err, true); err != nil {
			return err
		}
	}
	resp.answered = true
	for !headBuffered(br) {
		if br.Buffered() == br.Size() {
			return errMalformed // a header block larger than the buffer
		}
		_, err := br.Peek(br.Buffered() + 1)
		if err != nil {
			if err = resp.keepWaiting(err, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// headBuffered tells whether br holds a whole header block (up to an empty line).
func headBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\n' && (b[i+1] == '\n' || (b[i+1] == '\r' && i+2 < len(b) && b[i+2] == '\n')) {
			return true
		}
	}
	return false
}

// writeHead writes the request line and headers into bw, framed for a body
// of length bytes (-1: unknown, sent chunked). upgrade keeps the
// Connection/Upgrade pair for a protocol switch.
func (up *Upstream) writeHead(bw *bufio.Writer, r *http.Request, ro RequestOptions, upgrade bool, length int64) {
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(up.prefix)
	if p := r.URL.EscapedPath(); p != "" {
		bw.WriteString(p)
	} else {
		bw.WriteByte('/')
	}
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		bw.WriteByte('?')
		bw.WriteString(r.URL.RawQuery)
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	if ro.PassHost && r.Host != "" {
		bw.WriteString(r.Host)
	} else {
		bw.WriteString(up.host)
	}
	bw.WriteString("\r\n")

	conn := r.Header["Connection"]
	var extraHop map[string]bool
	if len(conn) > 0 {
		wire.ConnectionTokens(conn, func(k string) {
			if extraHop == nil {
				extraHop = map[string]bool{}
			}
			extraHop[k] = true
		})
	}
	for k, vv := range r.Header {
		if isHop(k) || extraHop[k] {
			continue
		}
		for _, v := range vv {
			wire.WriteField(bw, k, v)
		}
	}
	if upgrade {
		bw.WriteString("Connection: Upgrade\r\nUpgrade: ")
		bw.WriteString(r.Header.Get("Upgrade"))
		bw.WriteString("\r\n")
	}
	switch {
	case length == 0:
		if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
			bw.WriteString("Content-Length: 0\r\n")
		}
	case length > 0:
		bw.WriteString("Content-Length: ")
		var nb [20]byte
		bw.Write(strconv.AppendInt(nb[:0], length, 10))
		bw.WriteString("\r\n")
	default:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	bw.WriteString("\r\n")
}

// writeBody writes the request body (c.body) after the head and flushes. A
// failure to read the client's body is in c.body.err.
func (c *conn) writeBody() error {
	bw := c.bw
	switch b := &c.body; {
	case b.remain == 0:
	case b.remain > 0:
		if _, err := io.Copy(bw, b); err != nil {
			return err
		}
		if b.remain > 0 {
			b.err = io.ErrUnexpectedEOF
			return fmt.Errorf("request body: %w", b.err)
		}
	default:
		if err := bw.Flush(); err != nil {
			return err
		}
		return writeChunked(bw, b)
	}
	return bw.Flush()
}

// writeChunked streams body in chunks as it arrives, flushing each, so that a
// streaming upload is not held back.
func writeChunked(bw *bufio.Writer, body io.Reader) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, err := body.Read(buf)
		if n > 0 {
			bw.WriteString(strconv.FormatInt(int64(n), 16))
			bw.WriteString("\r\n")
			bw.Write(buf[:n])
			bw.WriteString("\r\n")
			if ferr := bw.Flush(); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			bw.WriteString("0\r\n\r\n")
			return bw.Flush()
		}
		if err != nil {
			return fmt.Errorf("request body: %w", err)
		}
	}
}

// readHead reads a status line and header block into resp.
func (resp *Response) readHead() error {
	br := resp.c.br
	raw, err := br.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return errMalformed
		}
		return err
	}
	resp.headBytes += len(raw)
	// HTTP/1.x SP 3DIGIT SP [reason] CRLF; the SP before an empty reason may
	// be missing, as many servers send it.
	line, ok := wire.CutCRLF(raw)
	if !ok || len(line) < 12 || string(line[:7]) != "HTTP/1." || (line[7] != '0' && line[7] != '1') ||
		line[8] != ' ' || (len(line) > 12 && (line[12] != ' ' || !wire.ValidValue(line[13:]))) {
		return errMalformed
	}
	minor := line[7]
	code := 0
	for _, d := range line[9:12] {
		if d < '0' || d > '9' {
			return errMalformed
		}
		code = code*10 + int(d-'0')
	}
	if code < 100 {
		return errMalformed
	}
	resp.Status = code
	resp.keys = resp.keys[:0]
	resp.vals = resp.vals[:0]
	resp.contentLength = -1
	resp.chunked = false
	resp.closeAfter = minor == '0'
	keepAlive10 := false
	te := false      // a Transfer-Encoding came
	var hop []string // headers named in Connection: hop-by-hop too
	for {
		raw, err := br.ReadSlice('\n')
		if err != nil {
			if err == bufio.ErrBufferFull {
				return errMalformed
			}
			return err
		}
		resp.headBytes += len(raw)
		line, ok := wire.CutCRLF(raw)
		if !ok {
			return errMalformed
		}
		if len(line) == 0 {
			break
		}
		i := 0
		for i < len(line) && line[i] != ':' {
			if !wire.IsTokenChar(line[i]) {
				return errMalformed // obs-fold (a leading space) included
			}
			i++
		}
		if i == 0 || i == len(line) {
			return errMalformed
		}
		k := wire.CanonicalKey(line[:i])
		v := wire.TrimOWS(line[i+1:])
		if !wire.ValidValue(v) {
			return errMalformed
		}
		switch k {
		case "Content-Length":
			n, ok := parseLength(v)
			if !ok || (resp.contentLength >= 0 && n != resp.contentLength) {
				return errMalformed
			}
			resp.contentLength = n
			resp.clStr = resp.c.intern(k, v)
			continue
		case "Transfer-Encoding":
			// chunked, once, and nothing else.
			if te || !onlyChunked(v) {
				return errMalformed
			}
			resp.chunked, te = true, true
			continue
		case "Connection":
			if wire.HasTokenBytes(v, "close") {
				resp.closeAfter = true
			}
			if wire.HasTokenBytes(v, "keep-alive") {
				keepAlive10 = true
			}
			wire.ConnectionTokens([]string{string(v)}, func(k string) { hop = append(hop, k) })
			if code != http.StatusSwitchingProtocols {
				continue
			}
		case "Upgrade":
			if code != http.StatusSwitchingProtocols {
				continue
			}
		case "Trailer":
			// Kept: it announces the trailers, which makes the next hop
			// send the body chunked so that they can follow it.
		default:
			if isHop(k) { // Keep-Alive, Proxy-Connection, Te…: this hop's only
				continue
			}
		}
		resp.keys = append(resp.keys, k)
		resp.vals = append(resp.vals, resp.c.intern(k, v))
	}
	if len(hop) > 0 && code != http.StatusSwitchingProtocols {
		resp.dropKeys(hop)
	}
	if minor == '0' && keepAlive10 && !te {
		resp.closeAfter = false
	}
	if te {
		// Transfer-Encoding overrides Content-Length; both, or chunked on
		// HTTP/1.0, is framing a peer could read otherwise: the connection
		// is not used again (RFC 9112 6.1, 6.3).
		if resp.contentLength >= 0 || minor == '0' {
			resp.closeAfter = true
		}
		resp.contentLength = -1
	}
	return nil
}

// parseLength parses a Content-Length value: 1 to 18 digits, nothing else
// (no sign, no space, no list).
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// onlyChunked tells whether the transfer codings v list are chunked alone.
// Any other coding (gzip, compress…) would leave a body the client cannot be
// told how to read, since Transfer-Encoding does not cross usher (as Go's
// own client, usher refuses them).
func onlyChunked(v []byte) bool {
	return strings.EqualFold(string(wire.TrimOWS(v)), "chunked")
}

func (resp *Response) dropKeys(drop []string) {
	j := 0
	for i, k := range resp.keys {
		if slices.Contains(drop, k) {
			continue
		}
		resp.keys[j], resp.vals[j] = k, resp.vals[i]
		j++
	}
	resp.keys, resp.vals = resp.keys[:j], resp.vals[:j]
}

// wait is called when a read of the response body failed with err: nil
// when it only met the watch deadline and the client is still there (read
// on), else why the body ends here: the client went away (a clientError), or
// the server failed.
func (resp *Response) wait(err error) error {
	err = resp.keepWaiting(err, false)
	if err == ErrCanceled {
		return &clientError{err}
	}
	return err
}
