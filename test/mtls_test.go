package test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pki is a set of openssl-made certificates in one directory: the way an
// operator makes them, so that what usher reads is what openssl writes.
type pki struct {
	t   *testing.T
	dir string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is needed (scripts/test.sh installs it)")
	}
	return &pki{t: t, dir: t.TempDir()}
}

func (p *pki) path(name string) string { return filepath.Join(p.dir, name) }

func (p *pki) run(args ...string) {
	p.t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = p.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// key makes a private key: "ec" (P-256) or "rsa" (2048 bits).
func (p *pki) key(name, kind string) {
	p.t.Helper()
	if kind == "rsa" {
		p.run("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", name+".key")
		return
	}
	p.run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name+".key")
}

// ca makes a self-signed CA name.pem with key name.key.
func (p *pki) ca(name string) {
	p.t.Helper()
	p.key(name, "ec")
	p.run("req", "-x509", "-new", "-key", name+".key", "-out", name+".pem", "-days", "30", "-subj", "/O=usher tests/CN="+name,
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
}

// leaf makes name.pem signed by ca, with subject subj and extensions ext
// (subjectAltName, extendedKeyUsage), key kind "ec" or "rsa".
func (p *pki) leaf(name, ca, kind, subj string, ext ...string) {
	p.t.Helper()
	p.key(name, kind)
	p.run("req", "-new", "-key", name+".key", "-out", name+".csr", "-subj", subj)
	os.WriteFile(p.path(name+".ext"), []byte(strings.Join(ext, "\n")+"\n"), 0o644)
	p.run("x509", "-req", "-in", name+".csr", "-CA", ca+".pem", "-CAkey", ca+".key", "-CAcreateserial",
		"-out", name+".pem", "-days", "7", "-extfile", name+".ext")
}

func (p *pki) pool(names ...string) *x509.CertPool {
	p.t.Helper()
	pool := x509.NewCertPool()
	for _, n := range names {
		b, err := os.ReadFile(p.path(n + ".pem"))
		if err != nil || !pool.AppendCertsFromPEM(b) {
			p.t.Fatalf("%s.pem: %v", n, err)
		}
	}
	return pool
}

func (p *pki) keyPair(name string) tls.Certificate {
	p.t.Helper()
	c, err := tls.LoadX509KeyPair(p.path(name+".pem"), p.path(name+".key"))
	if err != nil {
		p.t.Fatal(err)
	}
	return c
}

// standard makes the PKI most tests use: a server CA and a server
// certificate for a.test, b.test and 127.0.0.1; a client CA with a client
// certificate for alice; a rogue CA with a client certificate for mallory.
func standardPKI(t *testing.T) *pki {
	p := newPKI(t)
	p.ca("server-ca")
	p.leaf("server", "server-ca", "ec", "/CN=a.test", "subjectAltName=DNS:a.test,DNS:b.test,DNS:c.test,IP:127.0.0.1", "extendedKeyUsage=serverAuth")
	p.ca("client-ca")
	p.leaf("alice", "client-ca", "ec", "/C=FR/O=Wonderland/CN=alice", "subjectAltName=DNS:alice.example,email:alice@example.com", "extendedKeyUsage=clientAuth")
	p.ca("rogue-ca")
	p.leaf("mallory", "rogue-ca", "ec", "/CN=mallory", "extendedKeyUsage=clientAuth")
	return p
}

// tlsGet makes one request over a new TLS connection to addr with SNI sni
// and Host host (sni when ""); tweak changes the client's config. It returns
// the status and body, or the error.
func tlsGet(addr, sni, host string, roots *x509.CertPool, tweak func(*tls.Config)) (int, string, *tls.ConnectionState, error) {
	tc := &tls.Config{RootCAs: roots, ServerName: sni}
	if tweak != nil {
		tweak(tc)
	}
	tr := &http.Transport{
		TLSClientConfig:   tc,
		ForceAttemptHTTP2: true,
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	if host == "" {
		host = sni
	}
	req, _ := http.NewRequest("GET", "https://"+sni+"/", nil)
	req.Host = host
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := (&http.Client{Transport: tr}).Do(req.WithContext(ctx))
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.TLS, err
}

// withCert sends c whatever CAs the server names (Go's client otherwise
// sends none that the server's list does not name, hiding a rogue one).
func withCert(c tls.Certificate) func(*tls.Config) {
	return func(tc *tls.Config) {
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
}

// Each clientAuth mode, against a client with no certificate, one from the
// CA in caFiles and one from another CA: only verify and verifyIfGiven
// check the chain, only require and verify insist on a certificate.
func TestMutualTLSModes(t *testing.T) {
	p := standardPKI(t)
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	modes := []string{"none", "request", "require", "verifyIfGiven", "verify"}
	var eps, opts strings.Builder
	for _, m := range modes {
		fmt.Fprintf(&eps, "  %s: { address: \"127.0.0.1:0\", tls: { options: %s } }\n", m, m)
		fmt.Fprintf(&opts, "    %s: { clientAuth: { mode: %s, caFiles: [\"%s\"] } }\n", m, m, p.path("client-ca.pem"))
	}
	u := startUsher(t, "entrypoints:\n"+eps.String()+config(`tls:
  certificates: [ { certFile: "{{cert}}", keyFile: "{{key}}" } ]
  options:
`, "cert", p.path("server.pem"), "key", p.path("server.key"))+opts.String()+config(`http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "be", be.URL))
	roots := p.pool("server-ca")
	clients := map[string]func(*tls.Config){"none": nil, "alice": withCert(p.keyPair("alice")), "mallory": withCert(p.keyPair("mallory"))}
	want := map[string]map[string]bool{ // mode → client → served
		"none":          {"none": true, "alice": true, "mallory": true},
		"request":       {"none": true, "alice": true, "mallory": true},
		"require":       {"none": false, "alice": true, "mallory": true},
		"verifyIfGiven": {"none": true, "alice": true, "mallory": false},
		"verify":        {"none": false, "alice": true, "mallory": false},
	}
	for _, m := range modes {
		for _, who := range []string{"none", "alice", "mallory"} {
			for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
				tweak := func(tc *tls.Config) {
					tc.MaxVersion = v
					if f := clients[who]; f != nil {
						f(tc)
					}
				}
				status, _, _, err := tlsGet(u.addrs[m], "a.test", "", roots, tweak)
				served := err == nil && status == 200
				if served != want[m][who] {
					t.Errorf("mode %s, client certificate %s, TLS %x: served %v (status %d, %v), want %v", m, who, v, served, status, err, want[m][who])
				}
			}
		}
	}
	// curl, as a partner's script would call: the verified entrypoint
	// with and without alice's certificate.
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed (scripts/test.sh installs it)")
	}
	_, port, _ := net.SplitHostPort(u.addrs["verify"])
	curl := func(extra ...string) (string, error) {
		args := append([]string{"-sS", "--max-time", "10", "--cacert", p.path("server-ca.pem"), "--resolve", "a.test:" + port + ":127.0.0.1"}, extra...)
		out, err := exec.Command("curl", append(args, "https://a.test:"+port+"/")...).CombinedOutput()
		return string(out), err
	}
	if out, err := curl("--cert", p.path("alice.pem"), "--key", p.path("alice.key")); err != nil || out != "ok" {
		t.Errorf("curl with alice's certificate: %v %q", err, out)
	}
	if out, err := curl(); err == nil {
		t.Errorf("curl without a certificate was served: %q", out)
	}
}

const sniTpl = `
entrypoints:
  websecure: { address: "{{addr}}", tls: {} }
tls:
  certificates: [ { certFile: "{{cert}}", keyFile: "{{key}}" } ]
  options:
    partners: { clientAuth: { mode: verify, caFiles: ["{{ca}}"] } }
    modern:   { minVersion: "1.3" }
http:
  routers:
    open:    { rule: "Host(` + "`a.test`" + `)", service: app, tls: {} }
    partner: { rule: "Host(` + "`b.test`" + `)", service: app, tls: { options: partners } }
    modern:  { rule: "Host(` + "`c.test`" + `)", service: app, tls: { options: modern } }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`

// Per-router options: the handshake takes those of the router whose Host
// is the SNI; a request whose Host needs other options than its connection
// was made with gets 421, so that a client cannot handshake for the open
// host and then ask for the partners' one.
func TestPerRouterTLSOptionsBySNI(t *testing.T) {
	p := standardPKI(t)
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Host) })
	u := startUsher(t, config(sniTpl, "addr", "127.0.0.1:0", "cert", p.path("server.pem"), "key", p.path("server.key"), "ca", p.path("client-ca.pem"), "be", be.URL))
	addr, roots, alice := u.addrs["websecure"], p.pool("server-ca"), withCert(p.keyPair("alice"))
	tls12 := func(tc *tls.Config) { tc.MaxVersion = tls.VersionTLS12 }
	for _, c := range []struct {
		what, sni, host string
		tweak           func(*tls.Config)
		status          int // 0: the handshake fails
	}{
		{"open host, no certificate", "a.test", "", nil, 200},
		{"partner host, no certificate", "b.test", "", nil, 0},
		{"partner host, alice", "b.test", "", alice, 200},
		{"SNI of the open host, Host of the partners'", "a.test", "b.test", nil, 421},
		{"SNI of the partners' host with alice, Host of the open one", "b.test", "a.test", alice, 421},
		{"modern host over TLS 1.2", "c.test", "", tls12, 0},
		{"open host over TLS 1.2", "a.test", "", tls12, 200},
		{"modern host over TLS 1.3", "c.test", "", nil, 200},
	} {
		status, body, _, err := tlsGet(addr, c.sni, c.host, roots, c.tweak)
		switch {
		case c.status == 0 && err == nil:
			t.Errorf("%s: served %d %q, want a failed handshake", c.what, status, body)
		case c.status != 0 && err != nil:
			t.Errorf("%s: %v, want %d", c.what, err, c.status)
		case status != c.status:
			t.Errorf("%s: %d %q, want %d", c.what, status, body, c.status)
		}
	}
	// Two routers that give one host different options: refused, the
	// running configuration keeps serving.
	bad := strings.Replace(config(sniTpl, "addr", addr, "cert", p.path("server.pem"), "key", p.path("server.key"), "ca", p.path("client-ca.pem"), "be", be.URL),
		"Host(`c.test`)", "Host(`b.test`) && Path(`/x`)", 1)
	l := u.rewrite(bad)
	if e, _ := l["error"].(string); !strings.Contains(e, `http.routers.partner.tls.options: host b.test on entrypoint websecure has TLS options "modern" from router modern`) {
		t.Errorf("conflicting options: %v", l)
	}
	if status, _, _, err := tlsGet(addr, "b.test", "", roots, alice); err != nil || status != 200 {
		t.Errorf("after the refused reload: %d %v", status, err)
	}
}

// tls.options' versions, TLS 1.2 cipher suites, curves and ALPN are what
// the handshake offers.
func TestTLSOptionsCipherSuitesCurvesALPN(t *testing.T) {
	p := standardPKI(t)
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	u := startUsher(t, config(`
entrypoints:
  websecure: { address: "127.0.0.1:0", tls: {} }
tls:
  certificates: [ { certFile: "{{cert}}", keyFile: "{{key}}" } ]
  options:
    default: { maxVersion: "1.2", cipherSuites: [TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256], curvePreferences: [CurveP384], alpnProtocols: [http/1.1] }
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "cert", p.path("server.pem"), "key", p.path("server.key"), "be", be.URL))
	addr, roots := u.addrs["websecure"], p.pool("server-ca")
	status, _, cs, err := tlsGet(addr, "a.test", "", roots, nil)
	if err != nil || status != 200 {
		t.Fatalf("%d %v", status, err)
	}
	if cs.Version != tls.VersionTLS12 || cs.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 || cs.CurveID != tls.CurveP384 || cs.NegotiatedProtocol != "http/1.1" {
		t.Errorf("negotiated version %x, suite %s, curve %s, ALPN %q; want TLS 1.2, CHACHA20, P-384, http/1.1 (the client offered h2 too)",
			cs.Version, tls.CipherSuiteName(cs.CipherSuite), cs.CurveID, cs.NegotiatedProtocol)
	}
	for what, tweak := range map[string]func(*tls.Config){
		"a client with AES-GCM only": func(tc *tls.Config) {
			tc.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
		},
		"a client with X25519 only": func(tc *tls.Config) { tc.CurvePreferences = []tls.CurveID{tls.X25519} },
		"a TLS 1.3 client":          func(tc *tls.Config) { tc.MinVersion = tls.VersionTLS13 },
	} {
		if status, _, _, err := tlsGet(addr, "a.test", "", roots, tweak); err == nil {
			t.Errorf("%s was served (%d)", what, status)
		}
	}
	// openssl's own client agrees.
	out, _ := exec.Command("sh", "-c", "echo | openssl s_client -connect "+addr+" -servername a.test -CAfile "+p.path("server-ca.pem")+" -alpn h2,http/1.1 2>&1").CombinedOutput()
	for _, want := range []string{"ECDHE-ECDSA-CHACHA20-POLY1305", "ALPN protocol: http/1.1", "Verify return code: 0 (ok)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("openssl s_client does not say %q:\n%s", want, out)
		}
	}
}

const twoKindsTpl = `
entrypoints:
  websecure: { address: "{{addr}}", tls: {} }
admin: { address: "127.0.0.1:0" }
tls:
  certificates:
    - { certFile: "{{rsa}}", keyFile: "{{rsakey}}" }
    - { certFile: "{{ec}}", keyFile: "{{eckey}}" }
  options:
    partners: { clientAuth: { mode: verify, caFiles: ["{{ca}}"] } }
http:
  routers:
    all:     { rule: "PathPrefix(` + "`/`" + `)", service: app }
    partner: { rule: "Host(` + "`b.test`" + `)", service: app, tls: { options: partners } }{{extra}}
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`

func twoKinds(p *pki, addr, be, extra string) string {
	return config(twoKindsTpl, "addr", addr, "rsa", p.path("server-rsa.pem"), "rsakey", p.path("server-rsa.key"),
		"ec", p.path("server.pem"), "eckey", p.path("server.key"), "ca", p.path("client-ca.pem"), "be", be, "extra", extra)
}

// With an RSA and an ECDSA certificate for one name, clients that take
// ECDSA get it, whatever the order; others get the RSA one. Sessions
// resume, after a reload too (the ticket keys are kept), and a reload with
// a broken certificate is refused with the file and the reason while the
// running certificates keep serving; a rotated client CA applies at reload.
func TestCertificatesResumptionAndReload(t *testing.T) {
	p := standardPKI(t)
	p.leaf("server-rsa", "server-ca", "rsa", "/CN=a.test", "subjectAltName=DNS:a.test,DNS:b.test", "extendedKeyUsage=serverAuth")
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	u := startUsher(t, twoKinds(p, "127.0.0.1:0", be.URL, ""))
	addr, roots := u.addrs["websecure"], p.pool("server-ca")
	keyOf := func(cs *tls.ConnectionState) string {
		return fmt.Sprintf("%T", cs.PeerCertificates[0].PublicKey)
	}
	_, _, cs, err := tlsGet(addr, "a.test", "", roots, nil)
	if err != nil || keyOf(cs) != "*ecdsa.PublicKey" {
		t.Fatalf("a modern client got %v (%v), want the ECDSA certificate", err, cs)
	}
	_, _, cs, err = tlsGet(addr, "a.test", "", roots, func(tc *tls.Config) {
		tc.MaxVersion, tc.CipherSuites = tls.VersionTLS12, []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	})
	if err != nil || keyOf(cs) != "*rsa.PublicKey" {
		t.Fatalf("an RSA-only client got %v, want the RSA certificate", err)
	}

	// Resumption, across a reload.
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cache := tls.NewLRUClientSessionCache(8)
		resume := func(tc *tls.Config) { tc.ClientSessionCache, tc.MaxVersion = cache, v }
		if _, _, cs, err := tlsGet(addr, "a.test", "", roots, resume); err != nil || cs.DidResume {
			t.Fatalf("TLS %x first connection: %v, resumed %v", v, err, cs != nil && cs.DidResume)
		}
		if _, _, cs, err := tlsGet(addr, "a.test", "", roots, resume); err != nil || !cs.DidResume {
			t.Errorf("TLS %x second connection: %v, did not resume", v, err)
		}
		extra := fmt.Sprintf("\n    other%x: { rule: \"Host(`x%x.test`)\", service: app }", v, v)
		if l := u.rewrite(twoKinds(p, addr, be.URL, extra)); l.msg() != "configuration applied" {
			t.Fatalf("reload: %v", l)
		}
		if _, _, cs, err := tlsGet(addr, "a.test", "", roots, resume); err != nil || !cs.DidResume {
			t.Errorf("TLS %x after a reload: %v, did not resume", v, err)
		}
	}

	// Broken files: refused, named, and the running certificates serve on.
	os.WriteFile(p.path("broken.pem"), []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"), 0o644)
	p.key("other", "ec")
	for _, c := range []struct{ cert, key, want string }{
		{"broken.pem", "server.key", p.path("broken.pem") + ": failed to find any PEM data in certificate input"},
		{"server.pem", "other.key", p.path("server.pem") + " and " + p.path("other.key") + ": private key does not match public key"},
		{"server.pem", "missing.key", "tls.certificates[1].keyFile: cannot read " + p.path("missing.key")},
	} {
		cfg := strings.Replace(twoKinds(p, addr, be.URL, ""), p.path("server.pem")+`", keyFile: "`+p.path("server.key"), p.path(c.cert)+`", keyFile: "`+p.path(c.key), 1)
		l := u.rewrite(cfg)
		if e, _ := l["error"].(string); !strings.HasPrefix(l.msg(), "configuration refused") || !strings.Contains(e, c.want) {
			t.Errorf("%s with %s: %v, want refused with %q", c.cert, c.key, l, c.want)
		}
		if _, _, cs, err := tlsGet(addr, "a.test", "", roots, nil); err != nil || keyOf(cs) != "*ecdsa.PublicKey" {
			t.Errorf("after refusing %s with %s: %v", c.cert, c.key, err)
		}
	}

	// The client CA file is read again at reload: once it holds another
	// CA, alice's certificate no longer opens the partners' host.
	alice := withCert(p.keyPair("alice"))
	if status, _, _, err := tlsGet(addr, "b.test", "", roots, alice); err != nil || status != 200 {
		t.Fatalf("partners with alice: %d %v", status, err)
	}
	ca, _ := os.ReadFile(p.path("rogue-ca.pem"))
	os.WriteFile(p.path("client-ca.pem"), ca, 0o644)
	if l := u.rewrite(twoKinds(p, addr, be.URL, "")); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	if status, _, _, err := tlsGet(addr, "b.test", "", roots, alice); err == nil {
		t.Errorf("alice still served (%d) once her CA is no longer trusted", status)
	}
	if status, _, _, err := tlsGet(addr, "b.test", "", roots, withCert(p.keyPair("mallory"))); err != nil || status != 200 {
		t.Errorf("mallory, whose CA is now trusted: %d %v", status, err)
	}
}

// usher as a TLS client of servers that verify it: a CA for the server, a
// client certificate, the name verified (serverName); a client certificate
// rotated in its files is sent after a reload; insecureSkipVerify is
// warned about at load.
func TestTLSToServersWithClientCertificate(t *testing.T) {
	p := standardPKI(t)
	p.leaf("backend", "server-ca", "ec", "/CN=backend.internal", "subjectAltName=DNS:backend.internal", "extendedKeyUsage=serverAuth")
	p.leaf("usher", "client-ca", "ec", "/CN=usher-1", "extendedKeyUsage=clientAuth")
	p.leaf("usher2", "client-ca", "ec", "/CN=usher-2", "extendedKeyUsage=clientAuth")
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	be.TLS = &tls.Config{Certificates: []tls.Certificate{p.keyPair("backend")}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool("client-ca")}
	be.StartTLS()
	t.Cleanup(be.Close)
	tpl := `
entrypoints: { web: { address: "{{addr}}" } }
http:
  routers:
    all:  { rule: "PathPrefix(` + "`/`" + `)", service: app }
    lax:  { rule: "PathPrefix(` + "`/lax`" + `)", service: lax }
  services:
    app:
      loadBalancer:
        servers: [ { url: "{{server}}" } ]
        transport: { tls: { ca: "{{ca}}", cert: "{{cert}}", key: "{{key}}", serverName: backend.internal } }
    lax:
      loadBalancer:
        servers: [ { url: "{{server}}" } ]
        transport: { tls: { insecureSkipVerify: true, cert: "{{cert}}", key: "{{key}}" } }
`
	cfg := func(addr string) string {
		return config(tpl, "addr", addr, "server", be.URL, "ca", p.path("server-ca.pem"), "cert", p.path("usher.pem"), "key", p.path("usher.key"))
	}
	u := startUsher(t, cfg("127.0.0.1:0"))
	if status, body := get(t, u.url("web")+"/"); status != 200 || body != "usher-1" {
		t.Fatalf("to a server that verifies usher: %d %q", status, body)
	}
	if status, body := get(t, u.url("web")+"/lax"); status != 200 || body != "usher-1" {
		t.Fatalf("with insecureSkipVerify: %d %q", status, body)
	}
	if !strings.Contains(u.logText(), `"key":"http.services.lax.loadBalancer.transport.tls.insecureSkipVerify"`) {
		t.Errorf("no warning about insecureSkipVerify; log:\n%s", u.logText())
	}
	if strings.Contains(u.logText(), `"key":"http.services.app.loadBalancer.transport.tls.insecureSkipVerify"`) {
		t.Errorf("a warning about a transport that verifies")
	}
	for _, ext := range []string{".pem", ".key"} {
		b, _ := os.ReadFile(p.path("usher2" + ext))
		os.WriteFile(p.path("usher"+ext), b, 0o600)
	}
	if l := u.rewrite(cfg(u.addrs["web"])); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	if status, body := get(t, u.url("web")+"/"); status != 200 || body != "usher-2" {
		t.Errorf("after rotating usher's client certificate: %d %q, want usher-2", status, body)
	}
	// Without serverName the server's certificate (for backend.internal,
	// not 127.0.0.1) is refused: the name is verified.
	if l := u.rewrite(strings.Replace(cfg(u.addrs["web"]), ", serverName: backend.internal", "", 1)); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	if status, _ := get(t, u.url("web")+"/"); status != 502 {
		t.Errorf("a server whose certificate does not name it: %d, want 502", status)
	}
}

// usher explain and the admin API say which certificate a host gets, with
// its issuer and expiry, and which options.
func TestExplainAndAdminShowCertificates(t *testing.T) {
	p := standardPKI(t)
	p.leaf("server-rsa", "server-ca", "rsa", "/CN=a.test", "subjectAltName=DNS:a.test,DNS:b.test", "extendedKeyUsage=serverAuth")
	p.leaf("other", "server-ca", "ec", "/CN=other.test", "subjectAltName=DNS:other.test", "extendedKeyUsage=serverAuth")
	cfg := twoKinds(p, "127.0.0.1:0", "http://127.0.0.1:1", "\n    other: { rule: \"Host(`other.test`)\", service: app }")
	cfg = strings.Replace(cfg, "  options:", "    - { certFile: \""+p.path("other.pem")+"\", keyFile: \""+p.path("other.key")+"\" }\n  options:", 1)
	u := startUsher(t, cfg)
	path := u.path

	out, err := exec.Command(usherBin, "explain", "-c", path, "--entrypoint", "websecure", "--url", "https://b.test/x").CombinedOutput()
	if err != nil {
		t.Fatalf("usher explain: %v\n%s", err, out)
	}
	for _, want := range []string{
		"  tls options  partners\n",
		"  certificate  CN=a.test (a.test, b.test, c.test; ECDSA P-256), " + p.path("server.pem") + "\n",
		"  issuer       CN=server-ca,O=usher tests\n",
		"  expires      ",
		" (in 6 days)\n",
		"  tls why      a certificate names b.test\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("usher explain does not say %q:\n%s", want, out)
		}
	}
	out, _ = exec.Command(usherBin, "explain", "-c", path, "--entrypoint", "websecure", "--url", "https://a.test/", "--header", "Host: b.test").CombinedOutput()
	if !strings.Contains(string(out), "but host b.test has other TLS options than the SNI a.test: usher answers 421") {
		t.Errorf("usher explain does not say 421 for a host with other options than the SNI:\n%s", out)
	}
	out, _ = exec.Command(usherBin, "explain", "-c", path, "--entrypoint", "websecure", "--url", "https://unknown.test/").CombinedOutput()
	if !strings.Contains(string(out), "  tls why      no certificate names unknown.test: the first certificate is served\n") {
		t.Errorf("usher explain for a host no certificate names:\n%s", out)
	}

	var view struct {
		Certificates []struct {
			Subject, Issuer, Key, CertFile, Serial string
			Names                                  []string
			NotAfter                               time.Time
		}
		Hosts []struct {
			Entrypoint, Host, Options, Why string
			Certificate                    *struct{ Subject, CertFile string }
		}
	}
	resp, err := http.Get("http://" + u.addrs["admin"] + "/api/tls")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&view)
	resp.Body.Close()
	if len(view.Certificates) != 3 || view.Certificates[0].Key != "RSA 2048" || view.Certificates[1].Key != "ECDSA P-256" ||
		view.Certificates[2].Subject != "CN=other.test" || view.Certificates[2].Issuer != "CN=server-ca,O=usher tests" ||
		time.Until(view.Certificates[2].NotAfter) < 6*24*time.Hour || view.Certificates[0].Serial == "" {
		t.Errorf("/api/tls certificates: %+v", view.Certificates)
	}
	var hosts []string
	for _, h := range view.Hosts {
		s := h.Entrypoint + " " + h.Host + " " + h.Options
		if h.Certificate != nil {
			s += " " + h.Certificate.CertFile
		}
		hosts = append(hosts, s)
	}
	want := []string{"websecure b.test partners " + p.path("server.pem"), "websecure other.test default " + p.path("other.pem")}
	if strings.Join(hosts, "\n") != strings.Join(want, "\n") {
		t.Errorf("/api/tls hosts:\n%s\nwant\n%s", strings.Join(hosts, "\n"), strings.Join(want, "\n"))
	}
}

