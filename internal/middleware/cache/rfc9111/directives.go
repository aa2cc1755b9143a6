// Package rfc9111 is the arithmetic of a shared HTTP cache (RFC 9111): the
// Cache-Control directives of requests and responses, whether a response may
// be stored, its freshness lifetime and its current age. It keeps no state
// and reads no clock: the caller passes every time it depends on, so that
// tests can be exact to the second.
package rfc9111

import (
	"math"
	"net/http"
	"net/textproto"
	"strings"
)

// The values of a delta-seconds directive that is not a number of seconds.
const (
	// Absent: the directive is not there.
	Absent int64 = -1
	// Invalid: the directive is there with a value that is not
	// delta-seconds (negative, not a number, empty). A response whose
	// freshness directive is invalid is stale (RFC 9111 §4.2.1).
	Invalid int64 = -2
	// AnyStale is max-stale without a value: the client takes a response
	// however stale.
	AnyStale int64 = math.MaxInt64
)

// MaxDelta is what a delta-seconds value too large to represent becomes
// (RFC 9111 §1.2.2).
const MaxDelta int64 = 2147483648

// Directives are the cache directives of one Cache-Control header, request's
// or response's. The first occurrence of a directive wins over later ones
// (RFC 9111 §4.2.1). Names are case-insensitive; values may be tokens or
// quoted strings. A directive written with whitespace around its "=" is not
// the directive (the grammar has none), so "max-age =5" gives no max-age.
type Directives struct {
	NoStore, NoCache, Private, Public         bool
	MustRevalidate, ProxyRevalidate           bool
	MustUnderstand, NoTransform, OnlyIfCached bool
	Immutable                                 bool
	NoCacheFields, PrivateFields              []string // qualified no-cache / private: canonical field names
	MaxAge, SMaxAge, MinFresh, MaxStale       int64    // seconds, or Absent, Invalid (AnyStale for MaxStale)
	StaleWhileRevalidate, StaleIfError        int64    // seconds, or Absent, Invalid
	seen                                      uint32
}

const (
	bitMaxAge = 1 << iota
	bitSMaxAge
	bitMinFresh
	bitMaxStale
	bitSWR
	bitSIE
	bitNoCache
	bitPrivate
)

// Parse reads the Cache-Control field lines vv (all of them, in order).
func Parse(vv []string) Directives {
	d := Directives{MaxAge: Absent, SMaxAge: Absent, MinFresh: Absent, MaxStale: Absent,
		StaleWhileRevalidate: Absent, StaleIfError: Absent}
	for _, v := range vv {
		for len(v) > 0 {
			var name, val string
			var hasVal bool
			name, val, hasVal, v = next(v)
			if name == "" {
				continue
			}
			d.set(strings.ToLower(name), val, hasVal)
		}
	}
	return d
}

// next splits off the first directive of s: its name, its value (quoted
// strings unescaped) and the rest of s after the comma that ends it.
func next(s string) (name, val string, hasVal bool, rest string) {
	s = strings.TrimLeft(s, " \t,")
	i := 0
	for i < len(s) && s[i] != '=' && s[i] != ',' {
		i++
	}
	name = strings.TrimRight(s[:i], " \t")
	if strings.ContainsAny(name, " \t\"") || (i < len(s) && s[i] == '=' && len(name) != i) {
		name = "\x00" // not a token: kept out of every known directive
	}
	if i == len(s) || s[i] == ',' {
		if i < len(s) {
			i++
		}
		return name, "", false, s[i:]
	}
	s = s[i+1:] // after '='
	if len(s) > 0 && s[0] == '"' {
		var b strings.Builder
		j := 1
		for ; j < len(s) && s[j] != '"'; j++ {
			if s[j] == '\\' && j+1 < len(s) {
				j++
			}
			b.WriteByte(s[j])
		}
		if j < len(s) {
			j++
		}
		rest = s[j:]
		// Anything between the closing quote and the comma spoils the value.
		k := strings.IndexByte(rest, ',')
		tail := rest
		if k >= 0 {
			tail, rest = rest[:k], rest[k+1:]
		} else {
			rest = ""
		}
		if strings.TrimSpace(tail) != "" {
			return name, "\x00", true, rest
		}
		return name, b.String(), true, rest
	}
	k := strings.IndexByte(s, ',')
	if k < 0 {
		return name, strings.TrimRight(s, " \t"), true, ""
	}
	return name, strings.TrimRight(s[:k], " \t"), true, s[k+1:]
}

