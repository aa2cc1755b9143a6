// Package urlpath puts the path of a request target in one normal form, so
// that what the router matches, what the middlewares see and what the server
// receives are the same path: a guard on /admin cannot be walked past with
// //admin, /./admin, /public/../admin or /%2e%2e/admin, which a server would
// resolve to /admin after usher had routed them elsewhere.
//
// The normal form of an escaped path (RFC 3986 section 6.2.2, with the
// choices a proxy in front of unknown servers has to make):
//
//   - dot segments are removed (section 5.2.4), %2e and %2E counting as dots:
//     /a/./b is /a/b, /a/../../b is /b, /a/b/.. is /a/;
//   - empty segments are merged: //a///b is /a/b (a trailing / is kept);
//   - percent-encodings of unreserved characters (ALPHA DIGIT - . _ ~) are
//     decoded, the others kept with uppercase hex: %7e is ~, %3b is %3B;
//   - bytes that may not appear raw in a path (", <, >, ^, `, {, |, }, #,
//     and every byte from 0x80) are percent-encoded;
//   - a raw \ is a /, as in the WHATWG URL standard that browsers follow
//     (a browser never sends one: it turns it into /), and as Windows
//     servers and some frameworks read it;
//   - an encoded / (%2F) or \ (%5C) is refused (ErrEncodedSlash) unless the
//     caller allows it, and then kept encoded: a server that decodes it
//     before splitting the path would see other segments than usher did;
//   - NUL, raw or encoded, and other raw control bytes are always refused;
//   - a segment that is empty or a dot segment once path parameters are
//     removed (;x, .;x, ..;x) is refused (ErrPathParam): Tomcat and Jetty
//     drop ";x" before resolving dot segments, so /..;/admin is /admin to
//     them;
//   - case is kept (/ADMIN is not /admin) and a malformed escape (%zz, %4)
//     is refused.
//
// Percent-encodings are never decoded twice: /%252e/ stays /%252e/.
package urlpath

import (
	"errors"
	"strings"
)

// The errors of Normalize, each saying what the path has that is refused.
var (
	ErrEncodedSlash = errors.New("the path has an encoded slash (%2F or %5C)")
	ErrNUL          = errors.New("the path has a NUL byte")
	ErrControl      = errors.New("the path has a control character")
	ErrBadEscape    = errors.New("the path has a malformed percent-encoding")
	ErrPathParam    = errors.New("the path has an empty or dot segment with parameters (;)")
	ErrNotAbsolute  = errors.New("the path does not start with /")
)

// byte classes of a path's raw bytes
const (
	cKeep   uint8 = iota // allowed raw: unreserved, sub-delims, ':', '@', '[', ']'
	cEncode              // must be percent-encoded
	cSlash               // '/'
	cBack                // '\', read as '/'
	cPct                 // '%'
	cCtl                 // control byte: refused
)

var class [256]uint8

// unreserved are the characters whose percent-encoding is decoded.
var unreserved [256]bool

func init() {
	for c := range 256 {
		switch {
		case c < 0x20 || c == 0x7f:
			class[c] = cCtl
		case c >= 0x80:
			class[c] = cEncode
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("-._~", byte(c)) >= 0:
			unreserved[c] = true
			class[c] = cKeep
		case strings.IndexByte("!$&'()*+,;=:@[]", byte(c)) >= 0:
			// '[' and ']' are not pchar, but net/url keeps them raw in an
			// escaped path, and so do servers: encoding them would change
			// the path for nothing.
			class[c] = cKeep
		case c == '/':
			class[c] = cSlash
		case c == '\\':
			class[c] = cBack
		case c == '%':
			class[c] = cPct
		default: // space " # < > ? ^ ` { | }
			class[c] = cEncode
		}
	}
}

// Normalize returns the normal form of the escaped path p (a request target's
// path, without its query), and whether it differs from p. An empty p is "/".
// A path already normal is returned as it is, after one scan of its bytes and
// without allocating.
func Normalize(p string, allowEncodedSlash bool) (string, bool, error) {
	if IsNormal(p, allowEncodedSlash) {
		return p, false, nil
	}
	if p == "" {
		return "/", true, nil
	}
	out, err := normalize(p, allowEncodedSlash)
	if err != nil {
		return "", false, err
	}
	return out, out != p, nil
}

