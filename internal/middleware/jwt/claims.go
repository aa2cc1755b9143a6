package jwt

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/usher-lb/usher/internal/jwtverify"
)

// matcher is what one claim's value must be (config.ClaimMatch).
type matcher struct {
	claim    string
	equals   string
	contains string
	oneOf    []string
}

// lookup finds a claim: by its whole name, else, for a dotted name, by
// walking objects (realm_access.roles is claims["realm_access"]["roles"]).
func lookup(c jwtverify.Claims, name string) (any, bool) {
	if v, ok := c[name]; ok {
		return v, true
	}
	if !strings.Contains(name, ".") {
		return nil, false
	}
	var cur any = map[string]any(c)
	for part := range strings.SplitSeq(name, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// scalar is a string, number or boolean claim as text.
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

func (mt *matcher) match(v any) bool {
	if mt.equals != "" {
		if s, ok := scalar(v); !ok || s != mt.equals {
			return false
		}
	}
	if mt.contains != "" {
		switch x := v.(type) {
		case []any:
			if !slices.ContainsFunc(x, func(el any) bool { s, ok := scalar(el); return ok && s == mt.contains }) {
				return false
			}
		case string:
			if !slices.Contains(strings.Fields(x), mt.contains) {
				return false
			}
		default:
			return false
		}
	}
	if len(mt.oneOf) > 0 {
		in := func(el any) bool { s, ok := scalar(el); return ok && slices.Contains(mt.oneOf, s) }
		if x, ok := v.([]any); ok {
			if !slices.ContainsFunc(x, in) {
				return false
			}
		} else if !in(v) {
			return false
		}
	}
	return true
}

// authorize checks the required claims and the matchers; it returns why
// the claims do not do, "" when they do. The reason names the claim, never
// its value.
func (m *middleware) authorize(c jwtverify.Claims) string {
	for _, name := range m.required {
		if _, ok := lookup(c, name); !ok {
			return "the token lacks the claim " + quoteSafe(name)
		}
	}
	for i := range m.matchers {
		mt := &m.matchers[i]
		v, ok := lookup(c, mt.claim)
		if !ok {
			return "the token lacks the claim " + quoteSafe(mt.claim)
		}
		if !mt.match(v) {
			return "the token's claim " + quoteSafe(mt.claim) + " does not allow this request"
		}
	}
	return ""
}

// quoteSafe is s fit for a quoted-string of a header.
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < ' ' || r == 0x7f {
			return '_'
		}
		return r
	}, s)
}
