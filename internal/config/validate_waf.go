package config

import (
	"fmt"
	"strings"
)

// waf checks a waf middleware: levels, thresholds and limits in range, known
// modes, rule ids and tags that can name a rule, rule files that can be read.
// Directives themselves are compiled (and their errors reported, with the
// entry that has them) when a router uses the middleware.
func (v *validator) waf(p string, s *WAF) {
	if s.ParanoiaLevel < 0 || s.ParanoiaLevel > 4 {
		v.add(p+".paranoiaLevel", "paranoia levels are 1 to 4, got %d", s.ParanoiaLevel)
	}
	if s.InboundAnomalyThreshold < 0 {
		v.add(p+".inboundAnomalyThreshold", "must be 1 or more, got %d", s.InboundAnomalyThreshold)
	}
	if s.OutboundAnomalyThreshold < 0 {
		v.add(p+".outboundAnomalyThreshold", "must be 1 or more, got %d", s.OutboundAnomalyThreshold)
	}
	v.oneOf(p+".mode", s.Mode, "block", "detect")
	v.oneOf(p+".onRequestBodyLimit", s.OnRequestBodyLimit, "reject", "inspectPart")
	if l := s.RequestBodyLimit; l != nil && (*l < 0 || *l > WAFMaxBodyLimit) {
		v.add(p+".requestBodyLimit", "must be 0 to 64MiB (bodies are held in memory while inspected), got %d bytes", int64(*l))
	}
	if l := s.ResponseBodyLimit; l != nil && (*l < 1 || *l > WAFMaxBodyLimit) {
		v.add(p+".responseBodyLimit", "must be 1 byte to 64MiB (bodies are held in memory while inspected), got %d bytes", int64(*l))
	}
	for i, t := range s.ResponseBodyTypes {
		typ, sub, ok := strings.Cut(t, "/")
		if !ok || !isToken(typ) || !isToken(sub) {
			v.add(fmt.Sprintf("%s.responseBodyTypes[%d]", p, i), "%q is not a media type: write type/subtype (text/html), without parameters", t)
		}
	}
	for i, m := range s.AllowedMethods {
		if !isToken(m) {
			v.add(fmt.Sprintf("%s.allowedMethods[%d]", p, i), "%q is not a method", m)
		}
	}
	for i, id := range s.ExcludeRules {
		if id <= 0 {
			v.add(fmt.Sprintf("%s.excludeRules[%d]", p, i), "a rule id is a positive number, got %d", id)
		}
	}
	for i, tag := range s.ExcludeTags {
		if tag == "" || strings.ContainsAny(tag, "\"\\\n\r") {
			v.add(fmt.Sprintf("%s.excludeTags[%d]", p, i), "%q is not a tag (no quotes, backslashes or line breaks)", tag)
		}
	}
	for i, r := range s.Rules {
		if strings.TrimSpace(r) == "" {
			v.add(fmt.Sprintf("%s.rules[%d]", p, i), "an empty directive")
		}
	}
	for i, f := range s.RulesFiles {
		fp := fmt.Sprintf("%s.rulesFiles[%d]", p, i)
		if f == "" {
			v.add(fp, "a file name is required")
			continue
		}
		v.fileExists(fp, f)
	}
}
