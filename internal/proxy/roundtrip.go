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
}

func (e *Error) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ErrCanceled is returned when the client went away during the exchange.
var ErrCanceled = errors.New("client canceled the request")

// errMalformed is a response that is not HTTP/1.x as we read it.
var errMalformed = errors.New("malformed response from server")

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

	keys  []string
	vals  []string
	clStr string // the Content-Length value as the server sent it
}

// newResponse returns the connection's Response, reset for a new exchange. A
// connection serves one exchange at a time, so one Response (and its header
// slices) is reused for all: a Response is valid until WriteTo or Discard.
func (c *conn) newResponse(up *Upstream, ctx context.Context, r *http.Request, start time.Time) *Response {
	resp := &c.resp
	*resp = Response{up: up, c: c, ctx: ctx, isHead: r.Method == http.MethodHead, Start: start, keys: resp.keys[:0], vals: resp.vals[:0]}
	return resp
}

// Header returns the first value of the response header k (canonical form).
func (resp *Response) Header(k string) string {
	for i, kk := range resp.keys {
		if kk == k {
			return resp.vals[i]
		}
	}
	return ""
}

// RoundTrip sends r to the server and reads the response headers. On error, no
// response was written and the connection is gone. The request body is read
// (and so consumed) when r has one.
func (up *Upstream) RoundTrip(r *http.Request, ro RequestOptions) (*Response, error) {
	ctx := r.Context()
	c, err := up.get(ctx)
	if err != nil {
		return nil, classify("dial", err, ctx, true)
	}
	resp, err := up.exchange(ctx, c, r, ro)
	if err != nil && c.reused && replayable(r) && isStale(err) {
		// The pooled connection was closed by the server while idle: the request
		// did not reach it, try once on a new connection.
		c, err = up.dial(ctx)
		if err != nil {
			return nil, classify("dial", err, ctx, true)
		}
		if r.GetBody != nil && r.Body != nil && r.Body != http.NoBody {
			if r.Body, err = r.GetBody(); err != nil {
				c.nc.Close()
				return nil, &Error{Op: "write", Err: err}
			}
		}
		resp, err = up.exchange(ctx, c, r, ro)
	}
	return resp, err
}

// replayable tells whether r can be sent again: no body, or a body that can be
// produced anew.
func replayable(r *http.Request) bool {
	return r.Body == nil || r.Body == http.NoBody || r.GetBody != nil
}

// isStale tells whether err is what a reused connection closed by the server
// looks like before any byte of a response arrived.
func isStale(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.Timeout {
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

func (up *Upstream) exchange(ctx context.Context, c *conn, r *http.Request, ro RequestOptions) (*Response, error) {
	start := time.Now()
	c.watch(start)
	fail := func(op string, err error) (*Response, error) {
		c.nc.Close()
		return nil, classify(op, err, ctx, false)
	}
	if err := up.writeRequest(c.bw, r, ro, false); err != nil {
		return fail("write", err)
	}
	resp := c.newResponse(up, ctx, r, start)
	for {
		if err := resp.awaitHead(); err != nil {
			return fail("read", err)
		}
		if err := resp.readHead(); err != nil {
			return fail("read", err)
		}
		// 1xx other than 101 are interim: the final response follows.
		if resp.Status >= 200 || resp.Status == http.StatusSwitchingProtocols {
			break
		}
	}
	return resp, nil
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
// why not: the client went away, or the response headers are late.
func (resp *Response) keepWaiting(err error, headers bool) error {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	if resp.ctx.Err() != nil {
		return ErrCanceled
	}
	now := time.Now()
	if t := resp.up.opts.ResponseHeaderTimeout; headers && t > 0 && now.Sub(resp.Start) >= t {
		return err
	}
	resp.c.deadline = time.Time{}
	resp.c.watch(now)
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

// writeRequest writes the request line, headers and body. upgrade keeps the
// Connection/Upgrade pair for a protocol switch.
func (up *Upstream) writeRequest(bw *bufio.Writer, r *http.Request, ro RequestOptions, upgrade bool) error {
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

	hasBody := r.Body != nil && r.Body != http.NoBody
	switch {
	case !hasBody || r.ContentLength == 0:
		if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
			bw.WriteString("Content-Length: 0\r\n")
		}
		bw.WriteString("\r\n")
		return bw.Flush()
	case r.ContentLength > 0:
		bw.WriteString("Content-Length: ")
		var nb [20]byte
		bw.Write(strconv.AppendInt(nb[:0], r.ContentLength, 10))
		bw.WriteString("\r\n\r\n")
		n, err := io.Copy(bw, io.LimitReader(r.Body, r.ContentLength))
		if err != nil {
			return fmt.Errorf("request body: %w", err)
		}
		if n < r.ContentLength {
			return fmt.Errorf("request body: %w", io.ErrUnexpectedEOF)
		}
		return bw.Flush()
	default: // unknown length: chunked
		bw.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		if err := bw.Flush(); err != nil {
			return err
		}
		return writeChunked(bw, r.Body)
	}
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
	var hop []string // headers named in Connection: hop-by-hop too
	for {
		raw, err := br.ReadSlice('\n')
		if err != nil {
			if err == bufio.ErrBufferFull {
				return errMalformed
			}
			return err
		}
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
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || n < 0 || (resp.contentLength >= 0 && n != resp.contentLength) {
				return errMalformed
			}
			resp.contentLength = n
			resp.clStr = resp.c.intern(k, v)
			continue
		case "Transfer-Encoding":
			// Only "chunked" as the last coding frames a message; anything else
			// is read until close.
			if wire.HasTokenBytes(v, "chunked") {
				resp.chunked = true
			} else {
				resp.closeAfter = true
			}
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
	if minor == '0' && keepAlive10 && !resp.chunked {
		resp.closeAfter = false
	}
	if resp.chunked {
		resp.contentLength = -1
	}
	return nil
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

// resume tells whether a body read that failed with err may go on: it only
// met the watch deadline, and the client is still there.
func (resp *Response) resume(err error) bool {
	return resp.keepWaiting(err, false) == nil
}
