package config

import "time"

// JWT lets through requests that carry a JSON Web Token signed by a key it
// was given and whose claims it accepts; others get 401 (403 when the
// token is good but its claims do not match).
type JWT struct {
	Secret          string                 `json:"secret,omitempty" secret:"true" doc:"HMAC key of HS256/384/512 tokens (secret; secretFile reads it from a file)"`
	PublicKeyFile   string                 `json:"publicKeyFile,omitempty" doc:"PEM file of one or more public keys or certificates (RSA of 2048 bits or more, EC P-256/P-384/P-521, Ed25519)"`
	JWKSURL         string                 `json:"jwksURL,omitempty" secret:"userinfo" doc:"URL of a JWK Set: fetched in the background, again as its Cache-Control says (default every 5m) and for an unknown kid at most every 30s"`
	JWKSTLS         *ClientTLS             `json:"jwksTLS,omitempty" doc:"TLS to an https jwksURL: its CA, a client certificate; default the system's roots"`
	Algorithms      []string               `json:"algorithms,omitempty" doc:"algorithms accepted, each only with a key of its family: HS256 HS384 HS512 RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA; default all that the keys can verify"`
	Issuer          string                 `json:"issuer,omitempty" doc:"the iss the token must have"`
	Audience        Strings                `json:"audience,omitempty" doc:"a string or a list: the token's aud must hold one of them"`
	Leeway          *Duration              `json:"leeway,omitempty" doc:"clock skew allowed on exp, nbf and iat; default 30s"`
	RequiredClaims  []string               `json:"requiredClaims,omitempty" doc:"claims the token must have (a dotted name reaches into objects: realm_access.roles); a token without one gets 403"`
	Claims          map[string]*ClaimMatch `json:"claims,omitempty" doc:"per claim (dotted names reach into objects), what its value must be; a token that does not match gets 403"`
	ClaimsToHeaders map[string]string      `json:"claimsToHeaders,omitempty" doc:"claim → request header set for the server (the client's own copies are always removed)"`
	TokenFrom       []string               `json:"tokenFrom,omitempty" doc:"where the token is looked for, in order: header:NAME (Authorization: only its Bearer scheme), cookie:NAME, query:NAME (removed before forwarding); default [header:Authorization]"`
	RemoveToken     bool                   `json:"removeToken,omitempty" doc:"remove the token from the request (its header or cookie) before forwarding; a query parameter is always removed"`
	Realm           string                 `json:"realm,omitempty" doc:"realm of the WWW-Authenticate: Bearer challenge; default usher"`
}

// ClaimMatch is what one claim's value must be; every key set must hold.
type ClaimMatch struct {
	Equals   string   `json:"equals,omitempty" doc:"the claim (a string, number or boolean) is this, as text"`
	Contains string   `json:"contains,omitempty" doc:"the claim is a list holding this, or a string of space-separated words (an OAuth scope) one of which is this"`
	OneOf    []string `json:"oneOf,omitempty" doc:"the claim is one of these; a list claim holds at least one of them"`
}

// Strings is a list of strings that may be written as one string.
type Strings []string

// The defaults of jwt, shared with its middleware.
const (
	JWTLeeway = 30 * time.Second
	JWTRealm  = "usher"
)

// JWTTokenFrom is where jwt looks for the token by default.
var JWTTokenFrom = []string{"header:Authorization"}

func (j *JWT) applyDefaults() {
	if j.Leeway == nil {
		d := Duration(JWTLeeway)
		j.Leeway = &d
	}
	orStr(&j.Realm, JWTRealm)
	if len(j.TokenFrom) == 0 {
		j.TokenFrom = append([]string(nil), JWTTokenFrom...)
	}
}
