package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/usher-lb/usher/internal/rule"
)

// challenges are the values of certResolvers.NAME.acme.challenge.
var challenges = []string{"http-01", "tls-alpn-01", "dns-01"}

// certResolvers checks the static certResolvers section: each resolver is
// ACME, with a challenge usher can answer on the entrypoints it has.
func (v *validator) certResolvers() {
	c := v.c
	for _, name := range sortedKeys(c.CertResolvers) {
		r, p := c.CertResolvers[name], "certResolvers."+name
		if r == nil || r.ACME == nil {
			v.add(p+".acme", "a certResolver needs an acme section (email, caServer, challenge)")
			continue
		}
		v.acme(p+".acme", r.ACME)
	}
}

func (v *validator) acme(p string, a *ACME) {
	if a.CAServer != "" {
		shown := RedactURL(a.CAServer)
		u, err := url.Parse(a.CAServer)
		switch {
		case err != nil:
			v.add(p+".caServer", "%q is not a URL: %v", shown, redactedCause(err, a.CAServer))
		case u.Scheme != "https":
			v.add(p+".caServer", "%q must start with https:// (ACME is spoken over TLS only)", shown)
		case u.Hostname() == "":
			v.add(p+".caServer", "%q has no host", shown)
		}
	}
	if a.Email != "" && (!strings.Contains(a.Email, "@") || strings.ContainsAny(a.Email, " \t<>")) {
		v.add(p+".email", "%q is not an email address", a.Email)
	}
	v.fileExists(p+".caRoots", a.CARoots)
	v.oneOf(p+".challenge", a.Challenge, challenges...)
	switch a.Challenge {
	case "", "http-01":
		if !v.hasEntrypoint(false) {
			v.add(p+".challenge", "http-01 is answered on a plain HTTP entrypoint (the CA asks on port 80), and there is none; add one, or use tls-alpn-01")
		}
	case "tls-alpn-01":
		if !v.hasEntrypoint(true) {
			v.add(p+".challenge", "tls-alpn-01 is answered on a TLS entrypoint (the CA asks on port 443), and there is none")
		}
	case "dns-01":
		if a.DNS == nil {
			v.add(p+".dns", "dns-01 needs a DNS provider: dns: { provider: rfc2136, server: ..., tsigKey: ..., tsigSecret: ... }")
		}
	}
	if d := a.DNS; d != nil {
		if a.Challenge != "dns-01" {
			v.add(p+".dns", "a DNS provider is used by the dns-01 challenge only; set challenge: dns-01")
		}
		switch d.Provider {
		case "rfc2136":
		case "":
			v.add(p+".dns.provider", "a provider is required: rfc2136")
		default:
			v.add(p+".dns.provider", "%q is not one of rfc2136%s", d.Provider, didYouMean(d.Provider, []string{"rfc2136"}))
		}
		if d.Server == "" {
			v.add(p+".dns.server", "the primary DNS server's address is required, like 192.0.2.53:53")
		} else if _, _, err := net.SplitHostPort(d.Server); err != nil && net.ParseIP(d.Server) == nil && !validHostName(strings.ToLower(d.Server)) {
			v.add(p+".dns.server", "%q is not host:port", d.Server)
		}
		v.oneOf(p+".dns.tsigAlgorithm", d.TSIGAlgorithm, "hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1")
		switch {
		case d.TSIGKey != "" && d.TSIGSecret == "":
			v.add(p+".dns.tsigSecret", "tsigKey %q needs its secret (tsigSecret or tsigSecretFile)", d.TSIGKey)
		case d.TSIGKey == "" && d.TSIGSecret != "":
			v.add(p+".dns.tsigKey", "a TSIG secret needs the key's name")
		case d.TSIGSecret != "":
			if _, err := base64.StdEncoding.DecodeString(d.TSIGSecret); err != nil {
				v.add(p+".dns.tsigSecret", "the secret is not base64 (as tsig-keygen prints it)")
			}
		}
		if d.Zone != "" && !validHostName(strings.ToLower(strings.TrimSuffix(d.Zone, "."))) {
			v.add(p+".dns.zone", "%q is not a DNS name", d.Zone)
		}
		if d.TTL < 0 || d.PropagationTimeout < 0 {
			v.add(p+".dns", "ttl and propagationTimeout must be 0 or more")
		}
	}
	v.nonNegative(p+".renewCheckInterval", int(a.RenewCheckInterval))
	if od := a.OnDemand; od != nil {
		v.authServerURL(p+".onDemand.ask", od.Ask)
		if rl := od.RateLimit; rl != nil {
			if rl.Average < 1 {
				v.add(p+".onDemand.rateLimit.average", "must be 1 or more, got %d", rl.Average)
			}
			if rl.Period < 0 {
				v.add(p+".onDemand.rateLimit.period", "must be 0 or more")
			}
			if rl.Burst < 0 {
				v.add(p+".onDemand.rateLimit.burst", "must be 0 or more, got %d", rl.Burst)
			}
		}
	}
}

