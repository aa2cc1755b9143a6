package config

import (
	"slices"
	"testing"
)

func TestValidateJWTAndAPIKey(t *testing.T) {
	for _, c := range []struct {
		name, mw string
		want     []string
	}{
		{"the design's jwt", `{ jwt: { secret: "0123456789abcdef0123456789abcdef", jwksURL: "https://id.example.com/jwks", algorithms: [ES256], issuer: "https://id.example.com",
    audience: shop, leeway: 30s, claims: { role: { contains: admin } }, claimsToHeaders: { sub: X-User },
    tokenFrom: [ "header:Authorization", "cookie:token", "query:access_token" ] } }`, nil},
		{"audience as a list", `{ jwt: { jwksURL: "https://id.example.com/jwks", audience: [shop, blog], requiredClaims: [sub], claims: { tenant: { oneOf: [a, b] }, n: { equals: 5 } } } }`, nil},
		{"the design's apiKey", `{ apiKey: { header: X-Api-Key, keys: [ { id: mobile, sha256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae" } ], idHeader: X-Api-Key-Id } }`, nil},
		{"jwt without a key", `{ jwt: { issuer: x } }`, []string{
			`usher.yaml:4: http.middlewares.m.jwt: a key is required: secret (or secretFile), publicKeyFile or jwksURL`,
		}},
		{"jwt bad values", `{ jwt: { secret: s, jwksURL: "ftp://x/jwks", algorithms: [none, HS257, RS256], audience: [""], claims: { role: {} },
    claimsToHeaders: { sub: "X User", name: Content-Length }, tokenFrom: [ "body:x", "cookie:" ] } }`, []string{
			`usher.yaml:4: http.middlewares.m.jwt.jwksURL: "ftp://x/jwks" must start with https:// (or http://)`,
			`usher.yaml:4: http.middlewares.m.jwt.algorithms[0]: unsigned tokens (none) are never accepted`,
			`usher.yaml:4: http.middlewares.m.jwt.algorithms[1]: "HS257" is not one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA; did you mean "HS256"?`,
			`usher.yaml:4: http.middlewares.m.jwt.audience[0]: an audience cannot be empty`,
			`usher.yaml:4: http.middlewares.m.jwt.claims.role: say what the claim must be: equals, contains or oneOf`,
			`usher.yaml:5: http.middlewares.m.jwt.claimsToHeaders.name: "Content-Length" belongs to one connection and cannot carry a claim`,
			`usher.yaml:5: http.middlewares.m.jwt.claimsToHeaders.sub: "X User" is not a valid header name`,
			`usher.yaml:5: http.middlewares.m.jwt.tokenFrom[0]: "body:x" is not header:NAME, cookie:NAME or query:NAME`,
			`usher.yaml:5: http.middlewares.m.jwt.tokenFrom[1]: "cookie:" needs a valid cookie name after the colon`,
		}},
		{"a realm that breaks the challenge", `{ jwt: { secret: s, realm: 'a"b' } }`, []string{
			`usher.yaml:4: http.middlewares.m.jwt.realm: a realm cannot hold a quote, a backslash or a line break`,
		}},
		{"jwksTLS without jwksURL", `{ jwt: { secret: s, jwksTLS: { cert: /nonexistent/c.pem } } }`, []string{
			`usher.yaml:4: http.middlewares.m.jwt.jwksTLS: is for jwksURL, which is not set`,
			`usher.yaml:4: http.middlewares.m.jwt.jwksTLS.cert: cannot read /nonexistent/c.pem: no such file or directory`,
			`usher.yaml:4: http.middlewares.m.jwt.jwksTLS: cert and key go together: set both or neither`,
		}},
		{"HMAC without a secret", `{ jwt: { jwksURL: "https://id.example.com/jwks", algorithms: [HS256] } }`, []string{
			`usher.yaml:4: http.middlewares.m.jwt.algorithms[0]: HS256 is verified with a secret, and there is none (a public key never serves as an HMAC secret)`,
		}},
		{"apiKey bad values", `{ apiKey: { keys: [ { id: a, sha256: "my-actual-key" }, { id: a, sha256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae" },
    { id: b, sha256: "2C26B46B68FFC68FF99B453C1D30413413422D706483BFA0F98A5E886266E7AE" } ], idHeader: "x-api-key" } }`, []string{
			`usher.yaml:4: http.middlewares.m.apiKey.keys[0].sha256: must be the 64 hex digits of the key's SHA-256 (printf %s "$KEY" | sha256sum)`,
			`usher.yaml:4: http.middlewares.m.apiKey.keys[1].id: "a" is the id of keys[0] too`,
			`usher.yaml:5: http.middlewares.m.apiKey.keys[2].sha256: is the hash of keys[1] too`,
			`usher.yaml:5: http.middlewares.m.apiKey.idHeader: cannot be the header the key comes in`,
		}},
		{"apiKey without keys", `{ apiKey: { header: X-Key } }`, []string{
			`usher.yaml:4: http.middlewares.m.apiKey: keys or keysFile is required`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := "http:\n  middlewares:\n    x: { headers: { frameDeny: true } }\n    m: " + c.mw + "\n"
			var got []string
			if _, err := parseWith("usher.yaml", text, nil, nil); err != nil {
				got = []string{err.Error()}
			} else {
				got = validate(t, text)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got\n  %q\nwant\n  %q", got, c.want)
			}
		})
	}
}
