package test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pebbleCA is a real ACME server (Pebble) with a DNS server of its own
// (pebble-challtestsrv) that answers every name with 127.0.0.1, so that the
// CA's validation reaches usher; both are stopped by the test, by PID.
type pebbleCA struct {
	dir      string // the directory URL
	caRoots  string // PEM file of the CA that signed Pebble's own HTTPS certificate
	mgmt     string // https base of Pebble's management API
	mgmtTLS  *tls.Config
	issuerCA *x509.CertPool // Pebble's root of issued certificates
}

// lookBin finds an installed program: on PATH or in GOPATH/bin, where
// scripts/test.sh installs pebble and pebble-challtestsrv.
func lookBin(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := "/usr/sbin/" + name; name == "named" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("%s is not installed: scripts/test.sh installs it (go install github.com/letsencrypt/pebble/v2/cmd/%s@v2.10.3)", name, name)
	return ""
}

// freePort returns a port of 127.0.0.1 that nothing listens on now: Pebble
// must be told usher's ports before usher listens on them.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startProc runs a program until the test ends, and waits for a line of its
// output that contains ready.
func startProc(t *testing.T, env []string, ready string, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var out strings.Builder
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := false
		for sc.Scan() {
			mu.Lock()
			out.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if !once && strings.Contains(sc.Text(), ready) {
				once = true
				close(found)
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		pw.Close()
	})
	select {
	case <-found:
	case <-time.After(20 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%s did not start; output:\n%s", filepath.Base(bin), out.String())
	}
}

// startPebble starts Pebble validating http-01 on httpPort and tls-alpn-01
// on tlsPort (usher's entrypoints), issuing certificates valid for validity,
// and refusing the names of blocked.
func startPebble(t *testing.T, httpPort, tlsPort int, validity time.Duration, blocked ...string) *pebbleCA {
	t.Helper()
	return startPebbleDNS(t, "", httpPort, tlsPort, validity, blocked...)
}

// startPebbleDNS is startPebble asking dnsServer (host:port) for names;
// "" starts pebble-challtestsrv, which answers 127.0.0.1 for every name.
func startPebbleDNS(t *testing.T, dnsServer string, httpPort, tlsPort int, validity time.Duration, blocked ...string) *pebbleCA {
	t.Helper()
	return startPebbleFull(t, dnsServer, "", httpPort, tlsPort, validity, blocked...)
}

// startPebbleFull is startPebbleDNS with ocspURL, the OCSP responder
// Pebble names in the certificates it issues ("" for none; Pebble runs no
// responder of its own). With one, Pebble's CA keys are RSA: its
// management API hands out the intermediate's key, which the responder
// signs with, only for RSA.
func startPebbleFull(t *testing.T, dnsServer, ocspURL string, httpPort, tlsPort int, validity time.Duration, blocked ...string) *pebbleCA {
	t.Helper()
	dir := t.TempDir()
	caPEM, certPEM, keyPEM := localhostCert(t)
	files := map[string][]byte{"ca.pem": caPEM, "cert.pem": certPEM, "key.pem": keyPEM}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dnsPort, listen, mgmt, ctsMgmt := freePort(t), freePort(t), freePort(t), freePort(t)
	if blocked == nil {
		blocked = []string{}
	}
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  fmt.Sprintf("127.0.0.1:%d", listen),
		"managementListenAddress":        fmt.Sprintf("127.0.0.1:%d", mgmt),
		"certificate":                    filepath.Join(dir, "cert.pem"),
		"privateKey":                     filepath.Join(dir, "key.pem"),
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               ocspURL,
		"externalAccountBindingRequired": false,
		"domainBlocklist":                blocked,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":                   map[bool]string{true: "ecdsa", false: "rsa"}[ocspURL == ""],
		"profiles": map[string]any{"default": map[string]any{
			"description": "usher's tests", "validityPeriod": int(validity.Seconds()),
		}},
	}}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if dnsServer == "" {
		dnsServer = fmt.Sprintf("127.0.0.1:%d", dnsPort)
		startProc(t, nil, "Starting management server", lookBin(t, "pebble-challtestsrv"),
			"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
			"-dnsserver", dnsServer,
			"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
			"-management", fmt.Sprintf("127.0.0.1:%d", ctsMgmt))
	}
	startProc(t, []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"}, "Listening on", lookBin(t, "pebble"),
		"-config", cfgPath, "-dnsserver", dnsServer)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	p := &pebbleCA{
		dir:     fmt.Sprintf("https://127.0.0.1:%d/dir", listen),
		caRoots: filepath.Join(dir, "ca.pem"),
		mgmt:    fmt.Sprintf("https://127.0.0.1:%d", mgmt),
		mgmtTLS: &tls.Config{RootCAs: pool},
	}
	return p
}