func (d *Directives) once(bit uint32) bool {
	if d.seen&bit != 0 {
		return false
	}
	d.seen |= bit
	return true
}

func (d *Directives) set(name, val string, hasVal bool) {
	switch name {
	case "no-store":
		d.NoStore = true
	case "no-cache":
		if !d.once(bitNoCache) {
			return
		}
		if hasVal {
			d.NoCacheFields = fieldNames(val)
			if len(d.NoCacheFields) > 0 {
				return
			}
		}
		d.NoCache = true
	case "private":
		if !d.once(bitPrivate) {
			return
		}
		if hasVal {
			d.PrivateFields = fieldNames(val)
			if len(d.PrivateFields) > 0 {
				return
			}
		}
		d.Private = true
	case "public":
		d.Public = true
	case "must-revalidate":
		d.MustRevalidate = true
	case "proxy-revalidate":
		d.ProxyRevalidate = true
	case "must-understand":
		d.MustUnderstand = true
	case "no-transform":
		d.NoTransform = true
	case "only-if-cached":
		d.OnlyIfCached = true
	case "immutable":
		d.Immutable = true
	case "max-age":
		if d.once(bitMaxAge) {
			d.MaxAge = delta(val, hasVal)
		}
	case "s-maxage":
		if d.once(bitSMaxAge) {
			d.SMaxAge = delta(val, hasVal)
		}
	case "min-fresh":
		if d.once(bitMinFresh) {
			d.MinFresh = delta(val, hasVal)
		}
	case "max-stale":
		if d.once(bitMaxStale) {
			if !hasVal {
				d.MaxStale = AnyStale
			} else {
				d.MaxStale = delta(val, true)
			}
		}
	case "stale-while-revalidate":
		if d.once(bitSWR) {
			d.StaleWhileRevalidate = delta(val, hasVal)
		}
	case "stale-if-error":
		if d.once(bitSIE) {
			d.StaleIfError = delta(val, hasVal)
		}
	}
}

// delta reads delta-seconds: 1*DIGIT, saturating at MaxDelta.
func delta(s string, hasVal bool) int64 {
	if !hasVal || s == "" {
		return Invalid
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return Invalid
		}
		if n < MaxDelta {
			n = n*10 + int64(c-'0')
		}
	}
	if n > MaxDelta {
		n = MaxDelta
	}
	return n
}

// fieldNames reads the list of a qualified no-cache or private.
func fieldNames(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f != "" && !strings.ContainsAny(f, " \t\x00") {
			out = append(out, textproto.CanonicalMIMEHeaderKey(f))
		}
	}
	return out
}

// Valid tells whether a delta-seconds value is a number of seconds.
func Valid(v int64) bool { return v >= 0 }

// RequestDirectives are a request's Cache-Control, with the HTTP/1.0
// "Pragma: no-cache" read as no-cache when there is no Cache-Control
// (RFC 9111 §5.4 keeps that reading for compatibility).
func RequestDirectives(h http.Header) Directives {
	cc := h["Cache-Control"]
	d := Parse(cc)
	if len(cc) == 0 {
		for _, p := range h["Pragma"] {
			for _, t := range strings.Split(p, ",") {
				if strings.EqualFold(strings.TrimSpace(t), "no-cache") {
					d.NoCache = true
				}
			}
		}
	}
	return d
}
