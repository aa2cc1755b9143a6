package compress

import "strings"

// acceptance is what a request's Accept-Encoding says of each encoding.
type acceptance struct {
	listed   [numEncodings]bool // named by the client (the first mention counts)
	positive [numEncodings]bool // named with a weight above 0
	star     int8               // "*": 0 absent, 1 accepted, -1 refused (q=0)
}

// accepts tells whether the client takes enc: named with a weight above 0,
// or not named and covered by an accepting "*".
func (a *acceptance) accepts(enc int) bool {
	if a.listed[enc] {
		return a.positive[enc]
	}
	return a.star > 0
}

// parseAcceptEncoding reads the Accept-Encoding field lines vv (RFC 9110
// 12.5.3): a comma-separated list of codings, each with an optional weight
// ";q=" from 0 to 1 with up to three decimals. Names are case-insensitive,
// spaces around the separators are allowed, "x-gzip" is gzip. An element that
// cannot be read (a weight out of range, "q=abc", junk) is skipped: it accepts
// nothing, so bad input never turns into an encoding the client did not ask
// for. identity is always acceptable to usher: a client that refuses it
// ("identity;q=0") and takes none of usher's encodings gets the response as
// the server sent it, since a proxy has nothing better to give.
func parseAcceptEncoding(vv []string) acceptance {
	var a acceptance
	for _, v := range vv {
		for v != "" {
			var elem string
			elem, v, _ = strings.Cut(v, ",")
			name, params, _ := strings.Cut(elem, ";")
			name = trimOWS(name)
			positive, ok := weight(params)
			if !ok || name == "" {
				continue
			}
			enc := -1
			switch {
			case name == "*":
				if a.star == 0 {
					a.star = 1
					if !positive {
						a.star = -1
					}
				}
				continue
			case strings.EqualFold(name, "gzip"), strings.EqualFold(name, "x-gzip"):
				enc = encGzip
			case strings.EqualFold(name, "br"):
				enc = encBr
			case strings.EqualFold(name, "zstd"):
				enc = encZstd
			default:
				continue // identity, deflate, compress, and names usher does not have
			}
			if !a.listed[enc] {
				a.listed[enc] = true
				a.positive[enc] = positive
			}
		}
	}
	return a
}

// weight reads an element's parameters (what follows its first ';') and
// reports whether its weight is above 0, and whether the parameters could be
// read. No weight is 1; parameters other than q are ignored.
func weight(params string) (positive, ok bool) {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, val, hasEq := strings.Cut(p, "=")
		k = trimOWS(k)
		if k == "" && !hasEq {
			continue // "gzip;" or "gzip; ;q=1"
		}
		if !strings.EqualFold(k, "q") {
			continue
		}
		return qvalue(trimOWS(val))
	}
	return true, true
}

// qvalue parses a weight: "0" ["." up to 3 digits] or "1" ["." up to 3 zeros].
func qvalue(s string) (positive, ok bool) {
	if s == "" || len(s) > 5 {
		return false, false
	}
	frac := s[1:]
	if frac != "" {
		if frac[0] != '.' {
			return false, false
		}
		frac = frac[1:]
	}
	switch s[0] {
	case '0':
		for i := 0; i < len(frac); i++ {
			switch c := frac[i]; {
			case c < '0' || c > '9':
				return false, false
			case c != '0':
				positive = true
			}
		}
		return positive, true
	case '1':
		for i := 0; i < len(frac); i++ {
			if frac[i] != '0' {
				return false, false
			}
		}
		return true, true
	}
	return false, false
}

// trimOWS removes spaces and tabs around s.
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
