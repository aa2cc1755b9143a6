// Package passtlsclientcert implements the passTLSClientCert middleware: the
// certificates a client sent in a mutual TLS handshake go to the server in
// request headers, in Traefik's format, so that servers written for Traefik
// read them unchanged. The headers are removed from every request first:
// only usher sets them.
package passtlsclientcert

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/usher-lb/usher/internal/config"
)

// The request headers set, as Traefik names them.
const (
	CertHeader     = "X-Forwarded-Tls-Client-Cert"
	CertInfoHeader = "X-Forwarded-Tls-Client-Cert-Info"
)

type pass struct {
	next http.Handler
	pem  bool
	info *config.TLSClientCertInfo
}

// New returns the middleware. Whether the certificates were verified is the
// entrypoint's tls.options' business (clientAuth.mode verify): with request
// or require they are whatever the client sent.
func New(_ context.Context, next http.Handler, cfg *config.PassTLSClientCert, _ string) (http.Handler, error) {
	return &pass{next: next, pem: cfg.PEM, info: cfg.Info}, nil
}

func (p *pass) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := r.Header
	delete(h, CertHeader)
	delete(h, CertInfoHeader)
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		certs := r.TLS.PeerCertificates
		if p.pem {
			h[CertHeader] = []string{pemValue(certs)}
		}
		if p.info != nil {
			h[CertInfoHeader] = []string{infoValue(certs, p.info)}
		}
	}
	p.next.ServeHTTP(w, r)
}

// pemValue is each certificate's base64 DER (its PEM without armour and line
// breaks), comma-separated, URL-escaped.
func pemValue(certs []*x509.Certificate) string {
	parts := make([]string, len(certs))
	for i, c := range certs {
		parts[i] = base64.StdEncoding.EncodeToString(c.Raw)
	}
	return url.QueryEscape(strings.Join(parts, ","))
}

// infoValue is, for each certificate, the chosen fields as
// Subject="...";Issuer="...";SerialNumber="...";NB="...";NA="...";SAN="...",
// comma-separated, URL-escaped (Traefik's form).
func infoValue(certs []*x509.Certificate, o *config.TLSClientCertInfo) string {
	parts := make([]string, 0, len(certs))
	for _, c := range certs {
		var f []string
		if o.Subject != nil {
			f = append(f, `Subject="`+dn(c.Subject, o.Subject)+`"`)
		}
		if o.Issuer != nil {
			f = append(f, `Issuer="`+dn(c.Issuer, o.Issuer)+`"`)
		}
		if o.SerialNumber && c.SerialNumber != nil {
			f = append(f, `SerialNumber="`+c.SerialNumber.String()+`"`)
		}
		if o.NotBefore {
			f = append(f, `NB="`+strconv.FormatInt(c.NotBefore.Unix(), 10)+`"`)
		}
		if o.NotAfter {
			f = append(f, `NA="`+strconv.FormatInt(c.NotAfter.Unix(), 10)+`"`)
		}
		if o.Sans {
			var sans []string
			sans = append(sans, c.DNSNames...)
			sans = append(sans, c.EmailAddresses...)
			for _, ip := range c.IPAddresses {
				sans = append(sans, ip.String())
			}
			for _, u := range c.URIs {
				sans = append(sans, u.String())
			}
			f = append(f, `SAN="`+strings.Join(sans, ",")+`"`)
		}
		parts = append(parts, strings.Join(f, ";"))
	}
	return url.QueryEscape(strings.Join(parts, ","))
}

func dn(n pkix.Name, o *config.TLSCertDN) string {
	var out []string
	add := func(on bool, key string, vals ...string) {
		if !on {
			return
		}
		for _, v := range vals {
			if v != "" {
				out = append(out, key+"="+v)
			}
		}
	}
	add(o.DomainComponent, "DC", domainComponents(n)...)
	add(o.Country, "C", n.Country...)
	add(o.Province, "ST", n.Province...)
	add(o.Locality, "L", n.Locality...)
	add(o.Organization, "O", n.Organization...)
	add(o.OrganizationalUnit, "OU", n.OrganizationalUnit...)
	add(o.CommonName, "CN", n.CommonName)
	add(o.SerialNumber, "SN", n.SerialNumber)
	return strings.Join(out, ",")
}

// domainComponents are the DC attributes (OID 0.9.2342.19200300.100.1.25),
// which pkix.Name keeps only in Names.
func domainComponents(n pkix.Name) []string {
	var out []string
	for _, a := range n.Names {
		if a.Type.String() == "0.9.2342.19200300.100.1.25" {
			if s, ok := a.Value.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