// passTLSClientCert hands alice's verified certificate to the server, as
// PEM and as the fields chosen, in Traefik's headers; what a client sends
// in those headers never reaches the server.
func TestPassTLSClientCert(t *testing.T) {
	p := standardPKI(t)
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%q\n%q", r.Header.Values("X-Forwarded-Tls-Client-Cert"), r.Header.Values("X-Forwarded-Tls-Client-Cert-Info"))
	})
	u := startUsher(t, config(`
entrypoints:
  websecure: { address: "127.0.0.1:0", tls: { options: mtls } }
tls:
  certificates: [ { certFile: "{{cert}}", keyFile: "{{key}}" } ]
  options:
    mtls: { clientAuth: { mode: verifyIfGiven, caFiles: ["{{ca}}"] } }
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: app, middlewares: [cert] }
  middlewares:
    cert:
      passTLSClientCert:
        pem: true
        info:
          notAfter: true
          notBefore: true
          sans: true
          serialNumber: true
          subject: { country: true, organization: true, commonName: true }
          issuer: { organization: true, commonName: true, country: true }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "cert", p.path("server.pem"), "key", p.path("server.key"), "ca", p.path("client-ca.pem"), "be", be.URL))
	get := func(tweak func(*tls.Config)) string {
		t.Helper()
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool("server-ca"), ServerName: "a.test"}, DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, u.addrs["websecure"])
			}}
		tweak(tr.TLSClientConfig)
		req, _ := http.NewRequest("GET", "https://a.test/", nil)
		req.Header.Set("X-Forwarded-Tls-Client-Cert", "forged")
		req.Header.Set("X-Forwarded-Tls-Client-Cert-Info", `Subject="CN=admin"`)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get(func(*tls.Config) {}); got != "[]\n[]" {
		t.Errorf("without a client certificate, the server got %s", got)
	}
	alice := p.keyPair("alice")
	leaf, _ := x509.ParseCertificate(alice.Certificate[0])
	got := strings.Split(get(withCert(alice)), "\n")
	if len(got) != 2 {
		t.Fatalf("server got %q", got)
	}
	wantPEM := url.QueryEscape(base64.StdEncoding.EncodeToString(leaf.Raw))
	if got[0] != fmt.Sprintf("%q", []string{wantPEM}) {
		t.Errorf("X-Forwarded-Tls-Client-Cert: %s, want [%q]", got[0], wantPEM)
	}
	info := fmt.Sprintf(`Subject="C=FR,O=Wonderland,CN=alice";Issuer="O=usher tests,CN=client-ca";SerialNumber="%s";NB="%d";NA="%d";SAN="alice.example,alice@example.com"`,
		leaf.SerialNumber, leaf.NotBefore.Unix(), leaf.NotAfter.Unix())
	if got[1] != fmt.Sprintf("%q", []string{url.QueryEscape(info)}) {
		t.Errorf("X-Forwarded-Tls-Client-Cert-Info: %s, want [%q] (escaped %s)", got[1], info, url.QueryEscape(info))
	}
}
