package compress

import (
	"fmt"
	"strings"
)

// mediaPattern matches media types: type/subtype, type/* (any subtype),
// type/*+suffix (application/*+json), and */* (anything). Kept lower case;
// matched without regard to case.
type mediaPattern struct {
	typ    string // "*": any type
	sub    string // "*": any subtype; "": see suffix
	suffix string // "+json" for */*+json
}

func parseMediaPattern(s string) (mediaPattern, error) {
	typ, sub, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "/")
	bad := fmt.Errorf("%q is not a media type: write type/subtype, type/* or type/*+suffix, without parameters", s)
	if !ok || !isToken(typ) || sub == "" {
		return mediaPattern{}, bad
	}
	if sub == "*" {
		return mediaPattern{typ: typ, sub: "*"}, nil
	}
	if suffix, ok := strings.CutPrefix(sub, "*+"); ok && isToken(suffix) && !strings.Contains(suffix, "*") {
		return mediaPattern{typ: typ, suffix: "+" + suffix}, nil
	}
	if !isToken(sub) || strings.Contains(typ+sub, "*") {
		return mediaPattern{}, bad
	}
	return mediaPattern{typ: typ, sub: sub}, nil
}

func (p mediaPattern) match(typ, sub string) bool {
	if p.typ != "*" && !strings.EqualFold(p.typ, typ) {
		return false
	}
	switch {
	case p.sub == "*":
		return true
	case p.sub != "":
		return strings.EqualFold(p.sub, sub)
	}
	return len(sub) > len(p.suffix) && strings.EqualFold(sub[len(sub)-len(p.suffix):], p.suffix)
}

// matchAny tells whether one of pats matches typ/sub.
func matchAny(pats []mediaPattern, typ, sub string) bool {
	for _, p := range pats {
		if p.match(typ, sub) {
			return true
		}
	}
	return false
}

// splitMediaType returns the type and subtype of a Content-Type value
// ("text/html; charset=utf-8" gives text, html); ok is false when it is not
// one.
func splitMediaType(v string) (typ, sub string, ok bool) {
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	typ, sub, ok = strings.Cut(trimOWS(v), "/")
	if !ok || !isToken(typ) || !isToken(sub) {
		return "", "", false
	}
	return typ, sub, true
}

// defaultExcluded are the types not compressed unless includedContentTypes
// names them: already compressed (images, audio, video, WOFF fonts,
// compressed archives) or of unknown content (application/octet-stream).
// SVG, an image that is XML text, is the exception (defaultExcludedExcept).
var (
	defaultExcluded       = mustPatterns(DefaultExcludedContentTypes)
	defaultExcludedExcept = mustPatterns([]string{"image/svg+xml"})
)

// DefaultExcludedContentTypes are the media types compress leaves alone when
// includedContentTypes is not set (image/svg+xml is compressed all the same).
var DefaultExcludedContentTypes = []string{
	"image/*", "video/*", "audio/*",
	"font/woff", "font/woff2", "application/font-woff", "application/font-woff2",
	"application/zip", "application/gzip", "application/x-gzip", "application/zstd",
	"application/x-bzip2", "application/x-xz", "application/x-7z-compressed",
	"application/x-rar-compressed", "application/vnd.rar", "application/java-archive",
	"application/x-compress", "application/x-lzip", "application/x-lzma",
	"application/octet-stream",
}

func mustPatterns(ss []string) []mediaPattern {
	pats, err := parsePatterns(ss)
	if err != nil {
		panic(err)
	}
	return pats
}

func parsePatterns(ss []string) ([]mediaPattern, error) {
	pats := make([]mediaPattern, 0, len(ss))
	for _, s := range ss {
		p, err := parseMediaPattern(s)
		if err != nil {
			return nil, err
		}
		pats = append(pats, p)
	}
	return pats, nil
}

// isToken tells whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
