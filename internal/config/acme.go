package config

// ACME configures an ACME account, where certificates are kept and how
// the CA is shown that usher answers for a name.
type ACME struct {
	Email              string        `json:"email,omitempty" doc:"account email, for the CA's notices (expiry, incidents); default none"`
	CAServer           string        `json:"caServer,omitempty" secret:"userinfo" doc:"directory URL of the ACME server; default Let's Encrypt's production directory"`
	Challenge          string        `json:"challenge,omitempty" doc:"http-01 (answered on a plain HTTP entrypoint, which the CA reaches on port 80) | tls-alpn-01 (answered on a TLS entrypoint, reached on 443) | dns-01 (a TXT record published through dns; wildcards need it); default http-01"`
	Storage            string        `json:"storage,omitempty" doc:"directory for the account and certificates (files 0600), relative to the config file; default acme under dataDir"`
	CARoots            string        `json:"caRoots,omitempty" doc:"PEM file of CA certificates trusted for the ACME server, besides the system's (Pebble's, a private CA's)"`
	DNS                *ACMEDNS      `json:"dns,omitempty" doc:"for dns-01: the DNS provider that publishes the challenge records"`
	OnDemand           *ACMEOnDemand `json:"onDemand,omitempty" doc:"obtain a certificate during the handshake for a name no router lists, when the ask URL approves it"`
	RenewCheckInterval Duration      `json:"renewCheckInterval,omitempty" doc:"how often certificates are checked for renewal (and ACME Renewal Information refreshed); default 10m"`
}

// ACMEDNS is the DNS provider of the dns-01 challenge.
type ACMEDNS struct {
	Provider           string   `json:"provider" doc:"rfc2136 (dynamic updates, RFC 2136, signed with TSIG: BIND, Knot, PowerDNS…); required"`
	Server             string   `json:"server" doc:"host:port of the primary server that takes the updates (port 53 when absent); required"`
	Zone               string   `json:"zone,omitempty" doc:"the zone updated; default: found by asking server for the SOA of the name"`
	TSIGKey            string   `json:"tsigKey,omitempty" doc:"name of the TSIG key the updates are signed with; without it, updates are unsigned"`
	TSIGAlgorithm      string   `json:"tsigAlgorithm,omitempty" doc:"hmac-sha256 | hmac-sha384 | hmac-sha512 | hmac-sha224 | hmac-sha1; default hmac-sha256"`
	TSIGSecret         string   `json:"tsigSecret,omitempty" secret:"true" doc:"the key's secret, base64 (secret; tsigSecretFile reads it from a file)"`
	TTL                Duration `json:"ttl,omitempty" doc:"TTL of the challenge records; default 60s"`
	PropagationTimeout Duration `json:"propagationTimeout,omitempty" doc:"how long usher waits for server to answer the record before the CA is told to look; default 2m"`
}

// ACMEOnDemand is on-demand issuance: names are learnt from handshakes.
type ACMEOnDemand struct {
	Ask       string         `json:"ask" doc:"URL asked GET ?domain=NAME before a certificate is obtained for NAME; a 200 approves, anything else refuses; required"`
	RateLimit *OnDemandLimit `json:"rateLimit,omitempty" doc:"most new names obtained per period; absent: 10 per minute"`
}

// OnDemandLimit bounds on-demand issuance, in names approved by ask.
type OnDemandLimit struct {
	Average int64    `json:"average" doc:"names obtained per period, sustained; 1 or more"`
	Period  Duration `json:"period,omitempty" doc:"the period average counts over; default 1m"`
	Burst   int64    `json:"burst,omitempty" doc:"names obtained at once; default average"`
}

// Domain is one certificate's names: main is its first name, sans the others.
type Domain struct {
	Main string   `json:"main" doc:"the certificate's first name"`
	SANs []string `json:"sans,omitempty" doc:"further names on the same certificate"`
}
