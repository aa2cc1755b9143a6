package test

import (
	"os"
	"strings"
	"testing"
)

// A certificate or key file replaced in place by a bad one (garbage, a cut
// PEM, another certificate's key, an empty file, no file): the reload is
// refused, naming the file and the reason, and the certificate that was
// serving serves on. A good pair in the same files is then taken.
func TestBadCertificateFileInPlaceKeepsTheWorkingOne(t *testing.T) {
	p := standardPKI(t)
	p.leaf("next", "server-ca", "ec", "/CN=a.test", "subjectAltName=DNS:a.test", "extendedKeyUsage=serverAuth")
	p.key("other", "ec")
	be := backend(t, "app")
	certFile, keyFile := p.path("server.pem"), p.path("server.key")
	cfg := config(`
entrypoints:
  websecure: { address: "127.0.0.1:0", tls: {} }
tls:
  certificates: [ { certFile: "{{cert}}", keyFile: "{{key}}" } ]
http:
  routers:
    a: { rule: "Host(`+"`a.test`"+`)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "cert", certFile, "key", keyFile, "be", be.URL)
	u := startUsher(t, cfg)
	roots := p.pool("server-ca")
	serving := func() string {
		t.Helper()
		status, body, cs, err := tlsGet(u.addrs["websecure"], "a.test", "", roots, nil)
		if err != nil || status != 200 || body != "app" {
			t.Fatalf("GET https://a.test/: %d %q %v", status, body, err)
		}
		return cs.PeerCertificates[0].SerialNumber.String()
	}
	first := serving()
	read := func(name string) []byte {
		b, err := os.ReadFile(p.path(name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	goodCert, goodKey := read("server.pem"), read("server.key")
	for _, c := range []struct {
		what      string
		cert, key []byte // nil: the file is removed
		want      string
	}{
		{"garbage certificate", []byte("this is not a certificate\n"), goodKey, certFile + ": failed to find any PEM data in certificate input"},
		{"cut certificate", goodCert[:len(goodCert)/2], goodKey, certFile + ": failed to find any PEM data in certificate input"},
		{"another certificate's key", goodCert, read("other.key"), certFile + " and " + keyFile + ": private key does not match public key"},
		{"empty key", goodCert, []byte{}, keyFile + ": failed to find any PEM data in key input"},
		{"no key file", goodCert, nil, "tls.certificates[0].keyFile: cannot read " + keyFile},
	} {
		for name, b := range map[string][]byte{certFile: c.cert, keyFile: c.key} {
			if b == nil {
				os.Remove(name)
				continue
			}
			if err := os.WriteFile(name, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		l := u.rewrite(cfg) // the same config: a SIGHUP reads the files again
		if e, _ := l["error"].(string); !strings.HasPrefix(l.msg(), "configuration refused") || !strings.Contains(e, c.want) {
			t.Errorf("%s: %v, want refused with %q", c.what, l, c.want)
		}
		if got := serving(); got != first {
			t.Errorf("after the %s was refused, certificate %s serves, want the working %s", c.what, got, first)
		}
	}
	os.WriteFile(certFile, read("next.pem"), 0o600)
	os.WriteFile(keyFile, read("next.key"), 0o600)
	if l := u.rewrite(cfg); l.msg() != "configuration applied" {
		t.Fatalf("a good pair in place: %v", l)
	}
	if got := serving(); got == first {
		t.Errorf("the new certificate does not serve after a reload with it")
	}
}
