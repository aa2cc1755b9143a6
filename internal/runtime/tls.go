package runtime

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/usher-lb/usher/internal/config"
)

// TLSSet is the compiled tls section: certificates chosen by SNI and the named
// option sets. Entrypoints ask the running snapshot's TLSSet on each handshake,
// so a reload changes certificates without a restart.
type TLSSet struct {
	certs   []tls.Certificate
	options map[string]*tls.Config
}

// Config returns the server tls.Config of the named options ("" = default).
func (t *TLSSet) Config(name string) *tls.Config {
	if name == "" {
		name = "default"
	}
	if c, ok := t.options[name]; ok {
		return c
	}
	return t.options["default"]
}

// Expiry returns when each certificate expires, by its first DNS name (or its
// subject's common name).
func (t *TLSSet) Expiry() map[string]time.Time {
	out := make(map[string]time.Time, len(t.certs))
	for _, c := range t.certs {
		leaf := c.Leaf
		if leaf == nil {
			continue
		}
		name := leaf.Subject.CommonName
		if len(leaf.DNSNames) > 0 {
			name = leaf.DNSNames[0]
		}
		out[name] = leaf.NotAfter
	}
	return out
}

// HasCertificates tells whether any certificate is configured.
func (t *TLSSet) HasCertificates() bool { return len(t.certs) > 0 }

func compileTLS(cfg *config.Config) (*TLSSet, error) {
	set := &TLSSet{options: map[string]*tls.Config{}}
	var tc config.TLS
	if cfg.TLS != nil {
		tc = *cfg.TLS
	}
	for i, c := range tc.Certificates {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("certificates[%d]: %w", i, err)
		}
		set.certs = append(set.certs, cert)
	}
	if tc.Options["default"] == nil {
		set.options["default"] = set.serverConfig(&config.TLSOptions{})
	}
	for name, o := range tc.Options {
		c := set.serverConfig(o)
		if ca := o.ClientAuth; ca != nil && len(ca.CAFiles) > 0 {
			pool := x509.NewCertPool()
			for _, f := range ca.CAFiles {
				pem, err := os.ReadFile(f)
				if err != nil {
					return nil, fmt.Errorf("options.%s.clientAuth: %w", name, err)
				}
				if !pool.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("options.%s.clientAuth: no certificate in %s", name, f)
				}
			}
			c.ClientCAs = pool
		}
		set.options[name] = c
	}
	return set, nil
}

func (t *TLSSet) serverConfig(o *config.TLSOptions) *tls.Config {
	c := &tls.Config{
		Certificates: t.certs,
		MinVersion:   tlsVersion(o.MinVersion, tls.VersionTLS12),
		MaxVersion:   tlsVersion(o.MaxVersion, tls.VersionTLS13),
		NextProtos:   []string{"h2", "http/1.1"},
	}
	if ca := o.ClientAuth; ca != nil {
		switch ca.Mode {
		case "request":
			c.ClientAuth = tls.RequestClientCert
		case "require":
			c.ClientAuth = tls.RequireAnyClientCert
		case "verify":
			c.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return c
}

func tlsVersion(s string, def uint16) uint16 {
	switch s {
	case "1.2":
		return tls.VersionTLS12
	case "1.3":
		return tls.VersionTLS13
	}
	return def
}
