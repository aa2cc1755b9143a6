package config

import (
	"crypto/tls"
	"slices"
	"strings"
)

// The names tls.options accept are crypto/tls's own (CipherSuiteName,
// CurveID.String), so that a name in the config is the name Go, openssl's
// IANA spelling and Traefik use.

// TLS12CipherSuite returns the id of a secure TLS 1.2 cipher suite by name.
func TLS12CipherSuite(name string) (uint16, bool) {
	for _, c := range tls.CipherSuites() {
		if c.Name == name && slices.Contains(c.SupportedVersions, tls.VersionTLS12) && !slices.Contains(c.SupportedVersions, tls.VersionTLS13) {
			return c.ID, true
		}
	}
	return 0, false
}

// tls12CipherSuiteNames lists the names TLS12CipherSuite accepts.
func tls12CipherSuiteNames() []string {
	var out []string
	for _, c := range tls.CipherSuites() {
		if _, ok := TLS12CipherSuite(c.Name); ok {
			out = append(out, c.Name)
		}
	}
	return out
}

// tlsCurves are the key exchanges crypto/tls implements.
var tlsCurves = []tls.CurveID{tls.X25519MLKEM768, tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024, tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521}

// TLSCurve returns the id of a key exchange by its crypto/tls name
// (CurveP256), case-insensitively; P-256, P-384 and P-521 are taken too.
func TLSCurve(name string) (tls.CurveID, bool) {
	switch strings.ToUpper(name) {
	case "P-256", "P256", "SECP256R1":
		return tls.CurveP256, true
	case "P-384", "P384", "SECP384R1":
		return tls.CurveP384, true
	case "P-521", "P521", "SECP521R1":
		return tls.CurveP521, true
	}
	for _, c := range tlsCurves {
		if strings.EqualFold(c.String(), name) {
			return c, true
		}
	}
	return 0, false
}

func tlsCurveNames() []string {
	out := make([]string, len(tlsCurves))
	for i, c := range tlsCurves {
		out[i] = c.String()
	}
	return out
}
