package clienttls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/config"
)

// pair writes a self-signed certificate and its key to dir.
func pair(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	cert, key := pair(t, dir, "a")
	other, _ := pair(t, dir, "b")
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("not pem"), 0o600)

	for _, tc := range []struct {
		name string
		ct   config.ClientTLS
		err  string // "" = loads
	}{
		{"nothing", config.ClientTLS{}, ""},
		{"ca", config.ClientTLS{CA: cert}, ""},
		{"pair", config.ClientTLS{Cert: cert, Key: key}, ""},
		{"ca not pem", config.ClientTLS{CA: junk}, "tls.ca: no PEM certificate"},
		{"missing ca", config.ClientTLS{CA: filepath.Join(dir, "nope")}, "tls.ca: open"},
		{"cert alone", config.ClientTLS{Cert: cert}, "cert and key go together"},
		{"mismatched pair", config.ClientTLS{Cert: other, Key: key}, "tls.cert: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := Load(&tc.ct)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one with %q", err, tc.err)
			case tc.err == "" && c.MinVersion == 0:
				t.Fatal("no least TLS version")
			}
		})
	}

	_, d1, _ := Load(&config.ClientTLS{CA: cert})
	_, d2, _ := Load(&config.ClientTLS{CA: cert})
	_, d3, _ := Load(&config.ClientTLS{CA: other})
	if d1 != d2 || d1 == d3 {
		t.Fatal("the digest does not follow the files' content")
	}
}
