package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/usher-lb/usher/internal/wire"
)

// statusError is a request the server refuses: it answers code with text and
// closes the connection.
type statusError struct {
	code int
	text string
}

func (e *statusError) Error() string { return e.text }

func bad(text string) error { return &statusError{http.StatusBadRequest, text} }

var (
	errTooLarge = &statusError{http.StatusRequestHeaderFieldsTooLarge, "request header too large"}
	errVersion  = &statusError{http.StatusHTTPVersionNotSupported, "unsupported HTTP version"}
	errConnect  = &statusError{http.StatusMethodNotAllowed, "CONNECT not supported"}
	errTE       = &statusError{http.StatusNotImplemented, "unsupported transfer encoding"}
	errExpect   = &statusError{http.StatusExpectationFailed, "unsupported expectation"}
	errBareLF   = bad("line not terminated by CRLF")
	// errNotHTTP1 is a request line whose version is not HTTP/x.y at all.
	errNotHTTP1     = bad("malformed HTTP version")
	errShortRequest = errors.New("h1: connection closed inside a request")
)

// hostTable is net/http's set of bytes allowed in a Host value.
var hostTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!$%&'()*+,-.:;=[]_~" {
		t[c] = true
	}
	return
}()

func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		if !hostTable[h[i]] {
			return false
		}
	}
	return true
}

// lineReader reads CRLF-terminated lines from a bufio.Reader within a byte
// budget. Lines longer than the reader's buffer are gathered in scratch.
type lineReader struct {
	br      *bufio.Reader
	budget  int    // bytes left before errTooLarge / limitErr
	scratch []byte // for lines longer than br's buffer
	// more, when set, is called before a read that may block on the socket
	// (no complete line buffered): the server arms the header deadline there.
	more func()
}

// line returns the next line without its CRLF. The slice is valid until the
// next read from br. A bare LF or a CR elsewhere than before the LF is
// refused (RFC 9112 2.2 lets a server reject them; accepting them in some
// places and not others is what request smuggling feeds on).
func (lr *lineReader) line(limitErr error) ([]byte, error) {
	if lr.more != nil {
		if n := lr.br.Buffered(); n == 0 || !hasLF(lr.br, n) {
			lr.more()
		}
	}
	var full []byte
	for {
		b, err := lr.br.ReadSlice('\n')
		lr.budget -= len(b)
		if lr.budget < 0 {
			return nil, limitErr
		}
		if err == nil {
			if full != nil {
				full = append(full, b...)
				b = full
				lr.scratch = full[:0]
			}
			if len(b) < 2 || b[len(b)-2] != '\r' {
				return nil, errBareLF
			}
			b = b[:len(b)-2]
			if bytes.IndexByte(b, '\r') >= 0 {
				return nil, bad("CR inside a line")
			}
			return b, nil
		}
		if err == bufio.ErrBufferFull {
			if full == nil {
				full = lr.scratch[:0]
			}
			full = appendLine(full, b, len(full)+len(b)+lr.budget)
			continue
		}
		if err == io.EOF && (len(b) > 0 || full != nil) {
			return nil, errShortRequest
		}
		return nil, err
	}
}

// appendLine appends b to a long line being gathered. The buffer grows four
// times at a time, never beyond limit (the longest the line may still be
// within the budget): a line of n bytes gets a buffer of at most
// min(4n, limit) and drops a third of that in smaller ones on the way, where
// append's 1.25x growth made a 1 MB line allocate 5 MB.
func appendLine(full, b []byte, limit int) []byte {
	if need := len(full) + len(b); need > cap(full) {
		n := min(max(4*cap(full), need, 2*bufSize), limit)
		grown := make([]byte, len(full), max(n, need))
		copy(grown, full)
		full = grown
	}
	return append(full, b...)
}

func hasLF(br *bufio.Reader, n int) bool {
	b, _ := br.Peek(n)
	return bytes.IndexByte(b, '\n') >= 0
}

