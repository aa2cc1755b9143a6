package config

// PassTLSClientCert hands the client certificate of a mutual TLS connection
// to the server in request headers (Traefik's passTLSClientCert), and
// removes those headers from every request first, so that a client cannot
// send them itself.
type PassTLSClientCert struct {
	PEM  bool               `json:"pem,omitempty" doc:"send the certificates the client sent, PEM without its armour lines and line breaks, URL-escaped, comma-separated, leaf first, in X-Forwarded-Tls-Client-Cert"`
	Info *TLSClientCertInfo `json:"info,omitempty" doc:"send the fields chosen here of each certificate in X-Forwarded-Tls-Client-Cert-Info"`
}

// TLSClientCertInfo chooses the fields of X-Forwarded-Tls-Client-Cert-Info.
type TLSClientCertInfo struct {
	NotAfter     bool       `json:"notAfter,omitempty" doc:"NA=\"unix seconds\" the certificate expires"`
	NotBefore    bool       `json:"notBefore,omitempty" doc:"NB=\"unix seconds\" it is valid from"`
	Sans         bool       `json:"sans,omitempty" doc:"SAN=\"...\": DNS names, email addresses, IP addresses and URIs, comma-separated"`
	SerialNumber bool       `json:"serialNumber,omitempty" doc:"SerialNumber=\"decimal\""`
	Subject      *TLSCertDN `json:"subject,omitempty" doc:"Subject=\"...\" with the parts chosen"`
	Issuer       *TLSCertDN `json:"issuer,omitempty" doc:"Issuer=\"...\" with the parts chosen"`
}

// TLSCertDN chooses the parts of a distinguished name.
type TLSCertDN struct {
	Country            bool `json:"country,omitempty" doc:"C="`
	Province           bool `json:"province,omitempty" doc:"ST="`
	Locality           bool `json:"locality,omitempty" doc:"L="`
	Organization       bool `json:"organization,omitempty" doc:"O="`
	OrganizationalUnit bool `json:"organizationalUnit,omitempty" doc:"OU="`
	CommonName         bool `json:"commonName,omitempty" doc:"CN="`
	SerialNumber       bool `json:"serialNumber,omitempty" doc:"SN="`
	DomainComponent    bool `json:"domainComponent,omitempty" doc:"DC="`
}
