package config

import "strings"

// headerPolicies checks the cross-origin isolation headers of a headers
// middleware: their value (before any parameters, like report-to) is one of
// those browsers know, so that a typo does not silently turn them off.
func (v *validator) headerPolicies(p string, s *Headers) {
	for _, h := range []struct {
		key, val string
		allowed  []string
	}{
		{"crossOriginOpenerPolicy", s.CrossOriginOpenerPolicy, []string{"same-origin", "same-origin-allow-popups", "noopener-allow-popups", "unsafe-none"}},
		{"crossOriginEmbedderPolicy", s.CrossOriginEmbedderPolicy, []string{"require-corp", "credentialless", "unsafe-none"}},
		{"crossOriginResourcePolicy", s.CrossOriginResourcePolicy, []string{"same-origin", "same-site", "cross-origin"}},
	} {
		val, _, _ := strings.Cut(h.val, ";")
		v.oneOf(p+"."+h.key, strings.TrimSpace(val), h.allowed...)
	}
	if strings.ContainsFunc(s.PermissionsPolicy, func(c rune) bool { return c < 0x20 && c != '\t' || c == 0x7f }) {
		v.add(p+".permissionsPolicy", "the value has a control character")
	}
}
