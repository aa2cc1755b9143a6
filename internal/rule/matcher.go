package rule

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"sync"

	"github.com/usher-lb/usher/internal/bucketkey"
)

type kind uint8

const (
	kHost kind = iota
	kHostRegexp
	kPath
	kPathPrefix
	kPathRegexp
	kMethod
	kHeader
	kHeaderRegexp
	kQuery
	kQueryKey
	kQueryRegexp
	kClientIP
	kBucket
	kSNI
	kSNIAny
	kSNIRegexp
)

// matcher is one compiled leaf of a rule. Which fields are used depends on kind:
//
//	kHost, kSNI          a: lowercase host, no trailing dot, no IPv6 brackets
//	kPath, kPathPrefix   a: path or prefix
//	kMethod              a: uppercase method
//	kHeader              a: canonical header name, b: value
//	kQuery               a: key, b: value (both decoded)
//	kQueryKey            a: key
//	k*Regexp             re (and a: header or query key)
//	kClientIP            cidr: masked, IPv4-mapped IPv6 turned into IPv4
//	kBucket              src: the key's source; lo, hi: the percent range
type matcher struct {
	kind   kind
	a, b   string
	re     *regexp.Regexp
	cidr   netip.Prefix
	src    bucketkey.Source
	lo, hi float64
}

// spec describes a matcher of the language: its name, where it is allowed, how
// many arguments it takes and how to compile them.
type spec struct {
	name     string
	modes    uint8 // bit 1<<modeHTTP, 1<<modeTCP, and numArgs
	min, max int
	build    func(m *matcher, args []arg) *SyntaxError
}

const (
	inHTTP  = 1 << modeHTTP
	inTCP   = 1 << modeTCP
	numArgs = 1 << 7 // bare numbers are allowed among its arguments
)

var specs = []spec{
	{"Host", inHTTP, 1, 1, buildHost},
	{"HostRegexp", inHTTP, 1, 1, buildHostRegexp},
	{"Path", inHTTP, 1, 1, buildPath},
	{"PathPrefix", inHTTP, 1, 1, buildPathPrefix},
	{"PathRegexp", inHTTP, 1, 1, buildPathRegexp},
	{"Method", inHTTP, 1, 1, buildMethod},
	{"Header", inHTTP, 2, 2, buildHeader},
	{"HeaderRegexp", inHTTP, 2, 2, buildHeaderRegexp},
	{"Query", inHTTP, 1, 2, buildQuery},
	{"QueryRegexp", inHTTP, 2, 2, buildQueryRegexp},
	{"ClientIP", inHTTP | inTCP, 1, 1, buildClientIP},
	{"Bucket", inHTTP | numArgs, 3, 3, buildBucket},
	{"HostSNI", inTCP, 1, 1, buildHostSNI},
	{"HostSNIRegexp", inTCP, 1, 1, buildHostSNIRegexp},
}

func argErr(name string, a arg, msg string) *SyntaxError {
	return errAt(a.pos, name+": "+msg)
}

func buildHost(m *matcher, args []arg) *SyntaxError {
	h, err := hostArg("Host", args[0])
	if err != nil {
		return err
	}
	m.kind, m.a = kHost, h
	return nil
}

func buildHostSNI(m *matcher, args []arg) *SyntaxError {
	if args[0].val == "*" {
		m.kind = kSNIAny
		return nil
	}
	h, err := hostArg("HostSNI", args[0])
	if err != nil {
		return err
	}
	m.kind, m.a = kSNI, h
	return nil
}