// readFields reads field lines up to the empty line into h (canonical keys).
// It is used for the header section and for chunked trailers.
func readFields(lr *lineReader, h http.Header, limitErr error, onField func(key string, val []byte) error) error {
	var strs []string
	for {
		line, err := lr.line(limitErr)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			return bad("obsolete line folding")
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			return bad("malformed header line")
		}
		name := line[:colon]
		if !wire.IsToken(name) {
			return bad("invalid header name")
		}
		val := wire.TrimOWS(line[colon+1:])
		if !wire.ValidValue(val) {
			return bad("invalid header value")
		}
		key := wire.CanonicalKey(name)
		if onField != nil {
			if err := onField(key, val); err != nil {
				return err
			}
		}
		v := internValue(val)
		vv := h[key]
		if vv == nil {
			if len(strs) == 0 {
				// One backing array for the values of the next several keys
				// (as net/textproto does), sized by the lines still buffered.
				n := 8
				if b, _ := lr.br.Peek(lr.br.Buffered()); len(b) > 0 {
					n = bytes.Count(b, []byte{'\n'})
					n = min(max(n, 1), 64)
				}
				strs = make([]string, n)
			}
			strs[0] = v
			h[key] = strs[:1:1]
			strs = strs[1:]
		} else {
			h[key] = append(vv, v)
		}
	}
}

var commonValues = func() map[string]string {
	m := map[string]string{}
	for _, v := range []string{
		"*/*", "close", "keep-alive", "gzip", "gzip, deflate", "gzip, deflate, br",
		"gzip, deflate, br, zstd", "no-cache", "max-age=0", "1", "0", "chunked",
		"100-continue", "websocket", "Upgrade", "upgrade", "trailers", "en-US,en;q=0.9",
		"application/json", "text/html", "text/plain", "same-origin", "cors", "navigate",
		"empty", "document", "?0", "?1",
	} {
		m[v] = v
	}
	return m
}()

func internValue(b []byte) string {
	if s, ok := commonValues[string(b)]; ok {
		return s
	}
	return string(b)
}

// request is what readRequest parses besides the http.Request.
type parsed struct {
	req      *http.Request
	bodyLen  int64 // -1: chunked
	expect   bool  // Expect: 100-continue with a body
	trailers bool  // trailer names declared
}

var methods = map[string]string{
	"GET": "GET", "HEAD": "HEAD", "POST": "POST", "PUT": "PUT", "DELETE": "DELETE",
	"OPTIONS": "OPTIONS", "PATCH": "PATCH", "TRACE": "TRACE", "CONNECT": "CONNECT",
}

