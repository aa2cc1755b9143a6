package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// jwtAlgorithms are the algorithms jwt verifies, by family.
var jwtAlgorithms = []string{
	"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512", "EdDSA",
}

// jwt checks a jwt middleware: a key to verify with, known algorithms each
// with a key of its family, claim matchers with something to match, header
// names, and where the token comes from.
func (v *validator) jwt(p string, j *JWT) {
	if j.Secret == "" && j.PublicKeyFile == "" && j.JWKSURL == "" {
		v.add(p, "a key is required: secret (or secretFile), publicKeyFile or jwksURL")
	}
	v.fileExists(p+".publicKeyFile", j.PublicKeyFile)
	if j.JWKSURL != "" {
		shown := RedactURL(j.JWKSURL)
		u, err := url.Parse(j.JWKSURL)
		switch {
		case err != nil:
			v.add(p+".jwksURL", "%q is not a URL: %v", shown, redactedCause(err, j.JWKSURL))
		case u.Scheme != "http" && u.Scheme != "https":
			v.add(p+".jwksURL", "%q must start with https:// (or http://)", shown)
		case u.Hostname() == "":
			v.add(p+".jwksURL", "%q has no host", shown)
		}
	}
	if ct := j.JWKSTLS; ct != nil {
		if j.JWKSURL == "" {
			v.add(p+".jwksTLS", "is for jwksURL, which is not set")
		}
		v.fileExists(p+".jwksTLS.ca", ct.CA)
		v.fileExists(p+".jwksTLS.cert", ct.Cert)
		v.fileExists(p+".jwksTLS.key", ct.Key)
		if (ct.Cert == "") != (ct.Key == "") {
			v.add(p+".jwksTLS", "cert and key go together: set both or neither")
		}
	}
	for i, a := range j.Algorithms {
		ap := fmt.Sprintf("%s.algorithms[%d]", p, i)
		switch {
		case strings.EqualFold(a, "none"):
			v.add(ap, "unsigned tokens (none) are never accepted")
		case !slices.Contains(jwtAlgorithms, a):
			v.add(ap, "%q is not one of %s%s", a, strings.Join(jwtAlgorithms, ", "), didYouMean(a, jwtAlgorithms))
		case strings.HasPrefix(a, "HS") && j.Secret == "":
			v.add(ap, "%s is verified with a secret, and there is none (a public key never serves as an HMAC secret)", a)
		case !strings.HasPrefix(a, "HS") && j.PublicKeyFile == "" && j.JWKSURL == "":
			v.add(ap, "%s is verified with a public key: set publicKeyFile or jwksURL", a)
		}
	}
	for i, a := range j.Audience {
		if a == "" {
			v.add(fmt.Sprintf("%s.audience[%d]", p, i), "an audience cannot be empty")
		}
	}
	for i, c := range j.RequiredClaims {
		if c == "" {
			v.add(fmt.Sprintf("%s.requiredClaims[%d]", p, i), "a claim name cannot be empty")
		}
	}
	for _, name := range sortedKeys(j.Claims) {
		m := j.Claims[name]
		if m == nil || (m.Equals == "" && m.Contains == "" && len(m.OneOf) == 0) {
			v.add(p+".claims."+name, "say what the claim must be: equals, contains or oneOf")
		}
	}
	seen := map[string]string{}
	for _, claim := range sortedKeys(j.ClaimsToHeaders) {
		h := j.ClaimsToHeaders[claim]
		hp := p + ".claimsToHeaders." + claim
		switch {
		case !isToken(h):
			v.add(hp, "%q is not a valid header name", h)
		case isFramingField(h):
			v.add(hp, "%q belongs to one connection and cannot carry a claim", h)
		case seen[strings.ToLower(h)] != "":
			v.add(hp, "header %q already carries claim %q", h, seen[strings.ToLower(h)])
		}
		seen[strings.ToLower(h)] = claim
	}
	if strings.ContainsAny(j.Realm, "\"\\\r\n") {
		v.add(p+".realm", "a realm cannot hold a quote, a backslash or a line break")
	}
	for i, src := range j.TokenFrom {
		where, name, _ := strings.Cut(src, ":")
		sp := fmt.Sprintf("%s.tokenFrom[%d]", p, i)
		switch {
		case where != "header" && where != "cookie" && where != "query":
			v.add(sp, "%q is not header:NAME, cookie:NAME or query:NAME", src)
		case name == "", where != "query" && !isToken(name):
			v.add(sp, "%q needs a valid %s name after the colon", src, where)
		}
	}
}
