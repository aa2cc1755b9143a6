package loadgen

import (
	"bytes"
	"errors"
)

// respParser reads HTTP/1.x responses as the bytes come, in pieces of any
// size, and keeps of them only what the framing needs: the status, whether
// the connection stays open, and where the body ends (Content-Length,
// chunked, or the close of the connection). A line cut between two reads
// is the only thing it copies (into line, kept across responses), so in
// the usual case a response costs no allocation and no copy.
type respParser struct {
	state   uint8
	head    bool // the request was HEAD: no body whatever the fields say
	status  int
	keep    bool
	length  int64 // Content-Length, -1 when none
	chunked bool
	coded   bool   // a Transfer-Encoding other than chunked last: the body ends with the connection
	remain  int64  // body or chunk bytes still to come
	line    []byte // a line cut by the end of a read, so far
}

const (
	psStatus = iota
	psHeader
	psBody
	psChunkSize
	psChunkData
	psChunkEnd
	psTrailer
	psUntilClose
	psDone
)

// maxLine bounds one status, header or chunk-size line.
const maxLine = 64 << 10

var errMalformed = errors.New("malformed response")

func (p *respParser) reset() {
	p.state, p.status, p.keep, p.length, p.chunked, p.coded, p.remain = psStatus, 0, false, -1, false, false, 0
	p.line = p.line[:0]
}

// feed reads b: used is how many bytes of it belong to the response, and
// done whether the response ended there. A body that ends with the
// connection is done only at eof.
func (p *respParser) feed(b []byte) (used int, done bool, err error) {
	i := 0
	for i < len(b) {
		switch p.state {
		case psBody, psChunkData:
			n := int64(len(b) - i)
			if n > p.remain {
				n = p.remain
			}
			p.remain -= n
			i += int(n)
			if p.remain == 0 {
				if p.state == psBody {
					p.state = psDone
					return i, true, nil
				}
				p.state = psChunkEnd
			}
			continue
		case psUntilClose:
			return len(b), false, nil
		case psDone:
			return i, true, nil
		}
		line, next, ok := p.nextLine(b, i)
		if !ok {
			if len(p.line) > maxLine || len(line) > maxLine {
				return next, false, errMalformed
			}
			return next, false, nil
		}
		i = next
		if err := p.onLine(line); err != nil {
			return i, false, err
		}
		p.line = p.line[:0]
		if p.state == psDone {
			return i, true, nil
		}
	}
	return i, p.state == psDone, nil
}

// eof tells the parser the connection closed: true when that ended the
// response (a body delimited by the close).
func (p *respParser) eof() bool { return p.state == psUntilClose }

// nextLine returns the line (without its CR LF) that starts at b[i], and
// where the next one starts; ok false when b ends first (the piece is kept).
func (p *respParser) nextLine(b []byte, i int) (line []byte, next int, ok bool) {
	j := bytes.IndexByte(b[i:], '\n')
	if j < 0 {
		p.line = append(p.line, b[i:]...)
		return nil, len(b), false
	}
	line = b[i : i+j]
	if len(p.line) > 0 {
		p.line = append(p.line, line...)
		line = p.line
	}
	if len(line) > maxLine {
		return line, len(b), false
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, i + j + 1, true
}

func (p *respParser) onLine(l []byte) error {
	switch p.state {
	case psStatus:
		if len(l) == 0 {
			return nil // a stray CR LF before the status line (RFC 9112 2.2)
		}
		// HTTP/1.x SSS[ reason]
		if len(l) < 12 || string(l[:7]) != "HTTP/1." || l[8] != ' ' || (len(l) > 12 && l[12] != ' ') {
			return errMalformed
		}
		s := 0
		for _, c := range l[9:12] {
			if c < '0' || c > '9' {
				return errMalformed
			}
			s = s*10 + int(c-'0')
		}
		if s < 100 {
			return errMalformed
		}
		p.status, p.keep, p.length, p.chunked, p.coded = s, l[7] == '1', -1, false, false
		p.state = psHeader
	case psHeader:
		if len(l) == 0 {
			return p.endOfHeader()
		}
		return p.field(l)
	case psChunkSize:
		var size int64
		digits := 0
		for _, c := range l {
			var d byte
			switch {
			case c >= '0' && c <= '9':
				d = c - '0'
			case c >= 'a' && c <= 'f':
				d = c - 'a' + 10
			case c >= 'A' && c <= 'F':
				d = c - 'A' + 10
			case c == ';' || c == ' ' || c == '\t':
				goto ext
			default:
				return errMalformed
			}
			if digits++; digits > 15 {
				return errMalformed
			}
			size = size<<4 | int64(d)
		}
	ext:
		if digits == 0 {
			return errMalformed
		}
		if size == 0 {
			p.state = psTrailer
		} else {
			p.remain, p.state = size, psChunkData
		}
	case psChunkEnd:
		if len(l) != 0 {
			return errMalformed
		}
		p.state = psChunkSize
	case psTrailer:
		if len(l) == 0 {
			p.state = psDone
		}
	}
	return nil
}

func (p *respParser) endOfHeader() error {
	switch {
	case p.status < 200 && p.status != 101:
		p.state = psStatus // an interim response (100, 103): the real one follows
	case p.status == 101:
		p.keep, p.state = false, psDone // the connection is no longer HTTP
	case p.head || p.status == 204 || p.status == 304:
		p.state = psDone
	case p.chunked:
		p.state = psChunkSize
	case p.coded:
		p.keep, p.state = false, psUntilClose
	case p.length == 0:
		p.state = psDone
	case p.length > 0:
		p.remain, p.state = p.length, psBody
	default:
		p.keep, p.state = false, psUntilClose
	}
	return nil
}

func (p *respParser) field(l []byte) error {
	colon := bytes.IndexByte(l, ':')
	if colon <= 0 {
		return errMalformed
	}
	name := l[:colon]
	switch len(name) {
	case len("content-length"), len("transfer-encoding"), len("connection"):
	default:
		return nil // not one that frames the response
	}
	v := trimOWS(l[colon+1:])
	switch {
	case equalFold(name, "content-length"):
		if len(v) == 0 || len(v) > 18 {
			return errMalformed
		}
		var n int64
		for _, c := range v {
			if c < '0' || c > '9' {
				return errMalformed
			}
			n = n*10 + int64(c-'0')
		}
		if p.length >= 0 && p.length != n {
			return errMalformed // two lengths: the framing is ambiguous
		}
		p.length = n
	case equalFold(name, "transfer-encoding"):
		// Chunked when it is the last coding; any other coding leaves the
		// body to end with the connection (RFC 9112 6.3).
		p.chunked = hasSuffixFold(v, "chunked")
		p.coded = !p.chunked
	case equalFold(name, "connection"):
		if containsFold(v, "close") {
			p.keep = false
		} else if containsFold(v, "keep-alive") {
			p.keep = true
		}
	}
	return nil // Transfer-Encoding overrides Content-Length: endOfHeader looks at it first
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold compares b with s, which is lower case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

func hasSuffixFold(b []byte, s string) bool {
	return len(b) >= len(s) && equalFold(b[len(b)-len(s):], s)
}

func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if equalFold(b[i:i+len(s)], s) {
			return true
		}
	}
	return false
}