// parseRequestLine parses `METHOD SP target SP HTTP/x.y`.
func parseRequestLine(line []byte, r *http.Request) error {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 < 0 {
		return bad("malformed request line")
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 < 0 {
		return bad("malformed request line")
	}
	method, target, proto := line[:sp1], rest[:sp2], rest[sp2+1:]
	if !wire.IsToken(method) {
		return bad("invalid method")
	}
	switch string(proto) {
	case "HTTP/1.1":
		r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	case "HTTP/1.0":
		r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.0", 1, 0
	default:
		if len(proto) == 8 && string(proto[:5]) == "HTTP/" && isDigit(proto[5]) && proto[6] == '.' && isDigit(proto[7]) {
			return errVersion
		}
		return errNotHTTP1
	}
	if m, ok := methods[string(method)]; ok {
		r.Method = m
	} else {
		r.Method = string(method)
	}
	if r.Method == "CONNECT" {
		return errConnect
	}
	if len(target) == 0 {
		return bad("empty request target")
	}
	for _, c := range target {
		// No whitespace, controls, DEL or fragment. Bytes >= 0x80 are let
		// through as net/http and nginx do; url escapes them when the
		// target is written again.
		if c <= ' ' || c == 0x7f || c == '#' {
			return bad("invalid request target")
		}
	}
	r.RequestURI = string(target)
	switch {
	case target[0] == '/':
	case len(target) == 1 && target[0] == '*':
		if r.Method != "OPTIONS" {
			return bad("* target is only for OPTIONS")
		}
	case hasSchemePrefix(target):
	default:
		return bad("invalid request target")
	}
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil {
		return bad("invalid request target")
	}
	if u.Scheme != "" {
		s := strings.ToLower(u.Scheme)
		if (s != "http" && s != "https") || u.Host == "" || u.User != nil || !validHost(u.Host) {
			return bad("invalid absolute-form target")
		}
	}
	r.URL = u
	return nil
}

func hasSchemePrefix(b []byte) bool {
	return len(b) > 7 && (bytes.EqualFold(b[:7], []byte("http://")) || (len(b) > 8 && bytes.EqualFold(b[:8], []byte("https://"))))
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

var emptyRequest http.Request

// readRequest reads one request head. The returned error is a *statusError
// for a request to refuse, or an I/O error.
func readRequest(lr *lineReader, ctx context.Context) (*parsed, error) {
	var line []byte
	var err error
	// RFC 9112 2.2: ignore at least one empty line before the request line.
	for i := 0; ; i++ {
		line, err = lr.line(errTooLarge)
		if err != nil {
			return nil, err
		}
		if len(line) > 0 {
			break
		}
		if i == 4 {
			return nil, bad("empty lines")
		}
	}
	r := emptyRequest.WithContext(ctx)
	h := make(http.Header, 8)
	r.Header = h
	if err := parseRequestLine(line, r); err != nil {
		return nil, err
	}
	if err := readFields(lr, h, errTooLarge, nil); err != nil {
		return nil, err
	}
	p := &parsed{req: r}

	// Host.
	hosts := h["Host"]
	if len(hosts) > 1 || (len(hosts) == 0 && r.ProtoMinor == 1) {
		return nil, bad("missing or repeated Host")
	}
	if len(hosts) == 1 {
		if !validHost(hosts[0]) {
			return nil, bad("invalid Host")
		}
		r.Host = hosts[0]
		delete(h, "Host")
	}
	if r.URL.Host != "" {
		r.Host = r.URL.Host // absolute-form wins over the Host field
	}

	// Framing.
	te, hasTE := h["Transfer-Encoding"]
	cl, hasCL := h["Content-Length"]
	if hasTE {
		if r.ProtoMinor == 0 {
			return nil, bad("Transfer-Encoding in HTTP/1.0")
		}
		if hasCL {
			return nil, bad("both Transfer-Encoding and Content-Length")
		}
		if len(te) != 1 || te[0] == "" {
			if len(te) == 1 {
				return nil, bad("empty Transfer-Encoding")
			}
			return nil, errTE
		}
		if !strings.EqualFold(te[0], "chunked") {
			return nil, errTE
		}
		delete(h, "Transfer-Encoding")
		r.TransferEncoding = []string{"chunked"}
		p.bodyLen = -1
	} else if hasCL {
		n := int64(-1)
		for _, v := range cl {
			x, ok := wire.ParseContentLength(v)
			if !ok || (n >= 0 && x != n) {
				return nil, bad("invalid Content-Length")
			}
			n = x
		}
		p.bodyLen = n
		if len(cl) > 1 {
			h["Content-Length"] = cl[:1]
		}
	}
	r.ContentLength = p.bodyLen

	// Connection.
	conn := h["Connection"]
	if r.ProtoMinor == 0 {
		r.Close = !wire.HasToken(conn, "keep-alive")
	} else {
		r.Close = wire.HasToken(conn, "close")
	}

	// Expect.
	if ex, ok := h["Expect"]; ok {
		if len(ex) == 1 && strings.EqualFold(ex[0], "100-continue") {
			p.expect = r.ProtoMinor == 1 && p.bodyLen != 0
		} else {
			return nil, errExpect
		}
	}
	if tr, ok := h["Trailer"]; ok && p.bodyLen == -1 {
		p.trailers = true
		for _, v := range tr {
			for v != "" {
				var k string
				k, v, _ = strings.Cut(v, ",")
				k = strings.Trim(k, " \t")
				if k == "" {
					continue
				}
				if r.Trailer == nil {
					r.Trailer = http.Header{}
				}
				r.Trailer[http.CanonicalHeaderKey(k)] = nil
			}
		}
	}
	return p, nil
}