// hasEntrypoint tells whether an HTTP entrypoint with (or without) TLS exists.
func (v *validator) hasEntrypoint(withTLS bool) bool {
	for _, ep := range v.c.Entrypoints {
		if ep != nil && protocolOf(ep) == "http" && (ep.TLS != nil) == withTLS {
			return true
		}
	}
	return false
}

// certResolverRef checks a reference to a certResolver.
func (v *validator) certResolverRef(path, name string) {
	if name == "" {
		return
	}
	if _, ok := v.c.CertResolvers[name]; !ok {
		v.add(path, "certResolver %q does not exist%s", name, didYouMean(name, sortedKeys(v.c.CertResolvers)))
	}
}

// routerTLS checks a router's tls section: its resolver, and that the
// resolver has names to ask certificates for.
func (v *validator) routerTLS(p string, r *Router) {
	t := r.TLS
	v.certResolverRef(p+".tls.certResolver", t.CertResolver)
	for i, d := range t.Domains {
		dp := fmt.Sprintf("%s.tls.domains[%d]", p, i)
		if d.Main == "" {
			v.add(dp+".main", "a name is required, like example.com")
		}
		names := append([]string{d.Main}, d.SANs...)
		for j, n := range names {
			np := dp + ".main"
			if j > 0 {
				np = fmt.Sprintf("%s.sans[%d]", dp, j-1)
			}
			if n == "" && j == 0 {
				continue
			}
			v.certName(np, n, v.challengeOf(t.CertResolver))
		}
	}
	if t.CertResolver != "" && len(t.Domains) == 0 {
		if hr, err := rule.ParseHTTP(r.Rule); err == nil && len(hr.Hosts()) == 0 {
			v.add(p+".tls.certResolver", "the rule names no Host, so there is no name to get a certificate for; add Host(`...`) to the rule or list names in tls.domains")
		}
	}
}

// challengeOf is the challenge of a certResolver ("" when unknown).
func (v *validator) challengeOf(name string) string {
	if r := v.c.CertResolvers[name]; r != nil && r.ACME != nil {
		if r.ACME.Challenge == "" {
			return "http-01"
		}
		return r.ACME.Challenge
	}
	return ""
}

// certName checks a name a certificate is asked for by a resolver with
// challenge ch.
func (v *validator) certName(path, n, ch string) {
	name := strings.ToLower(strings.TrimSuffix(n, "."))
	switch {
	case strings.HasPrefix(name, "*."):
		if ch != "dns-01" && ch != "" {
			v.add(path, "%q is a wildcard, which only the dns-01 challenge can get (this resolver's is %s)", n, ch)
		} else if !validHostName(name[2:]) {
			v.add(path, "%q is not a DNS name", n)
		}
	case strings.Contains(name, "*"):
		v.add(path, "%q: a wildcard is only a whole first label, like *.example.com", n)
	case !validHostName(name):
		v.add(path, "%q is not a DNS name", n)
	}
}

// validHostName: letters, digits, hyphens and underscores between dots, no
// label empty or longer than 63 bytes; IP addresses pass too (ACME has IP
// identifiers).
func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
