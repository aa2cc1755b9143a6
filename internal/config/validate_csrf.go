package config

import (
	"fmt"
	"net/http"
	"strings"
)

// csrf checks a csrf middleware with the checks of the net/http type it is
// built on: trusted origins are scheme://host[:port], bypass paths are
// ServeMux patterns that do not conflict.
func (v *validator) csrf(p string, s *CSRF) {
	c := http.NewCrossOriginProtection()
	for i, o := range s.TrustedOrigins {
		if err := c.AddTrustedOrigin(o); err != nil {
			v.add(fmt.Sprintf("%s.trustedOrigins[%d]", p, i), "%q is not an origin: write scheme://host[:port] (like https://app.example.com)", o)
		}
	}
	var ok []int // indexes of the well-formed patterns
	for i, pat := range s.BypassPaths {
		bp := fmt.Sprintf("%s.bypassPaths[%d]", p, i)
		if err := AddBypassPattern(http.NewCrossOriginProtection(), pat); err != nil {
			v.add(bp, "%v", err)
			continue
		}
		for _, j := range ok {
			pair := http.NewCrossOriginProtection()
			if AddBypassPattern(pair, s.BypassPaths[j]) == nil && AddBypassPattern(pair, pat) != nil {
				v.add(bp, "%q conflicts with bypassPaths[%d] %q: they match the same requests and neither is more specific", pat, j, s.BypassPaths[j])
				break
			}
		}
		ok = append(ok, i)
	}
}

// AddBypassPattern is c.AddInsecureBypassPattern with an error instead of a
// panic for a pattern that is malformed or conflicts with one added before.
func AddBypassPattern(c *http.CrossOriginProtection, pattern string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprint(r)
			if _, after, found := strings.Cut(msg, "\": "); found && strings.HasPrefix(msg, "parsing ") {
				msg = after
			}
			if i := strings.Index(msg, " (registered at"); i >= 0 {
				msg = "it conflicts with another pattern"
			}
			err = fmt.Errorf("%q is not a path pattern (like /webhooks/, /hook or \"POST /api/{id}\"): %s", pattern, msg)
		}
	}()
	c.AddInsecureBypassPattern(pattern)
	return nil
}
