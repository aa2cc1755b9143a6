package proxy

import (
	"net/http"
	"net/textproto"
)

// hopHeaders are the hop-by-hop headers of RFC 9110 §7.6.1, plus framing headers
// that usher rewrites itself (Content-Length, Transfer-Encoding) and Expect, since
// the entrypoint answers "100 Continue" to the client by itself.
func isHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Content-Length", "Expect":
		return true
	}
	return false
}

// connectionTokens calls f for each header named in the Connection header values:
// those are hop-by-hop too.
func connectionTokens(vv []string, f func(string)) {
	for _, v := range vv {
		for len(v) > 0 {
			i := 0
			for i < len(v) && v[i] != ',' {
				i++
			}
			tok := trimOWS(v[:i])
			if tok != "" {
				f(textproto.CanonicalMIMEHeaderKey(tok))
			}
			if i == len(v) {
				break
			}
			v = v[i+1:]
		}
	}
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func trimOWSBytes(s []byte) []byte {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t' || s[len(s)-1] == '\r' || s[len(s)-1] == '\n') {
		s = s[:len(s)-1]
	}
	return s
}

// canonicalKey returns the canonical form of a header name read off the wire.
// The names servers send most often come back as constants, so reading them
// allocates nothing; others are canonicalised like net/textproto does.
func canonicalKey(b []byte) string {
	var buf [32]byte
	if len(b) <= len(buf) {
		upper := true
		for i, c := range b {
			switch {
			case upper && 'a' <= c && c <= 'z':
				c -= 'a' - 'A'
			case !upper && 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			}
			buf[i] = c
			upper = c == '-'
		}
		k := buf[:len(b)]
		switch string(k) {
		case "Content-Type":
			return "Content-Type"
		case "Content-Length":
			return "Content-Length"
		case "Date":
			return "Date"
		case "Server":
			return "Server"
		case "Connection":
			return "Connection"
		case "Keep-Alive":
			return "Keep-Alive"
		case "Transfer-Encoding":
			return "Transfer-Encoding"
		case "Cache-Control":
			return "Cache-Control"
		case "Etag":
			return "Etag"
		case "Last-Modified":
			return "Last-Modified"
		case "Expires":
			return "Expires"
		case "Vary":
			return "Vary"
		case "Content-Encoding":
			return "Content-Encoding"
		case "Set-Cookie":
			return "Set-Cookie"
		case "Location":
			return "Location"
		case "Accept-Ranges":
			return "Accept-Ranges"
		case "Upgrade":
			return "Upgrade"
		case "Trailer":
			return "Trailer"
		case "X-Request-Id":
			return "X-Request-Id"
		}
	}
	return http.CanonicalHeaderKey(string(b))
}
