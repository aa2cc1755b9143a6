// Package tlsclient builds usher's TLS client configs, the same way for every
// peer usher connects to: servers (a load balancer's transport.tls) and their
// health probes, auth servers, Redis.
package tlsclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/usher-lb/usher/internal/config"
)

// Build makes a TLS client config from ClientTLS settings and the content of
// their files; on error, field is the key at fault (".ca", ".cert"), "" for
// the section itself.
func Build(ct *config.ClientTLS, caPEM, certPEM, keyPEM []byte) (tc *tls.Config, field string, err error) {
	tc = &tls.Config{ServerName: ct.ServerName, InsecureSkipVerify: ct.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if ct.CA != "" {
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(caPEM) {
			return nil, ".ca", fmt.Errorf("no PEM certificate in %s", ct.CA)
		}
	}
	if ct.Cert != "" || ct.Key != "" {
		if ct.Cert == "" || ct.Key == "" {
			return nil, "", errors.New("cert and key go together: set both or neither")
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, ".cert", fmt.Errorf("%s and %s: %v", ct.Cert, ct.Key, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, "", nil
}

// Load is Build, reading the files ct names.
func Load(ct *config.ClientTLS) (tc *tls.Config, field string, err error) {
	var files [3][]byte
	for i, f := range []struct{ key, name string }{{".ca", ct.CA}, {".cert", ct.Cert}, {".key", ct.Key}} {
		if f.name == "" {
			continue
		}
		if files[i], err = os.ReadFile(f.name); err != nil {
			return nil, f.key, err
		}
	}
	return Build(ct, files[0], files[1], files[2])
}
