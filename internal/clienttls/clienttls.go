// Package clienttls builds the TLS config of usher's connections as a client:
// to the servers behind a load balancer (transport.tls) and to the services
// middlewares ask (forwardAuth's tls). One builder, so that both verify the
// same way and refuse the same mistakes.
package clienttls

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/usher-lb/usher/internal/config"
)

// Build makes a TLS client config from tls settings and the content of the
// files they name (caPEM, certPEM, keyPEM; nil for a file not named). On
// error, field is the key at fault (".ca", ".cert"; "" for the settings as a
// whole). TLS 1.2 is the least version offered.
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

// Load reads the files ct names and builds its config with Build. digest
// sums the settings' files, so that a caller keeping connections across
// reloads can tell a rotated certificate or CA from the same one. An error
// names the key at fault ("tls.ca: open …").
func Load(ct *config.ClientTLS) (tc *tls.Config, digest [sha256.Size]byte, err error) {
	h := sha256.New()
	var pem [3][]byte
	for i, f := range []struct{ key, name string }{{"ca", ct.CA}, {"cert", ct.Cert}, {"key", ct.Key}} {
		if f.name != "" {
			if pem[i], err = os.ReadFile(f.name); err != nil {
				return nil, digest, fmt.Errorf("tls.%s: %w", f.key, err)
			}
		}
		binary.Write(h, binary.BigEndian, uint64(len(pem[i])))
		h.Write(pem[i])
	}
	h.Sum(digest[:0])
	tc, field, err := Build(ct, pem[0], pem[1], pem[2])
	if err != nil {
		return nil, digest, fmt.Errorf("tls%s: %w", field, err)
	}
	return tc, digest, nil
}
