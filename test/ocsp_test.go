package test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// OCSP stapling of the tls section's certificates: an openssl-made CA
// whose leaves name an OCSP responder (AIA), openssl's own responder
// answering from the CA's index, and usher stapling its answers. A Go client
// gets the response in the handshake, signed by the CA: Good for a valid
// certificate, Revoked for a revoked one (which usher logs); a certificate
// that names no responder gets no response.
func TestOCSPStaplingOfCertificateFiles(t *testing.T) {
	p := newPKI(t)
	port := freePort(t)
	aia := fmt.Sprintf("authorityInfoAccess=OCSP;URI:http://127.0.0.1:%d", port)
	p.ca("ocsp-ca")
	p.leaf("good", "ocsp-ca", "ec", "/CN=good.test", "subjectAltName=DNS:good.test", "extendedKeyUsage=serverAuth", aia)
	p.leaf("revoked", "ocsp-ca", "ec", "/CN=revoked.test", "subjectAltName=DNS:revoked.test", "extendedKeyUsage=serverAuth", aia)
	p.leaf("plain", "ocsp-ca", "ec", "/CN=plain.test", "subjectAltName=DNS:plain.test", "extendedKeyUsage=serverAuth")
	ca := p.cert("ocsp-ca")
	// The CA's database, as `openssl ca` keeps it: good valid, revoked
	// revoked an hour ago.
	var index strings.Builder
	for _, n := range []string{"good", "revoked"} {
		c := p.cert(n)
		status, revokedAt := "V", ""
		if n == "revoked" {
			status, revokedAt = "R", time.Now().Add(-time.Hour).UTC().Format("060102150405Z")
		}
		fmt.Fprintf(&index, "%s\t%s\t%s\t%X\tunknown\t/CN=%s.test\n", status, c.NotAfter.UTC().Format("060102150405Z"), revokedAt, c.SerialNumber.Bytes(), n)
		// usher finds the issuer in the certificate file, after the leaf.
		chain := append(readFile(t, p.path(n+".pem")), readFile(t, p.path("ocsp-ca.pem"))...)
		os.WriteFile(p.path(n+"-chain.pem"), chain, 0o644)
	}
	os.WriteFile(p.path("index.txt"), []byte(index.String()), 0o644)
	startProc(t, nil, "waiting for OCSP client connections", "openssl", "ocsp", "-index", p.path("index.txt"),
		"-port", fmt.Sprint(port), "-rsigner", p.path("ocsp-ca.pem"), "-rkey", p.path("ocsp-ca.key"),
		"-CA", p.path("ocsp-ca.pem"), "-ndays", "1")

	be := backend(t, "app")
	u := startUsher(t, config(`
entrypoints:
  websecure: { address: "127.0.0.1:0", tls: {} }
tls:
  certificates:
    - { certFile: "{{good}}", keyFile: "{{goodkey}}" }
    - { certFile: "{{revoked}}", keyFile: "{{revokedkey}}" }
    - { certFile: "{{plain}}", keyFile: "{{plainkey}}" }
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "good", p.path("good-chain.pem"), "goodkey", p.path("good.key"), "revoked", p.path("revoked-chain.pem"),
		"revokedkey", p.path("revoked.key"), "plain", p.path("plain.pem"), "plainkey", p.path("plain.key"), "be", be.URL))
	roots := p.pool("ocsp-ca")

	// stapled makes a handshake for name whose VerifyConnection reads the
	// stapled response; nil when there is none.
	stapled := func(name string) (*ocsp.Response, error) {
		var got *ocsp.Response
		cfg := &tls.Config{ServerName: name, RootCAs: roots, VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.OCSPResponse) == 0 {
				return nil
			}
			r, err := ocsp.ParseResponseForCert(cs.OCSPResponse, cs.PeerCertificates[0], ca)
			if err != nil {
				return fmt.Errorf("stapled OCSP response: %w", err)
			}
			got = r
			return nil
		}}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", u.addrs["websecure"], cfg)
		if err != nil {
			return nil, err
		}
		conn.Close()
		return got, nil
	}
	await := func(name string) *ocsp.Response {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			r, err := stapled(name)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if r != nil {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no OCSP response stapled in time; log:\n%s", name, u.logText())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if r := await("good.test"); r.Status != ocsp.Good || r.NextUpdate.Before(time.Now()) {
		t.Errorf("good.test: status %d, nextUpdate %v; want Good (%d), in the future", r.Status, r.NextUpdate, ocsp.Good)
	}
	if r := await("revoked.test"); r.Status != ocsp.Revoked {
		t.Errorf("revoked.test: status %d, want Revoked (%d)", r.Status, ocsp.Revoked)
	}
	if r, err := stapled("plain.test"); err != nil || r != nil {
		t.Errorf("plain.test, which names no responder: %+v, %v; want no response", r, err)
	}
	if n := strings.Count(u.logText(), "the certificate is revoked, says its OCSP responder"); n != 1 {
		t.Errorf("the revocation is logged %d times, want once; log:\n%s", n, u.logText())
	}
	if !strings.Contains(u.logText(), `"msg":"OCSP response stapled","component":"ocsp","certFile":"`+p.path("good-chain.pem")) {
		t.Errorf("no log of the staple; log:\n%s", u.logText())
	}
	// A reload keeps the response: the next handshake has it at once.
	if l := u.rewrite(readString(t, u.path)); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	if r, err := stapled("good.test"); err != nil || r == nil || r.Status != ocsp.Good {
		t.Errorf("good.test right after a reload: %+v, %v", r, err)
	}
}

// cert parses name.pem.
func (p *pki) cert(name string) *x509.Certificate {
	p.t.Helper()
	blk, _ := pem.Decode(readFile(p.t, p.path(name+".pem")))
	if blk == nil {
		p.t.Fatal(errors.New(name + ".pem: no PEM"))
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		p.t.Fatal(err)
	}
	return c
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readString(t *testing.T, path string) string { return string(readFile(t, path)) }

// OCSP stapling of ACME certificates (certmagic's): Pebble names an OCSP
// responder in what it issues but runs none, so the test runs one, which
// answers from Pebble's own records of its certificates (its management
// API) and signs with Pebble's intermediate key, as a CA's responder
// would. The certificate usher obtains is served with a Good response.
func TestACMEOCSPStapling(t *testing.T) {
	ocspLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hp, tp := freePort(t), freePort(t)
	ca := startPebbleFull(t, "", "http://"+ocspLn.Addr().String()+"/", hp, tp, 24*time.Hour)
	mgmt := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: ca.mgmtTLS}}
	fetch := func(path string) []byte {
		resp, err := mgmt.Get(ca.mgmt + path)
		if err != nil {
			t.Error(err)
			return nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Errorf("Pebble %s: %s", path, resp.Status)
			return nil
		}
		return b
	}
	var asked atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		body, _ := io.ReadAll(r.Body)
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		blk, _ := pem.Decode(fetch("/intermediates/0"))
		kblk, _ := pem.Decode(fetch("/intermediate-keys/0"))
		if blk == nil || kblk == nil {
			http.Error(w, "no intermediate", http.StatusInternalServerError)
			return
		}
		issuer, _ := x509.ParseCertificate(blk.Bytes)
		key, err := x509.ParsePKCS1PrivateKey(kblk.Bytes)
		if err != nil || issuer == nil {
			http.Error(w, fmt.Sprint("intermediate: ", err), http.StatusInternalServerError)
			return
		}
		var st struct{ Status string }
		json.Unmarshal(fetch("/cert-status-by-serial/"+req.SerialNumber.Text(16)), &st)
		tmpl := ocsp.Response{Status: ocsp.Unknown, SerialNumber: req.SerialNumber,
			ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}
		switch st.Status {
		case "Valid":
			tmpl.Status = ocsp.Good
		case "Revoked":
			tmpl.Status, tmpl.RevokedAt = ocsp.Revoked, time.Now().Add(-time.Minute)
		}
		out, err := ocsp.CreateResponse(issuer, issuer, tmpl, key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(out)
	})}
	go srv.Serve(ocspLn)
	t.Cleanup(func() { srv.Close() })

	be := backend(t, "app")
	u := startUsher(t, config(acmeTpl, "data", t.TempDir(), "hp", fmt.Sprint(hp), "tp", fmt.Sprint(tp), "ca", ca.dir, "roots", ca.caRoots,
		"challenge", "http-01", "extra", "", "be", be.URL))
	awaitCert(t, u, "a.usher.test", "valid", 60*time.Second)
	var got *ocsp.Response
	deadline := time.Now().Add(15 * time.Second)
	for got == nil {
		cfg := &tls.Config{ServerName: "a.usher.test", RootCAs: ca.roots(t), VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.OCSPResponse) == 0 || len(cs.PeerCertificates) < 2 {
				return nil
			}
			r, err := ocsp.ParseResponseForCert(cs.OCSPResponse, cs.PeerCertificates[0], cs.PeerCertificates[1])
			if err != nil {
				return fmt.Errorf("stapled OCSP response: %w", err)
			}
			got = r
			return nil
		}}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", u.addrs["websecure"], cfg)
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
		if got == nil {
			if time.Now().After(deadline) {
				t.Fatalf("no OCSP response stapled to the ACME certificate (responder asked %d times); log:\n%s", asked.Load(), u.logText())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if got.Status != ocsp.Good {
		t.Errorf("stapled status %d, want Good", got.Status)
	}
}
