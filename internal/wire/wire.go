// Package wire is the HTTP/1.1 grammar (RFC 9110, RFC 9112) that usher's
// server for clients (internal/h1) and its client for servers (internal/proxy)
// share: which bytes make a field name or value, how names are canonicalised,
// chunk-size lines, hop-by-hop fields, Connection tokens, and how a field
// line is written.
//
// One copy on both sides is the point: request smuggling and response
// desynchronisation live in the gaps between two parsers that disagree, so
// both sides read with the same, strictest rules.
package wire

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"strings"
)

// tokenTable marks the bytes of an RFC 9110 token (tchar).
var tokenTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return
}()

// IsTokenChar tells whether c may appear in a token (a field name, a method).
func IsTokenChar(c byte) bool { return tokenTable[c] }

// IsToken tells whether b is a non-empty token.
func IsToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenTable[c] {
			return false
		}
	}
	return true
}

// ValidName tells whether k is a non-empty token, usable as a field name.
func ValidName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !tokenTable[k[i]] {
			return false
		}
	}
	return true
}

// ValidValue tells whether b is a field value: no control byte but HTAB (so
// no CR, LF or NUL) and no DEL. obs-text (0x80-0xff) is accepted, as every
// major server does.
func ValidValue(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// TrimOWS removes optional whitespace (SP, HTAB) at both ends of b.
func TrimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// TrimOWSString is TrimOWS for a string.
func TrimOWSString(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// commonNames interns the canonical names seen on most requests and
// responses, so that reading them allocates nothing.
var commonNames = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
		"Age", "Authorization", "Cache-Control", "Cdn-Loop", "Connection", "Content-Disposition",
		"Content-Encoding", "Content-Language", "Content-Length", "Content-Location",
		"Content-Range", "Content-Security-Policy", "Content-Type", "Cookie", "Date", "Dnt",
		"Etag", "Expect", "Expires", "Forwarded", "From", "Host", "If-Match",
		"If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since", "Keep-Alive",
		"Last-Modified", "Link", "Location", "Origin", "Pragma", "Priority",
		"Proxy-Authorization", "Range", "Referer", "Retry-After", "Sec-Ch-Ua",
		"Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode",
		"Sec-Fetch-Site", "Sec-Fetch-User", "Sec-Websocket-Accept", "Sec-Websocket-Extensions",
		"Sec-Websocket-Key", "Sec-Websocket-Protocol", "Sec-Websocket-Version", "Server",
		"Set-Cookie", "Strict-Transport-Security", "Te", "Trailer", "Transfer-Encoding",
		"Upgrade", "Upgrade-Insecure-Requests", "User-Agent", "Vary", "Via",
		"X-Content-Type-Options", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Port",
		"X-Forwarded-Proto", "X-Frame-Options", "X-Real-Ip", "X-Request-Id", "Traceparent",
		"Tracestate",
	} {
		m[k] = k
	}
	return m
}()

// CanonicalKey returns the canonical form of the field name b (a token), as
// net/textproto writes it; common names come back interned, without an
// allocation.
func CanonicalKey(b []byte) string {
	var buf [64]byte
	if len(b) > len(buf) {
		return textproto.CanonicalMIMEHeaderKey(string(b))
	}
	k := buf[:len(b)]
	upper := true
	for i, c := range b {
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		k[i] = c
		upper = c == '-'
	}
	if s, ok := commonNames[string(k)]; ok {
		return s
	}
	return string(k)
}

// ParseChunkSize parses a chunk-size line without its CRLF:
// `1*HEXDIG [ chunk-ext ]`. Extensions are ignored but must start with ";"
// (after optional whitespace) and hold no control bytes; a size over 2^60, an
// empty size, a sign, a "0x" or anything else is refused.
func ParseChunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			goto ext
		}
		if i >= 15 {
			return 0, false
		}
		n = n<<4 | int64(d)
	}
ext:
	if i == 0 {
		return 0, false
	}
	rest := TrimOWS(line[i:])
	if len(rest) > 0 && (rest[0] != ';' || !ValidValue(rest)) {
		return 0, false
	}
	return n, true
}