// roots returns the root that Pebble issues under (made at its start).
func (p *pebbleCA) roots(t *testing.T) *x509.CertPool {
	t.Helper()
	if p.issuerCA != nil {
		return p.issuerCA
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: p.mgmtTLS}}
	resp, err := c.Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("no root from Pebble: %s", b)
	}
	p.issuerCA = pool
	return pool
}

// localhostCert makes a CA and a certificate for 127.0.0.1 and localhost
// signed by it: Pebble's own HTTPS identity, which usher is told to trust
// with caRoots.
func localhostCert(t *testing.T) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "usher test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

type certStatus struct {
	Name      string    `json:"name"`
	Status    string    `json:"status"`
	Error     string    `json:"error"`
	Serving   string    `json:"serving"`
	Issuer    string    `json:"issuer"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	RenewAt   time.Time `json:"renewAt"`
	Renewals  int       `json:"renewals"`
}

func adminCertificates(t *testing.T, u *usher) map[string]certStatus {
	t.Helper()
	resp, err := http.Get("http://" + u.addrs["admin"] + "/api/certificates")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []certStatus
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	out := map[string]certStatus{}
	for _, c := range list {
		out[c.Name] = c
	}
	return out
}

// awaitCert waits until the admin API shows name with status (valid: served).
func awaitCert(t *testing.T, u *usher, name, status string, limit time.Duration) certStatus {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		c, ok := adminCertificates(t, u)[name]
		if ok && c.Status == status && (status != "valid" || c.Serving == "acme") {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %s in time (now %+v); log:\n%s", name, status, c, u.logText())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// handshake connects to addr with SNI name and returns the certificate
// served; roots, when not nil, must verify it.
func handshake(t *testing.T, addr, name string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	cfg := &tls.Config{ServerName: name, RootCAs: roots, InsecureSkipVerify: roots == nil}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("handshake for %s: %v", name, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// httpsGet does a GET of https://name/ through addr, verifying with roots.
func httpsGet(t *testing.T, addr, name string, roots *x509.CertPool) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	resp, err := c.Get("https://" + name + "/")
	if err != nil {
		t.Fatalf("GET https://%s/: %v", name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const acmeTpl = `
dataDir: "{{data}}"
admin: { address: "127.0.0.1:0" }
entrypoints:
  web: { address: "127.0.0.1:{{hp}}" }
  websecure: { address: "127.0.0.1:{{tp}}", tls: { certResolver: le } }
certResolvers:
  le:
    acme: { email: ops@example.com, caServer: "{{ca}}", caRoots: "{{roots}}", challenge: {{challenge}} {{extra}} }
http:
  routers:
    a: { rule: "Host(` + "`a.usher.test`" + `)", service: app, tls: { certResolver: le, domains: [ { main: c.usher.test } ] } }
    b: { entrypoints: [websecure], rule: "Host(` + "`b.usher.test`" + `)", service: app }
    refused: { rule: "Host(` + "`refused.usher.test`" + `)", service: app, tls: { certResolver: le } }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`

// HTTP-01 end to end: routers get certificates for their Host names and
// tls.domains (router certResolver and entrypoint certResolver), served
// verified by Pebble's root; a name the CA refuses is logged once with the
// CA's reason, shown failed in the admin API, and gets the default
// certificate; files are 0600; a restart serves the stored certificates
// without asking the CA again.
func TestACMEHTTP01(t *testing.T) {
	be := backend(t, "app")
	hp, tp := freePort(t), freePort(t)
	ca := startPebble(t, hp, tp, 24*time.Hour, "refused.usher.test")
	data := t.TempDir()
	cfg := config(acmeTpl, "data", data, "hp", fmt.Sprint(hp), "tp", fmt.Sprint(tp), "ca", ca.dir, "roots", ca.caRoots,
		"challenge", "http-01", "extra", "", "be", be.URL)
	u := startUsher(t, cfg)
	for _, n := range []string{"a.usher.test", "b.usher.test", "c.usher.test"} {
		awaitCert(t, u, n, "valid", 60*time.Second)
	}
	roots := ca.roots(t)
	addr := u.addrs["websecure"]
	serials := map[string]string{}
	for _, n := range []string{"a.usher.test", "b.usher.test", "c.usher.test"} {
		if code, body := httpsGet(t, addr, n, roots); n != "c.usher.test" && (code != 200 || body != "app") {
			t.Fatalf("%s: %d %q", n, code, body)
		}
		serials[n] = handshake(t, addr, n, roots).SerialNumber.String()
	}
	// The refused name: the CA's reason, once; the default certificate.
	ref := awaitCert(t, u, "refused.usher.test", "failed", 30*time.Second)
	if !strings.Contains(ref.Error, "rejectedIdentifier") || ref.Serving != "default" {
		t.Fatalf("refused name: %+v", ref)
	}
	if got := handshake(t, addr, "refused.usher.test", nil); got.Subject.CommonName != "usher default certificate" {
		t.Fatalf("refused name served %q, want the default certificate", got.Subject.CommonName)
	}
	if n := strings.Count(u.logText(), `"name":"refused.usher.test","renewal":false,"error"`); n != 1 {
		t.Fatalf("the refusal is logged %d times, want once; log:\n%s", n, u.logText())
	}
	// Metrics: three names obtained, the refusal counted, each expiry and
	// renewal time published.
	_, metrics := get(t, "http://"+u.addrs["admin"]+"/metrics")
	a := adminCertificates(t, u)["a.usher.test"]
	for _, want := range []string{
		`usher_acme_certificate_obtain_total{resolver="le",result="success"} 3` + "\n",
		`usher_acme_certificate_renew_total{resolver="le",result="failure"} 0` + "\n",
		fmt.Sprintf(`usher_acme_certificate_expiry_timestamp_seconds{name="a.usher.test",resolver="le"} %s`, promFloat(a.NotAfter.Unix())),
		`usher_acme_certificate_renewal_timestamp_seconds{name="c.usher.test",resolver="le"} `,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(metrics, "usher_acme"))
		}
	}
	if n := metricValue(t, metrics, `usher_acme_certificate_obtain_total{resolver="le",result="failure"}`); n < 1 {
		t.Errorf("the refused name is not counted as a failure:\n%s", grepLines(metrics, "usher_acme"))
	}
	if strings.Contains(metrics, `name="refused.usher.test"`) {
		t.Errorf("the refused name, which has no certificate, has an expiry:\n%s", grepLines(metrics, "usher_acme"))
	}
	// Which certificate a host gets: usher explain from the running usher
	// (its live state: the CA's reason for the refused name) and from the
	// config and storage alone.
	for _, args := range [][]string{
		{"--admin", u.addrs["admin"], "--host", "a.usher.test"},
		{"-c", u.path, "--host", "a.usher.test"},
		{"-c", u.path, "--url", "https://a.usher.test:" + fmt.Sprint(tp) + "/"},
	} {
		out, err := exec.Command(usherBin, append([]string{"explain"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("usher explain %v: %v\n%s", args, err, out)
		}
		for _, want := range []string{
			"  entrypoint   websecure\n",
			"  certificate  no subject (a.usher.test; ECDSA P-256), " + filepath.Join(data, "acme", "certificates"),
			"  source       acme (certResolver le)\n",
			"  issuer       CN=Pebble Intermediate CA",
			"  renewal      ", ", due " + a.RenewAt.UTC().Format(time.RFC3339) + " (the CA's ARI window)\n", // Pebble offers ARI
			"  tls why      certResolver le manages a.usher.test (",
		} {
			if !strings.Contains(string(out), want) {
				t.Errorf("usher explain %v does not say %q:\n%s", args, want, out)
			}
		}
	}
	out, _ := exec.Command(usherBin, "explain", "--admin", u.addrs["admin"], "--host", "refused.usher.test").CombinedOutput()
	for _, want := range []string{
		"  source       default (usher's self-signed certificate; clients do not trust it)\n",
		"  renewal      failed\n",
		"  last error   ", "rejectedIdentifier",
		"  tls why      certResolver le manages refused.usher.test but has no certificate for it yet (failed: ",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("usher explain --admin for the refused name does not say %q:\n%s", want, out)
		}
	}
	var view struct {
		Hosts []struct {
			Entrypoint, Host, Source, CertResolver string
			Certificate                            *struct{ Subject, Issuer string }
			ACME                                   *struct {
				Status  string
				RenewAt time.Time
			}
		}
	}
	_, body := get(t, "http://"+u.addrs["admin"]+"/api/tls?host=b.usher.test")
	if err := json.Unmarshal([]byte(body), &view); err != nil || len(view.Hosts) != 1 {
		t.Fatalf("/api/tls?host=b.usher.test: %v %s", err, body)
	}
	if h := view.Hosts[0]; h.Source != "acme" || h.CertResolver != "le" || h.Certificate == nil || !strings.HasPrefix(h.Certificate.Issuer, "CN=Pebble") ||
		h.ACME == nil || h.ACME.Status != "valid" || h.ACME.RenewAt.IsZero() {
		t.Errorf("/api/tls?host=b.usher.test: %s", body)
	}
	// Storage: every file 0600, under dataDir.
	files := 0
	filepath.Walk(filepath.Join(data, "acme"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			files++
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600", p, fi.Mode().Perm())
			}
		}
		return nil
	})
	if files < 6 { // account key and registration, a key and a certificate per name
		t.Fatalf("%d files under %s", files, filepath.Join(data, "acme"))
	}
	u.stop()

	// A restart serves what is stored: same certificates, none obtained.
	u2 := startUsher(t, cfg)
	addr = u2.addrs["websecure"]
	for n, serial := range serials {
		awaitCert(t, u2, n, "valid", 10*time.Second)
		if got := handshake(t, addr, n, roots).SerialNumber.String(); got != serial {
			t.Fatalf("%s after restart: serial %s, want the stored %s", n, got, serial)
		}
	}
	if strings.Contains(u2.logText(), `"msg":"certificate obtained"`) {
		t.Fatalf("a certificate was obtained again after restart; log:\n%s", u2.logText())
	}
	_, metrics = get(t, "http://"+u2.addrs["admin"]+"/metrics")
	if !strings.Contains(metrics, `usher_acme_certificate_obtain_total{resolver="le",result="success"} 0`+"\n") ||
		!strings.Contains(metrics, `usher_acme_certificate_expiry_timestamp_seconds{name="a.usher.test",resolver="le"}`) {
		t.Errorf("after a restart: nothing obtained, the stored certificates' expiry published:\n%s", grepLines(metrics, "usher_acme"))
	}
}

// TLS-ALPN-01 end to end: no plain entrypoint at all; the CA validates on
// the TLS entrypoint, whose routers get certificates by its certResolver.
func TestACMETLSALPN01(t *testing.T) {
	be := backend(t, "app")
	tp := freePort(t)
	ca := startPebble(t, freePort(t), tp, 24*time.Hour)
	u := startUsher(t, config(`
dataDir: "{{data}}"
admin: { address: "127.0.0.1:0" }
entrypoints:
  websecure: { address: "127.0.0.1:{{tp}}", tls: { certResolver: le } }
certResolvers:
  le: { acme: { caServer: "{{ca}}", caRoots: "{{roots}}", challenge: tls-alpn-01 } }
http:
  routers:
    a: { rule: "Host(`+"`alpn.usher.test`"+`) && PathPrefix(`+"`/`"+`)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "data", t.TempDir(), "tp", fmt.Sprint(tp), "ca", ca.dir, "roots", ca.caRoots, "be", be.URL))
	c := awaitCert(t, u, "alpn.usher.test", "valid", 60*time.Second)
	if !strings.Contains(c.Issuer, "Pebble") {
		t.Errorf("issuer %q", c.Issuer)
	}
	if code, body := httpsGet(t, u.addrs["websecure"], "alpn.usher.test", ca.roots(t)); code != 200 || body != "app" {
		t.Fatalf("%d %q", code, body)
	}
}

// An ACME server that does not answer: the failure is in the admin API and
// in the log once, and handshakes go on with the default certificate.
func TestACMEUnreachableCA(t *testing.T) {
	be := backend(t, "app")
	dead := freePort(t)
	certFile, keyFile, roots := selfSigned(t, t.TempDir(), "file.usher.test", "both.usher.test")
	u := startUsher(t, config(`
dataDir: "{{data}}"
admin: { address: "127.0.0.1:0" }
entrypoints:
  web: { address: "127.0.0.1:0" }
  websecure: { address: "127.0.0.1:0", tls: { certResolver: le } }
certResolvers:
  le: { acme: { caServer: "https://127.0.0.1:{{dead}}/dir" } }
tls:
  certificates: [ { certFile: "{{cert}}", keyFile: "{{key}}" } ]
http:
  routers:
    a: { rule: "Host(`+"`down.usher.test`"+`) || Host(`+"`both.usher.test`"+`)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "data", t.TempDir(), "dead", fmt.Sprint(dead), "be", be.URL, "cert", certFile, "key", keyFile))
	c := awaitCert(t, u, "down.usher.test", "failed", 30*time.Second)
	if !strings.Contains(c.Error, "connection refused") || c.Serving != "default" {
		t.Fatalf("%+v", c)
	}
	if got := handshake(t, u.addrs["websecure"], "down.usher.test", nil); got.Subject.CommonName != "usher default certificate" {
		t.Fatalf("served %q, want the default certificate", got.Subject.CommonName)
	}
	if n := strings.Count(u.logText(), `"name":"down.usher.test","renewal":false,"error"`); n != 1 {
		t.Fatalf("logged %d times, want once; log:\n%s", n, u.logText())
	}
	// The tls section's certificates serve beside the certResolver: a name
	// a file names gets the file's certificate; a managed name without a
	// certificate that a file names, too.
	if got := handshake(t, u.addrs["websecure"], "file.usher.test", roots); got.Subject.CommonName != "file.usher.test" {
		t.Fatalf("file.usher.test served %q, want the file's certificate", got.Subject.CommonName)
	}
	if got := handshake(t, u.addrs["websecure"], "both.usher.test", roots); got.Subject.CommonName != "file.usher.test" {
		t.Fatalf("both.usher.test, managed and without a certificate yet, served %q, want the file's", got.Subject.CommonName)
	}
	awaitCert(t, u, "both.usher.test", "failed", 30*time.Second)
	out, _ := exec.Command(usherBin, "explain", "--admin", u.addrs["admin"], "--host", "both.usher.test").CombinedOutput()
	for _, want := range []string{
		"  certificate  CN=file.usher.test (file.usher.test, both.usher.test; ECDSA P-256), " + certFile + "\n",
		"  source       file (certResolver le)\n",
		"  last error   ", "connection refused",
		"but has no certificate for it yet (failed: ",
		"a certificate file names both.usher.test and serves meanwhile",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("usher explain for a managed name a file covers does not say %q:\n%s", want, out)
		}
	}
	_, metrics := get(t, "http://"+u.addrs["admin"]+"/metrics")
	if n := metricValue(t, metrics, `usher_acme_certificate_obtain_total{resolver="le",result="failure"}`); n < 1 {
		t.Errorf("the unreachable CA is not counted as a failure:\n%s", grepLines(metrics, "usher_acme"))
	}
}

// metricValue is the value of the series named exactly so in a scrape.
func metricValue(t *testing.T, metrics, series string) float64 {
	t.Helper()
	for _, l := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	t.Fatalf("no series %s in:\n%s", series, metrics)
	return 0
}

// promFloat is how the Prometheus text format writes a Unix time.
func promFloat(v int64) string { return strconv.FormatFloat(float64(v), 'g', -1, 64) }

// Renewal of short-lived certificates (30 s, from a Pebble profile): usher
// renews ahead of expiry (ARI's window, or with a third of the lifetime
// left) and the old certificate serves, verified, until the new one is
// there: no handshake in between gets anything else.
func TestACMERenewal(t *testing.T) {
	be := backend(t, "app")
	hp, tp := freePort(t), freePort(t)
	ca := startPebble(t, hp, tp, 30*time.Second)
	u := startUsher(t, config(acmeTpl, "data", t.TempDir(), "hp", fmt.Sprint(hp), "tp", fmt.Sprint(tp), "ca", ca.dir, "roots", ca.caRoots,
		"challenge", "http-01", "extra", ", renewCheckInterval: 1s", "be", be.URL))
	first := awaitCert(t, u, "a.usher.test", "valid", 60*time.Second)
	roots := ca.roots(t)
	addr := u.addrs["websecure"]
	s1 := handshake(t, addr, "a.usher.test", roots).SerialNumber.String()

	stop := make(chan struct{})
	var bad []string
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			cfg := &tls.Config{ServerName: "a.usher.test", RootCAs: roots}
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
			if err != nil {
				mu.Lock()
				bad = append(bad, err.Error())
				mu.Unlock()
				continue
			}
			conn.Close()
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for adminCertificates(t, u)["a.usher.test"].Renewals < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("not renewed in time (first %+v); log:\n%s", first, u.logText())
		}
		time.Sleep(200 * time.Millisecond)
	}
	close(stop)
	<-done
	if len(bad) > 0 {
		t.Fatalf("%d handshakes failed around the renewal, first: %s", len(bad), bad[0])
	}
	if s2 := handshake(t, addr, "a.usher.test", roots).SerialNumber.String(); s2 == s1 {
		t.Fatalf("still the first certificate (%s) after renewal", s1)
	}
	_, metrics := get(t, "http://"+u.addrs["admin"]+"/metrics")
	if n := metricValue(t, metrics, `usher_acme_certificate_renew_total{resolver="le",result="success"}`); n < 1 {
		t.Errorf("the renewal is not counted:\n%s", grepLines(metrics, "usher_acme"))
	}
}

// On-demand issuance: a name no router lists gets a certificate during its
// handshake when the ask URL approves it, within the rate limit; a name
// refused by ask, or over the limit, gets the default certificate.
func TestACMEOnDemand(t *testing.T) {
	be := backend(t, "app")
	var mu sync.Mutex
	var asked []string
	ask := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		d := r.URL.Query().Get("domain")
		mu.Lock()
		asked = append(asked, d)
		mu.Unlock()
		if !strings.HasSuffix(d, ".ok.usher.test") {
			w.WriteHeader(http.StatusForbidden)
		}
	})
	hp, tp := freePort(t), freePort(t)
	ca := startPebble(t, hp, tp, 24*time.Hour)
	u := startUsher(t, config(`
dataDir: "{{data}}"
admin: { address: "127.0.0.1:0" }
entrypoints:
  web: { address: "127.0.0.1:{{hp}}" }
  websecure: { address: "127.0.0.1:{{tp}}", tls: { certResolver: od } }
certResolvers:
  od: { acme: { caServer: "{{ca}}", caRoots: "{{roots}}", onDemand: { ask: "{{ask}}/check", rateLimit: { average: 2, period: 1h } } } }
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "data", t.TempDir(), "hp", fmt.Sprint(hp), "tp", fmt.Sprint(tp), "ca", ca.dir, "roots", ca.caRoots, "ask", ask.URL, "be", be.URL))
	addr := u.addrs["websecure"]
	roots := ca.roots(t)
	served := func(name string) *x509.Certificate {
		t.Helper()
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", addr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("handshake for %s: %v", name, err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0]
	}
	for _, n := range []string{"x1.ok.usher.test", "x2.ok.usher.test"} {
		leaf := served(n)
		if leaf.Subject.CommonName == "usher default certificate" {
			t.Fatalf("%s: served the default certificate; log:\n%s", n, u.logText())
		}
		if err := leaf.VerifyHostname(n); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		// verified by Pebble's root:
		if code, body := httpsGet(t, addr, n, roots); code != 200 || body != "app" {
			t.Fatalf("%s: %d %q", n, code, body)
		}
	}
	if got := served("evil.usher.test"); got.Subject.CommonName != "usher default certificate" {
		t.Fatalf("a name ask refused got %q", got.Subject.CommonName)
	}
	// Over the limit (2 an hour): approved by ask, not obtained.
	if got := served("x3.ok.usher.test"); got.Subject.CommonName != "usher default certificate" {
		t.Fatalf("a name over the rate limit got %q", got.Subject.CommonName)
	}
	mu.Lock()
	got := strings.Join(asked, ",")
	mu.Unlock()
	for _, n := range []string{"x1.ok.usher.test", "x2.ok.usher.test", "evil.usher.test", "x3.ok.usher.test"} {
		if !strings.Contains(got, n) {
			t.Errorf("ask was not asked about %s (asked: %s)", n, got)
		}
	}
	certs := adminCertificates(t, u)
	for _, n := range []string{"x1.ok.usher.test", "x2.ok.usher.test"} {
		if c := certs[n]; c.Status != "valid" || c.Serving != "acme" {
			t.Errorf("%s in the admin API: %+v", n, c)
		}
	}
	if _, ok := certs["x3.ok.usher.test"]; ok {
		t.Errorf("x3 over the limit is listed: %+v", certs["x3.ok.usher.test"])
	}
	if !strings.Contains(u.logText(), "rate limit reached") {
		t.Errorf("no log of the rate limit; log:\n%s", u.logText())
	}
	_, metrics := get(t, "http://"+u.addrs["admin"]+"/metrics")
	for series, want := range map[string]float64{
		`usher_acme_on_demand_decisions_total{decision="allowed",resolver="od"}`:      2,
		`usher_acme_on_demand_decisions_total{decision="denied",resolver="od"}`:       1,
		`usher_acme_on_demand_decisions_total{decision="rate_limited",resolver="od"}`: 1,
		`usher_acme_on_demand_decisions_total{decision="error",resolver="od"}`:        0,
		`usher_acme_certificate_obtain_total{resolver="od",result="success"}`:         2,
	} {
		if got := metricValue(t, metrics, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if !strings.Contains(metrics, `usher_acme_certificate_expiry_timestamp_seconds{name="x1.ok.usher.test",resolver="od"}`) ||
		strings.Contains(metrics, `name="evil.usher.test"`) || strings.Contains(metrics, `name="x3.ok.usher.test"`) {
		t.Errorf("expiry series: only the names obtained:\n%s", grepLines(metrics, "usher_acme"))
	}
	for host, want := range map[string]string{
		"x1.ok.usher.test":  "  source       onDemand (certResolver od)\n",
		"new.ok.usher.test": "certResolver od obtains a certificate for new.ok.usher.test on demand, during its first handshake, if ask approves it",
	} {
		out, _ := exec.Command(usherBin, "explain", "--admin", u.addrs["admin"], "--host", host).CombinedOutput()
		if !strings.Contains(string(out), want) {
			t.Errorf("usher explain --host %s does not say %q:\n%s", host, want, out)
		}
	}
}

// startNamed runs BIND (Debian's bind9) as the primary of zone usher.test,
// taking dynamic updates signed with the TSIG key "usher-key"; it returns
// its address and the key's secret.
func startNamed(t *testing.T) (addr, secret string) {
	t.Helper()
	dir := t.TempDir()
	key := make([]byte, 32)
	rand.Read(key)
	secret = base64.StdEncoding.EncodeToString(key)
	port := freePort(t)
	zone := `$TTL 60
@ IN SOA ns.usher.test. admin.usher.test. 1 60 60 600 60
@ IN NS ns.usher.test.
ns IN A 127.0.0.1
`
	conf := fmt.Sprintf(`options {
	directory "%[1]s";
	pid-file "%[1]s/named.pid";
	session-keyfile "%[1]s/session.key";
	listen-on port %[2]d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	allow-query { any; };
};
controls { };
key "usher-key" { algorithm hmac-sha256; secret "%[3]s"; };
zone "usher.test" { type primary; file "%[1]s/usher.test.zone"; allow-update { key "usher-key"; }; };
`, dir, port, secret)
	for n, b := range map[string]string{"named.conf": conf, "usher.test.zone": zone} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	startProc(t, nil, "running", lookBin(t, "named"), "-g", "-c", filepath.Join(dir, "named.conf"))
	return fmt.Sprintf("127.0.0.1:%d", port), secret
}

// DNS-01 end to end with a real DNS server: usher publishes the challenge
// in BIND by RFC 2136 updates signed with TSIG, Pebble reads it from BIND,
// and a wildcard certificate serves every name under it. A resolver with a
// wrong key fails clearly (logged once, in the admin API) and its name gets
// the default certificate.
func TestACMEDNS01RFC2136(t *testing.T) {
	be := backend(t, "app")
	dnsAddr, secret := startNamed(t)
	tp := freePort(t)
	ca := startPebbleDNS(t, dnsAddr, freePort(t), tp, 24*time.Hour)
	wrong := make([]byte, 32)
	rand.Read(wrong)
	u := startUsher(t, config(`
dataDir: "{{data}}"
admin: { address: "127.0.0.1:0" }
entrypoints:
  websecure: { address: "127.0.0.1:{{tp}}", tls: {} }
certResolvers:
  bind:
    acme: { caServer: "{{ca}}", caRoots: "{{roots}}", challenge: dns-01,
            dns: { provider: rfc2136, server: "{{dns}}", tsigKey: usher-key, tsigAlgorithm: hmac-sha256, tsigSecret: "{{secret}}" } }
  badkey:
    acme: { caServer: "{{ca}}", caRoots: "{{roots}}", challenge: dns-01,
            dns: { provider: rfc2136, server: "{{dns}}", tsigKey: usher-key, tsigSecret: "{{wrong}}" } }
http:
  routers:
    wild: { rule: 'HostRegexp(`+"`^[a-z0-9]+\\.wild\\.usher\\.test$`"+`)', service: app, tls: { certResolver: bind, domains: [ { main: "*.wild.usher.test" } ] } }
    apex: { rule: "Host(`+"`dns.usher.test`"+`)", service: app, tls: { certResolver: bind } }
    bad: { rule: "Host(`+"`badkey.usher.test`"+`)", service: app, tls: { certResolver: badkey } }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "data", t.TempDir(), "tp", fmt.Sprint(tp), "ca", ca.dir, "roots", ca.caRoots, "dns", dnsAddr, "secret", secret,
		"wrong", base64.StdEncoding.EncodeToString(wrong), "be", be.URL))
	awaitCert(t, u, "*.wild.usher.test", "valid", 90*time.Second)
	awaitCert(t, u, "dns.usher.test", "valid", 90*time.Second)
	roots := ca.roots(t)
	addr := u.addrs["websecure"]
	for _, n := range []string{"x.wild.usher.test", "y.wild.usher.test", "dns.usher.test"} {
		if code, body := httpsGet(t, addr, n, roots); code != 200 || body != "app" {
			t.Fatalf("%s: %d %q", n, code, body)
		}
	}
	bad := awaitCert(t, u, "badkey.usher.test", "failed", 60*time.Second)
	if !strings.Contains(bad.Error, "TSIG") || bad.Serving != "default" {
		t.Fatalf("wrong key: %+v", bad)
	}
	if got := handshake(t, addr, "badkey.usher.test", nil); got.Subject.CommonName != "usher default certificate" {
		t.Fatalf("wrong key's name served %q", got.Subject.CommonName)
	}
	if n := strings.Count(u.logText(), `"name":"badkey.usher.test","renewal":false,"error"`); n != 1 {
		t.Fatalf("the failure is logged %d times, want once; log:\n%s", n, u.logText())
	}
}
