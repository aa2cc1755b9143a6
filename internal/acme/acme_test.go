package acme

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"testing"
	"time"

	"github.com/mholt/acmez/v3/acme"

	"github.com/usher-lb/usher/internal/config"
)

func TestNames(t *testing.T) {
	c, err := config.Parse("usher.yaml", []byte(`
entrypoints:
  web: { address: ":80" }
  websecure: { address: ":443", tls: { certResolver: ep } }
  other: { address: ":8443", tls: {} }
certResolvers:
  ep: { acme: {} }
  own: { acme: {} }
http:
  routers:
    own: { rule: "Host(`+"`A.example.com`"+`) || Host(`+"`b.example.com.`"+`)", service: s, tls: { certResolver: own, domains: [ { main: c.example.com, sans: [d.example.com] } ] } }
    byEP: { rule: "Host(`+"`e.example.com`"+`) && PathPrefix(`+"`/x`"+`)", service: s }
    plainOnly: { entrypoints: [web], rule: "Host(`+"`f.example.com`"+`)", service: s }
    otherOnly: { entrypoints: [other], rule: "Host(`+"`g.example.com`"+`)", service: s }
    noHost: { rule: "PathPrefix(`+"`/`"+`)", service: s }
  services:
    s: { loadBalancer: { servers: [ { url: "http://127.0.0.1:1" } ] } }
`))
	if err != nil {
		t.Fatal(err)
	}
	got := Names(c)
	want := map[string]string{
		"a.example.com": "own", "b.example.com": "own", "c.example.com": "own", "d.example.com": "own",
		"e.example.com": "ep",
	}
	if !maps.Equal(got, want) {
		t.Fatalf("Names = %v, want %v", got, want)
	}
}

func TestBucket(t *testing.T) {
	b := newBucket(2, time.Hour, 2)
	for i := range 2 {
		if !b.take() {
			t.Fatalf("name %d of the burst is refused", i+1)
		}
	}
	if b.take() {
		t.Fatal("a third name within the hour passes")
	}
	b.last = b.last.Add(-30 * time.Minute) // half the period: one name back
	if got := [2]bool{b.take(), b.take()}; got != [2]bool{true, false} {
		t.Fatalf("after half the period: %v, want one name back", got)
	}
}

func TestReasonShowsTheCAProblem(t *testing.T) {
	err := fmt.Errorf("[x] Obtain: %w", acme.Problem{Type: "urn:ietf:params:acme:error:rejectedIdentifier", Detail: "policy forbids x"})
	if got := reason(err); got != "urn:ietf:params:acme:error:rejectedIdentifier: policy forbids x" {
		t.Fatalf("reason = %q", got)
	}
	if got := reason(errors.New("[x] solving challenges: dial tcp: connection refused (order=https://ca/o/1) (ca=https://ca/dir)")); got != "[x] solving challenges: dial tcp: connection refused" {
		t.Fatalf("reason = %q", got)
	}
}

// staticSet stands for the tls section: one certificate, for static.example.com.
type staticSet struct{ cert *tls.Certificate }

func (s staticSet) Covers(name string) bool { return name == "static.example.com" }
func (s staticSet) HasCertificates() bool   { return s.cert != nil }

type rotating struct {
	staticSet
	gen uint64
}

func (r *rotating) TicketGeneration() uint64 { return r.gen }

// With nothing obtained, a handshake gets the static certificate that
// names it, else the first static certificate (the tls section's
// default), else the self-signed default; never an error.
func TestFallbackCertificate(t *testing.T) {
	c, err := config.Parse("usher.yaml", []byte(`
entrypoints:
  websecure: { address: ":443", tls: { certResolver: le } }
certResolvers:
  le: { acme: { caServer: "https://127.0.0.1:1/dir", challenge: tls-alpn-01 } }
http:
  routers:
    r: { rule: "Host(`+"`managed.example.com`"+`) || Host(`+"`static.example.com`"+`)", service: s }
  services:
    s: { loadBalancer: { servers: [ { url: "http://127.0.0.1:1" } ] } }
`))
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(c, Options{Log: slog.New(slog.DiscardHandler), DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	names := map[string]*resolver{"managed.example.com": m.resolvers["le"], "static.example.com": m.resolvers["le"]}
	m.names.Store(&names) // as Sync does, without asking the CA
	file, _ := selfSigned()
	file.Leaf.Subject.CommonName = "the file's"
	base := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &file, nil }}
	noFile := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return nil, errors.New("no certificate configured")
	}}
	conn, peer := net.Pipe() // certmagic logs the hello's remote address
	defer conn.Close()
	defer peer.Close()
	served := func(static Static, sni string) string {
		t.Helper()
		hello := &tls.ClientHelloInfo{ServerName: sni, Conn: conn}
		b := base
		if !static.HasCertificates() {
			b = noFile // a config is derived per snapshot: base and static go together
		}
		cfg := m.ConfigForClient("websecure", hello, b, static)
		cert, err := cfg.GetCertificate(hello)
		if err != nil || cert == nil {
			t.Fatalf("%s: GetCertificate = %v, %v", sni, cert, err)
		}
		return cert.Leaf.Subject.CommonName
	}
	withFile, none := staticSet{&file}, staticSet{}
	for _, c := range []struct {
		static Static
		sni    string
		want   string
	}{
		{withFile, "static.example.com", "the file's"},                 // managed, none yet: the file names it
		{withFile, "managed.example.com", "usher default certificate"}, // managed, none yet, no file names it
		{withFile, "other.example.com", "the file's"},                  // not managed: the tls section's default
		{withFile, "", "the file's"},
		{none, "other.example.com", "usher default certificate"},
		{none, "", "usher default certificate"},
	} {
		if got := served(c.static, c.sni); got != c.want {
			t.Errorf("%q with static %v: served %q, want %q", c.sni, c.static.HasCertificates(), got, c.want)
		}
	}
	cfg := m.ConfigForClient("websecure", &tls.ClientHelloInfo{}, base, withFile)
	if again := m.ConfigForClient("websecure", &tls.ClientHelloInfo{}, base, withFile); again != cfg {
		t.Fatal("the derived config is built again for the same base")
	}
	// Rotated session ticket keys: the clone of base must be made again,
	// or it would keep the old keys.
	rot := &rotating{staticSet: withFile, gen: 1}
	before := m.ConfigForClient("websecure", &tls.ClientHelloInfo{}, base, rot)
	rot.gen = 2
	if after := m.ConfigForClient("websecure", &tls.ClientHelloInfo{}, base, rot); after == before {
		t.Fatal("the derived config is kept across a rotation of the session ticket keys")
	}
	alpn := m.ConfigForClient("websecure", &tls.ClientHelloInfo{ServerName: "x.example.com", SupportedProtos: []string{"acme-tls/1"}}, base, withFile)
	if len(alpn.NextProtos) != 1 || alpn.NextProtos[0] != "acme-tls/1" {
		t.Fatalf("a TLS-ALPN-01 hello gets %v", alpn.NextProtos)
	}
}