// ParseContentLength parses one Content-Length field value. A list is
// accepted when all its members agree (RFC 9110 8.6); signs, spaces inside a
// number, empty members and values over 18 digits are not.
func ParseContentLength(v string) (int64, bool) {
	n := int64(-1)
	for {
		part, rest, more := strings.Cut(v, ",")
		part = TrimOWSString(part)
		if len(part) == 0 || len(part) > 18 {
			return 0, false
		}
		var x int64
		for i := 0; i < len(part); i++ {
			c := part[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			x = x*10 + int64(c-'0')
		}
		if n >= 0 && x != n {
			return 0, false
		}
		n = x
		if !more {
			return n, true
		}
		v = rest
	}
}

// IsHopByHop tells whether the canonical field name k is hop-by-hop (RFC 9110
// 7.6.1) or a framing field that each hop sets for itself: such fields never
// cross usher. Expect is among them: each side handles 100-continue itself.
func IsHopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Content-Length", "Expect":
		return true
	}
	return false
}

// ForbiddenTrailer tells whether the canonical field name k must not be taken
// from a trailer section (RFC 9110 6.5.1): framing, routing, authentication,
// cookies and the fields that describe the content or control caches. A
// trailer carrying them is dropped, never merged into the headers.
func ForbiddenTrailer(k string) bool {
	switch k {
	case "Content-Length", "Transfer-Encoding", "Host", "Trailer", "Connection",
		"Content-Type", "Content-Encoding", "Content-Range", "Content-Location",
		"Te", "Authorization", "Proxy-Authorization", "Proxy-Authenticate",
		"Www-Authenticate", "Cookie", "Set-Cookie", "Expect", "Cache-Control",
		"Expires", "Age", "Date", "Location", "Retry-After", "Vary", "Warning",
		"Keep-Alive", "Upgrade", "Proxy-Connection", "Max-Forwards", "Range",
		"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since",
		"If-Range", "Pragma", "Server", "Strict-Transport-Security":
		return true
	}
	return false
}

// ConnectionTokens calls f with the canonical name of each field named in the
// Connection values vv (they are hop-by-hop too), "close" and "keep-alive"
// included.
func ConnectionTokens(vv []string, f func(string)) {
	for _, v := range vv {
		for len(v) > 0 {
			i := strings.IndexByte(v, ',')
			if i < 0 {
				i = len(v)
			}
			if tok := TrimOWSString(v[:i]); tok != "" && ValidName(tok) {
				f(textproto.CanonicalMIMEHeaderKey(tok))
			}
			if i == len(v) {
				break
			}
			v = v[i+1:]
		}
	}
}

// HasToken tells whether the comma-separated values vv hold tok, ignoring case.
func HasToken(vv []string, tok string) bool {
	for _, v := range vv {
		if hasToken(v, tok) {
			return true
		}
	}
	return false
}

// HasTokenBytes is HasToken for one value read off the wire.
func HasTokenBytes(v []byte, tok string) bool {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		if i < 0 {
			i = len(v)
		}
		if strings.EqualFold(string(TrimOWS(v[:i])), tok) {
			return true
		}
		if i == len(v) {
			break
		}
		v = v[i+1:]
	}
	return false
}

func hasToken(v, tok string) bool {
	for v != "" {
		var part string
		part, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(TrimOWSString(part), tok) {
			return true
		}
	}
	return false
}

// WriteField writes the field line `k: v` CRLF. A name that is not a token is
// skipped; CR, LF and NUL in the value (set by a middleware, or by a handler)
// become spaces, so that no value can end the header block or start another
// message.
func WriteField(bw *bufio.Writer, k, v string) {
	if !ValidName(k) {
		return
	}
	bw.WriteString(k)
	bw.WriteString(": ")
	if strings.ContainsAny(v, "\r\n\x00") {
		v = valueCleaner.Replace(v)
	}
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

var valueCleaner = strings.NewReplacer("\r", " ", "\n", " ", "\x00", " ")

// WriteHeader writes the fields of h, but those skip (when not nil) refuses.
func WriteHeader(bw *bufio.Writer, h http.Header, skip func(k string) bool) {
	for k, vv := range h {
		if skip != nil && skip(k) {
			continue
		}
		for _, v := range vv {
			WriteField(bw, k, v)
		}
	}
}

// CutCRLF returns the line b (as read up to and including its LF) without
// its CRLF. A bare LF, or a CR anywhere else in the line, is refused: RFC
// 9112 2.2 lets a recipient accept them, and accepting them on one side and
// not the other is what request smuggling and response splitting feed on.
func CutCRLF(b []byte) ([]byte, bool) {
	n := len(b)
	if n < 2 || b[n-1] != '\n' || b[n-2] != '\r' {
		return nil, false
	}
	b = b[:n-2]
	if bytes.IndexByte(b, '\r') >= 0 {
		return nil, false
	}
	return b, true
}
