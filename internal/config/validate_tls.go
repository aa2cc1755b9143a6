package config

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"

	"github.com/usher-lb/usher/internal/rule"
)

// tlsOptions checks one tls.options set beyond its versions.
func (v *validator) tlsOptions(p string, o *TLSOptions) {
	for i, name := range o.CipherSuites {
		path := fmt.Sprintf("%s.cipherSuites[%d]", p, i)
		if _, ok := TLS12CipherSuite(name); ok {
			continue
		}
		switch {
		case slices.ContainsFunc(tls.InsecureCipherSuites(), func(c *tls.CipherSuite) bool { return c.Name == name }):
			v.add(path, "%q is insecure (no forward secrecy, or RC4, 3DES or CBC-SHA256) and is not offered", name)
		case slices.ContainsFunc(tls.CipherSuites(), func(c *tls.CipherSuite) bool {
			return c.Name == name && slices.Contains(c.SupportedVersions, tls.VersionTLS13)
		}):
			v.add(path, "%q is a TLS 1.3 suite: TLS 1.3 suites are not configurable (Go offers all three)", name)
		default:
			names := tls12CipherSuiteNames()
			v.add(path, "%q is not a TLS 1.2 cipher suite Go offers (one of %s)%s", name, strings.Join(names, ", "), didYouMean(name, names))
		}
	}
	if len(o.CipherSuites) > 0 && o.MinVersion == "1.3" {
		v.add(p+".cipherSuites", "minVersion 1.3 leaves no TLS 1.2 handshake for these cipher suites to apply to")
	}
	seen := map[tls.CurveID]bool{}
	for i, name := range o.CurvePreferences {
		path := fmt.Sprintf("%s.curvePreferences[%d]", p, i)
		id, ok := TLSCurve(name)
		if !ok {
			names := tlsCurveNames()
			v.add(path, "%q is not a key exchange Go implements (one of %s)%s", name, strings.Join(names, ", "), didYouMean(name, names))
			continue
		}
		if seen[id] {
			v.add(path, "%q is listed twice", name)
		}
		seen[id] = true
	}
	for i, proto := range o.ALPNProtocols {
		path := fmt.Sprintf("%s.alpnProtocols[%d]", p, i)
		v.oneOf(path, proto, "h2", "http/1.1")
		if proto == "" {
			v.add(path, "an empty protocol name is not allowed")
		}
		if slices.Index(o.ALPNProtocols, proto) != i {
			v.add(path, "%q is listed twice", proto)
		}
	}
	if ca := o.ClientAuth; ca != nil {
		v.oneOf(p+".clientAuth.mode", ca.Mode, "none", "request", "require", "verifyIfGiven", "verify")
		for i, f := range ca.CAFiles {
			v.fileExists(fmt.Sprintf("%s.clientAuth.caFiles[%d]", p, i), f)
		}
		if (ca.Mode == "verify" || ca.Mode == "verifyIfGiven") && len(ca.CAFiles) == 0 {
			v.add(p+".clientAuth.caFiles", "mode %s needs at least one CA file to verify client certificates against", ca.Mode)
		}
	}
}

// routerTLSOptions checks a router's tls.options: they are chosen during the
// handshake by the client's SNI, so the rule must name the hosts they apply
// to.
func (v *validator) routerTLSOptions(p string, r *Router) {
	name := r.TLS.Options
	if name == "" {
		return
	}
	v.tlsOptionRef(p+".tls.options", name)
	hr, err := rule.ParseHTTP(r.Rule)
	if err != nil {
		return // the rule's own error says why
	}
	if hs := hr.Hosts(); len(hs) == 0 {
		v.add(p+".tls.options", "TLS options are chosen during the handshake, by the SNI the client sends: the rule must name its hosts with Host(...), which %q does not (use the entrypoint's tls.options for every host)", r.Rule)
	}
}
