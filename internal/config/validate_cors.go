package config

import (
	"fmt"
	"strings"

	"github.com/usher-lb/usher/internal/origin"
)

// cors checks a cors middleware: origins a browser can send, methods and
// header names that are tokens, and no credentials for every origin.
func (v *validator) cors(p string, s *CORS) {
	if len(s.AllowOrigins) == 0 {
		v.add(p+".allowOrigins", `at least one origin is required (like "https://app.example.com", "*.example.com" or "*")`)
	}
	anyOrigin := false
	for i, o := range s.AllowOrigins {
		pat, err := origin.Parse(o)
		if err != nil {
			v.add(fmt.Sprintf("%s.allowOrigins[%d]", p, i), "%v", err)
			continue
		}
		anyOrigin = anyOrigin || pat.Any()
	}
	if anyOrigin && s.AllowCredentials {
		v.add(p+".allowCredentials", `not with allowOrigins "*": every site could then read answers made with its visitors' cookies; list the origins instead (browsers refuse credentials with "*" too)`)
	}
	v.tokens(p+".allowMethods", s.AllowMethods, "method", true)
	v.tokens(p+".allowHeaders", s.AllowHeaders, "header name", true)
	v.tokens(p+".exposeHeaders", s.ExposeHeaders, "header name", !s.AllowCredentials)
	if s.MaxAge < 0 {
		v.add(p+".maxAge", "%d is not a number of seconds (0 or more)", s.MaxAge)
	}
}

// tokens checks a list of methods or header names: tokens, or "*" alone
// when star is allowed, each once without regard to case.
func (v *validator) tokens(p string, list []string, what string, star bool) {
	seen := map[string]bool{}
	for i, t := range list {
		ip := fmt.Sprintf("%s[%d]", p, i)
		k := strings.ToLower(t)
		switch {
		case t == "*" && !star:
			v.add(ip, `"*" is not a wildcard with allowCredentials (browsers read it as a header named "*"); list the headers`)
		case t == "*" && len(list) > 1:
			v.add(ip, `"*" stands for any %s: list it alone`, what)
		case t != "*" && !isToken(t):
			v.add(ip, "%q is not a valid %s", t, what)
		case seen[k]:
			v.add(ip, "%q is listed twice", t)
		}
		seen[k] = true
	}
}