// IsNormal tells whether p is in normal form (and so allowed).
func IsNormal(p string, allowEncodedSlash bool) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	seg := 1 // start of the current segment
	for i := 1; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			if !normalSegment(p[seg:i], i == len(p)) {
				return false
			}
			seg = i + 1
			continue
		}
		switch class[p[i]] {
		case cKeep:
		case cPct:
			if i+2 >= len(p) {
				return false
			}
			hi, ok1 := upperHex(p[i+1])
			lo, ok2 := upperHex(p[i+2])
			if !ok1 || !ok2 {
				return false
			}
			switch v := hi<<4 | lo; {
			case unreserved[v], v == 0:
				return false
			case v == '/' || v == '\\':
				if !allowEncodedSlash {
					return false
				}
			}
			i += 2
		default:
			return false
		}
	}
	return true
}

// normalSegment tells whether s, a segment of an escaped path, stays as it is
// in the normal form; last is whether it ends the path (then it may be empty:
// a trailing slash).
func normalSegment(s string, last bool) bool {
	switch {
	case s == "":
		return last
	case s[0] == ';':
		return false
	case s[0] == '.':
		return s != "." && s != ".." && !strings.HasPrefix(s, ".;") && !strings.HasPrefix(s, "..;")
	}
	return true
}

// normalize builds the normal form of p, which is not already normal.
func normalize(p string, allowEncodedSlash bool) (string, error) {
	if c := p[0]; c != '/' && c != '\\' {
		return "", ErrNotAbsolute
	}
	// Each kept segment is '/' and its bytes in normal form; a raw '/' in
	// buf is always a separator (an allowed %2F stays encoded).
	buf := make([]byte, 0, len(p)+8)
	dir := false // the last segment was removed: the path ends with '/'
	i := 1
	for {
		start := len(buf)
		buf = append(buf, '/')
		for ; i < len(p); i++ {
			c := p[i]
			cl := class[c]
			if cl == cSlash || cl == cBack {
				break
			}
			switch cl {
			case cKeep:
				buf = append(buf, c)
			case cEncode:
				buf = append(buf, '%', hexDigits[c>>4], hexDigits[c&15])
			case cCtl:
				if c == 0 {
					return "", ErrNUL
				}
				return "", ErrControl
			case cPct:
				if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
					return "", ErrBadEscape
				}
				v := unhex(p[i+1])<<4 | unhex(p[i+2])
				i += 2
				switch {
				case unreserved[v]:
					buf = append(buf, v)
				case v == 0:
					return "", ErrNUL
				case (v == '/' || v == '\\') && !allowEncodedSlash:
					return "", ErrEncodedSlash
				default:
					buf = append(buf, '%', hexDigits[v>>4], hexDigits[v&15])
				}
			}
		}
		seg := buf[start+1:]
		dir = true
		switch {
		case len(seg) == 0, string(seg) == ".":
			buf = buf[:start]
		case string(seg) == "..":
			buf = buf[:start]
			if j := lastSlash(buf); j >= 0 {
				buf = buf[:j]
			}
		case seg[0] == ';', seg[0] == '.' && (seg[1] == ';' || seg[1] == '.' && len(seg) > 2 && seg[2] == ';'):
			return "", ErrPathParam
		default:
			dir = false
		}
		if i >= len(p) {
			break
		}
		i++ // the separator
	}
	if dir || len(buf) == 0 {
		buf = append(buf, '/')
	}
	return string(buf), nil
}

// Unescape decodes the percent-encodings of a path in normal form (the
// decoded form net/url keeps in URL.Path). It allocates only when p has one.
func Unescape(p string) string {
	i := strings.IndexByte(p, '%')
	if i < 0 {
		return p
	}
	b := make([]byte, i, len(p))
	copy(b, p)
	for ; i < len(p); i++ {
		if c := p[i]; c == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]) {
			b = append(b, unhex(p[i+1])<<4|unhex(p[i+2]))
			i += 2
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

func lastSlash(b []byte) int {
	for j := len(b) - 1; j >= 0; j-- {
		if b[j] == '/' {
			return j
		}
	}
	return -1
}

const hexDigits = "0123456789ABCDEF"

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// upperHex is the value of an uppercase hex digit: the normal form has no
// lowercase one.
func upperHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
