// Package bucketkey is what an A/B bucket knows a user by (a cookie, a
// header, a token claim, the client's address) and how that key is hashed.
// A weighted service's bucketBy and the rule matcher Bucket both read keys
// and hash them here, so that the two name their sources alike and agree on
// what a key is worth.
package bucketkey

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// Kind is where a key is read from.
type Kind byte

const (
	Cookie   Kind = 'c'
	Header   Kind = 'h'
	Claim    Kind = 'j' // a verified token's claim, known once an auth middleware ran
	ClientIP Kind = 'i'
)

// Source is one place a key is read from: Kind, and the cookie's, header's or
// claim's Name ("" for ClientIP). A header name is canonical.
type Source struct {
	Kind Kind
	Name string
}

// Parse reads a source as bucketBy writes it: cookie:NAME, header:NAME,
// claim:NAME or clientIP.
func Parse(spec string) (Source, error) {
	kind, arg, ok := strings.Cut(spec, ":")
	switch {
	case spec == "clientIP":
		return Source{Kind: ClientIP}, nil
	case ok && arg != "" && (kind == "cookie" || kind == "header" || kind == "claim"):
		if kind != "claim" && !isToken(arg) {
			return Source{}, fmt.Errorf("%q is not a valid %s name", arg, kind)
		}
		switch kind {
		case "cookie":
			return Source{Kind: Cookie, Name: arg}, nil
		case "header":
			return Source{Kind: Header, Name: http.CanonicalHeaderKey(arg)}, nil
		}
		return Source{Kind: Claim, Name: arg}, nil
	}
	return Source{}, fmt.Errorf("unknown key %q: cookie:NAME, header:NAME, claim:NAME or clientIP", clip(spec))
}

// String is the source as Parse reads it.
func (s Source) String() string {
	switch s.Kind {
	case Cookie:
		return "cookie:" + s.Name
	case Header:
		return "header:" + s.Name
	case Claim:
		return "claim:" + s.Name
	}
	return "clientIP"
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// Hash is the hash of a key read from a cookie, a header or a claim: 64-bit
// FNV-1a. It is fixed: buckets must be the same on every usher, across
// restarts and versions.
func Hash(key string) uint64 { return fnv64(fnvOffset, key) }

// HashAddr is the hash of a client address (its text, IPv4 without the
// IPv6 mapping), kept apart from Hash so that a cookie whose value is an
// address does not land where that address does.
func HashAddr(addr string) uint64 { return fnv64(fnvOffset^'i', addr) }

// HashIP is HashAddr of ip's text, IPv4-mapped addresses read as IPv4,
// without allocating.
func HashIP(ip netip.Addr) uint64 {
	var buf [64]byte
	return fnv64(fnvOffset^'i', ip.Unmap().AppendTo(buf[:0]))
}

func fnv64[T string | []byte](h uint64, s T) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// Mix is splitmix64's finalizer: FNV alone leaves similar keys (user-1,
// user-2) close, and buckets need their hashes spread evenly.
func Mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Point is where a key's hash h falls in [0, 100): a percent position,
// uniform over keys, that depends on the key alone. A range [lo, hi) of it
// holds hi-lo percent of the users, and widening or moving the range moves
// only the users at the points it gains or loses.
func Point(h uint64) float64 {
	return float64(Mix(h)>>11) / (1 << 53) * 100
}

// CookieValue finds cookie name in Cookie header lines without parsing them
// all: the first non-empty value, its quotes removed.
func CookieValue(lines []string, name string) (string, bool) {
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if !ok || k != name {
				continue
			}
			v = strings.Trim(v, `"`)
			if v != "" {
				return v, true
			}
		}
	}
	return "", false
}

// ClaimString is a claim's value as a key: strings as they are, numbers and
// booleans in their JSON form, anything else printed; "" for none.
func ClaimString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// isToken reports whether s is a non-empty RFC 9110 token (header and cookie names).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

func clip(s string) string {
	n := 0
	for i := range s {
		if n == 60 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}