// hostArg checks a host name (or IP literal) argument and returns it lowercase,
// without one trailing dot and without IPv6 brackets.
func hostArg(name string, a arg) (string, *SyntaxError) {
	h := a.val
	switch {
	case h == "":
		return "", argErr(name, a, "empty host")
	case !isASCII(h):
		return "", argErr(name, a, "non-ASCII host "+strconv.Quote(h)+"; write it in its punycode (xn--) form")
	case strings.Contains(h, "*"):
		return "", argErr(name, a, "wildcard host "+strconv.Quote(h)+" is not supported; use "+name+`Regexp(`+"`"+`[a-z0-9-]+\.example\.com`+"`"+`)`)
	}
	if strings.Contains(h, "://") || strings.ContainsAny(h, "/?#@") {
		return "", argErr(name, a, "invalid host "+strconv.Quote(h)+"; want a bare host name like example.com")
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(isIdentByte(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return "", argErr(name, a, "invalid character "+strconv.QuoteRune(rune(c))+" in host "+strconv.Quote(h))
		}
	}
	if strings.Count(h, ":") == 1 || strings.HasPrefix(h, "[") && !strings.HasSuffix(h, "]") {
		return "", argErr(name, a, "host "+strconv.Quote(h)+" has a port; hosts are matched without port")
	}
	h = normHost(strings.ToLower(h))
	if h == "" {
		return "", argErr(name, a, "empty host")
	}
	return h, nil
}

// normHost removes one trailing dot and the brackets around an IPv6 literal.
// It does not allocate.
func normHost(h string) string {
	if n := len(h); n > 0 && h[n-1] == '.' {
		h = h[:n-1]
	}
	if n := len(h); n >= 2 && h[0] == '[' && h[n-1] == ']' {
		h = h[1 : n-1]
	}
	return h
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func buildHostRegexp(m *matcher, args []arg) *SyntaxError {
	re, err := hostRegexpArg("HostRegexp", args[0])
	if err != nil {
		return err
	}
	m.kind, m.re = kHostRegexp, re
	return nil
}

func buildHostSNIRegexp(m *matcher, args []arg) *SyntaxError {
	re, err := hostRegexpArg("HostSNIRegexp", args[0])
	if err != nil {
		return err
	}
	m.kind, m.re = kSNIRegexp, re
	return nil
}

// hostRegexpArg compiles a host regexp: anchored at both ends, case-insensitive.
func hostRegexpArg(name string, a arg) (*regexp.Regexp, *SyntaxError) {
	if !isASCII(a.val) {
		return nil, argErr(name, a, "non-ASCII regexp; hosts are matched in their punycode (xn--) form")
	}
	if _, err := regexpArg(name, a); err != nil {
		return nil, err
	}
	// The user's regexp compiled alone above, so this cannot fail.
	return regexp.MustCompile(`(?i)^(?:` + a.val + `)$`), nil
}

// regexpArg compiles a regexp argument as written.
func regexpArg(name string, a arg) (*regexp.Regexp, *SyntaxError) {
	if a.val == "" {
		return nil, argErr(name, a, "empty regexp")
	}
	if hasV2Placeholder(a.val) {
		return nil, argErr(name, a, "{name:regexp} placeholders are Traefik v2 syntax; write the regexp alone")
	}
	re, err := regexp.Compile(a.val)
	if err != nil {
		msg := err.Error()
		var se *syntax.Error
		if errors.As(err, &se) {
			msg = se.Code.String() + ": `" + se.Expr + "`"
		}
		return nil, argErr(name, a, "invalid regexp: "+msg)
	}
	return re, nil
}

// hasV2Placeholder reports whether s contains "{ident:", Traefik v2's
// HostRegexp/PathPrefix placeholder, which Go reads as literal text.
func hasV2Placeholder(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '{' || i+1 >= len(s) || !isIdentStart(s[i+1]) {
			continue
		}
		j := i + 2
		for j < len(s) && isIdentByte(s[j]) {
			j++
		}
		if j < len(s) && s[j] == ':' {
			return true
		}
	}
	return false
}

func pathArg(name string, a arg) *SyntaxError {
	if !strings.HasPrefix(a.val, "/") {
		return argErr(name, a, "path "+strconv.Quote(a.val)+" must start with '/'")
	}
	return nil
}

func buildPath(m *matcher, args []arg) *SyntaxError {
	if err := pathArg("Path", args[0]); err != nil {
		return err
	}
	m.kind, m.a = kPath, args[0].val
	return nil
}

func buildPathPrefix(m *matcher, args []arg) *SyntaxError {
	if err := pathArg("PathPrefix", args[0]); err != nil {
		return err
	}
	m.kind, m.a = kPathPrefix, args[0].val
	return nil
}

func buildPathRegexp(m *matcher, args []arg) *SyntaxError {
	re, err := regexpArg("PathRegexp", args[0])
	if err != nil {
		return err
	}
	m.kind, m.re = kPathRegexp, re
	return nil
}

// isToken reports whether s is a non-empty RFC 9110 token (methods, header names).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isIdentByte(c) || strings.IndexByte("!#$%&'*+-.^`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

func buildMethod(m *matcher, args []arg) *SyntaxError {
	a := args[0]
	if !isToken(a.val) {
		if strings.ContainsAny(a.val, ", ") {
			return argErr("Method", a, "one method per matcher; write Method(`GET`) || Method(`HEAD`)")
		}
		return argErr("Method", a, "invalid method "+strconv.Quote(a.val))
	}
	m.kind, m.a = kMethod, strings.ToUpper(a.val)
	return nil
}

func headerKeyArg(name string, a arg) (string, *SyntaxError) {
	if !isToken(a.val) {
		return "", argErr(name, a, "invalid header name "+strconv.Quote(a.val))
	}
	k := http.CanonicalHeaderKey(a.val)
	if k == "Host" {
		return "", argErr(name, a, "the Host header is not in the header map; use Host or HostRegexp")
	}
	return k, nil
}

func buildHeader(m *matcher, args []arg) *SyntaxError {
	k, err := headerKeyArg("Header", args[0])
	if err != nil {
		return err
	}
	m.kind, m.a, m.b = kHeader, k, args[1].val
	return nil
}

func buildHeaderRegexp(m *matcher, args []arg) *SyntaxError {
	k, err := headerKeyArg("HeaderRegexp", args[0])
	if err != nil {
		return err
	}
	re, err := regexpArg("HeaderRegexp", args[1])
	if err != nil {
		return err
	}
	m.kind, m.a, m.re = kHeaderRegexp, k, re
	return nil
}

func queryKeyArg(name string, a arg) *SyntaxError {
	switch {
	case a.val == "":
		return argErr(name, a, "empty query key")
	case strings.Contains(a.val, "="):
		k, v, _ := strings.Cut(a.val, "=")
		return argErr(name, a, "key "+strconv.Quote(a.val)+" contains '='; write "+name+"(`"+k+"`, `"+v+"`)")
	}
	return nil
}

func buildQuery(m *matcher, args []arg) *SyntaxError {
	if err := queryKeyArg("Query", args[0]); err != nil {
		return err
	}
	if len(args) == 1 {
		m.kind, m.a = kQueryKey, args[0].val
		return nil
	}
	m.kind, m.a, m.b = kQuery, args[0].val, args[1].val
	return nil
}

func buildQueryRegexp(m *matcher, args []arg) *SyntaxError {
	if err := queryKeyArg("QueryRegexp", args[0]); err != nil {
		return err
	}
	re, err := regexpArg("QueryRegexp", args[1])
	if err != nil {
		return err
	}
	m.kind, m.a, m.re = kQueryRegexp, args[0].val, re
	return nil
}

// buildClientIP accepts an IP ("192.168.1.7", "::1") or a CIDR ("10.0.0.0/8");
// host bits of a CIDR are ignored and an IPv4-mapped IPv6 address or prefix
// (with at least 96 bits) is turned into IPv4.
func buildClientIP(m *matcher, args []arg) *SyntaxError {
	a := args[0]
	var p netip.Prefix
	if strings.Contains(a.val, "/") {
		var err error
		if p, err = netip.ParsePrefix(a.val); err != nil {
			return argErr("ClientIP", a, "invalid CIDR "+strconv.Quote(a.val))
		}
	} else {
		ip, err := netip.ParseAddr(a.val)
		if err != nil {
			return argErr("ClientIP", a, "invalid IP or CIDR "+strconv.Quote(a.val))
		}
		ip = ip.WithZone("")
		p = netip.PrefixFrom(ip, ip.BitLen())
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	m.kind, m.cidr = kClientIP, p.Masked()
	return nil
}

// buildBucket compiles Bucket(key, lo, hi): the source of the key in
// bucketBy's syntax, and a percent range 0 <= lo < hi <= 100.
func buildBucket(m *matcher, args []arg) *SyntaxError {
	a := args[0]
	if a.num {
		return argErr("Bucket", a, "the first argument is the key, like `cookie:uid`, `header:X-User` or `clientIP`")
	}
	src, err := bucketkey.Parse(a.val)
	if err != nil {
		return argErr("Bucket", a, err.Error())
	}
	if src.Kind == bucketkey.Claim {
		return argErr("Bucket", a, "a claim is known only once an auth middleware ran, after routing; bucket by claim with a weighted service's bucketBy")
	}
	var bounds [2]float64
	for i, b := range args[1:] {
		f, err := strconv.ParseFloat(b.val, 64)
		if err != nil || f != f || strings.ContainsAny(b.val, "eEinfINFxX_") {
			return argErr("Bucket", b, "invalid percent "+strconv.Quote(b.val)+"; want a number from 0 to 100, like 20 or 0.5")
		}
		if f < 0 || f > 100 {
			return argErr("Bucket", b, "percent "+b.val+" is out of 0 to 100")
		}
		bounds[i] = f
	}
	if bounds[0] >= bounds[1] {
		return argErr("Bucket", args[1], "empty range ["+args[1].val+", "+args[2].val+"): the first percent must be below the second")
	}
	m.kind, m.src, m.lo, m.hi = kBucket, src, bounds[0], bounds[1]
	return nil
}

// matchBucket reports whether the request's key falls in [lo, hi). A request
// without the key matches no Bucket: neither a range nor its complement.
func (m *matcher) matchBucket(req *Request) bool {
	var h uint64
	switch m.src.Kind {
	case bucketkey.Cookie:
		v, ok := bucketkey.CookieValue(req.R.Header["Cookie"], m.src.Name)
		if !ok {
			return false
		}
		h = bucketkey.Hash(v)
	case bucketkey.Header:
		v := req.R.Header[m.src.Name]
		if len(v) == 0 || v[0] == "" {
			return false
		}
		h = bucketkey.Hash(v[0])
	case bucketkey.ClientIP:
		if !req.ClientIP.IsValid() {
			return false
		}
		h = bucketkey.HashIP(req.ClientIP)
	default:
		return false
	}
	p := bucketkey.Point(h)
	return m.lo <= p && p < m.hi
}

// matchIP reports whether ip is in p, reading an IPv4-mapped IPv6 address as
// IPv4 and ignoring a zone.
func matchIP(p netip.Prefix, ip netip.Addr) bool {
	return p.Contains(ip.Unmap().WithZone(""))
}

func (m *matcher) matchHTTP(req *Request) bool {
	switch m.kind {
	case kHost:
		return normHost(req.Host) == m.a
	case kHostRegexp:
		return m.re.MatchString(normHost(req.Host))
	case kPath:
		return req.R.URL.Path == m.a
	case kPathPrefix:
		return strings.HasPrefix(req.R.URL.Path, m.a)
	case kPathRegexp:
		return m.re.MatchString(req.R.URL.Path)
	case kMethod:
		return req.R.Method == m.a || strings.EqualFold(req.R.Method, m.a)
	case kHeader:
		for _, v := range req.R.Header[m.a] {
			if v == m.b {
				return true
			}
		}
		return false
	case kHeaderRegexp:
		for _, v := range req.R.Header[m.a] {
			if m.re.MatchString(v) {
				return true
			}
		}
		return false
	case kQuery, kQueryKey, kQueryRegexp:
		return m.matchQuery(req.R.URL.RawQuery)
	case kClientIP:
		return matchIP(m.cidr, req.ClientIP)
	case kBucket:
		return m.matchBucket(req)
	}
	return false
}

func (m *matcher) matchTCP(c *Conn) bool {
	switch m.kind {
	case kSNIAny:
		return true
	case kSNI:
		return normHost(c.SNI) == m.a
	case kSNIRegexp:
		return m.re.MatchString(normHost(c.SNI))
	case kClientIP:
		return matchIP(m.cidr, c.ClientIP)
	}
	return false
}

// matchQuery scans a raw query as url.ParseQuery would, without building
// url.Values: pairs are split at '&'; empty pairs and pairs containing ';' are
// skipped; key and value are percent-decoded ('+' is a space) and a pair with
// a malformed escape is skipped.
func (m *matcher) matchQuery(q string) bool {
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if pair == "" || strings.IndexByte(pair, ';') >= 0 {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if !unescapedEqual(k, m.a) {
			continue
		}
		switch m.kind {
		case kQuery:
			if unescapedEqual(v, m.b) {
				return true
			}
		case kQueryKey:
			if validEscapes(v) {
				return true
			}
		case kQueryRegexp:
			if !strings.ContainsAny(v, "%+") {
				if m.re.MatchString(v) {
					return true
				}
				continue
			}
			if matchDecoded(m.re, v) {
				return true
			}
		}
	}
	return false
}

// decodeBufs holds buffers to decode query values into for a regexp, so that
// QueryRegexp does not allocate on a percent-encoded value.
var decodeBufs = sync.Pool{New: func() any { return new([maxPooledDecode]byte) }}

// maxPooledDecode is the longest value decoded into a pooled buffer; a longer
// one is decoded into a new string.
const maxPooledDecode = 1024

// matchDecoded reports whether raw is a well-formed query component whose
// decoded form matches re.
func matchDecoded(re *regexp.Regexp, raw string) bool {
	if len(raw) > maxPooledDecode {
		d, err := url.QueryUnescape(raw)
		return err == nil && re.MatchString(d)
	}
	buf := decodeBufs.Get().(*[maxPooledDecode]byte)
	defer decodeBufs.Put(buf)
	b := buf[:0]
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch c {
		case '%':
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return false
			}
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 2
		case '+':
			c = ' '
		}
		b = append(b, c)
	}
	return re.Match(b)
}

// unescapedEqual reports whether raw, percent-decoded with '+' as space, is
// well-formed and equals want. It decodes on the fly without allocating.
func unescapedEqual(raw, want string) bool {
	j := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch c {
		case '%':
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return false
			}
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 2
		case '+':
			c = ' '
		}
		if j >= len(want) || want[j] != c {
			return false
		}
		j++
	}
	return j == len(want)
}

// validEscapes reports whether every '%' in s starts a two-digit hex escape.
func validEscapes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
