// Package jwttest signs tokens and publishes JWK Sets for tests: the other
// side of package jwtverify, written from the RFCs, not from it.
package jwttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
)

var b64 = base64.RawURLEncoding

// Sign returns the compact JWS of claims with header {alg, kid?} plus
// extra, signed with key: a []byte (HS*), *rsa.PrivateKey (RS*, PS*),
// *ecdsa.PrivateKey (ES*), ed25519.PrivateKey (EdDSA), or nil (an empty
// signature, for alg none).
func Sign(alg, kid string, key any, claims map[string]any, extra map[string]any) string {
	h := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		h["kid"] = kid
	}
	for k, v := range extra {
		h[k] = v
	}
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(claims)
	signed := b64.EncodeToString(hb) + "." + b64.EncodeToString(cb)
	return signed + "." + b64.EncodeToString(sig(alg, key, []byte(signed)))
}

func hashOf(alg string) crypto.Hash {
	switch alg[len(alg)-3:] {
	case "384":
		return crypto.SHA384
	case "512":
		return crypto.SHA512
	}
	return crypto.SHA256
}

func sig(alg string, key any, data []byte) []byte {
	switch k := key.(type) {
	case nil:
		return nil
	case []byte:
		m := hmac.New(hashOf(alg).New, k)
		m.Write(data)
		return m.Sum(nil)
	case ed25519.PrivateKey:
		return ed25519.Sign(k, data)
	}
	h := hashOf(alg).New()
	h.Write(data)
	d := h.Sum(nil)
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if alg[0] == 'P' {
			s, err := rsa.SignPSS(rand.Reader, k, hashOf(alg), d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
			must(err)
			return s
		}
		s, err := rsa.SignPKCS1v15(rand.Reader, k, hashOf(alg), d)
		must(err)
		return s
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, d)
		must(err)
		size := (k.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		s.FillBytes(out[size:])
		return out
	}
	panic("jwttest: unknown key type")
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// RSA returns a new 2048-bit RSA key.
func RSA() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	return k
}

// EC returns a new key on curve.
func EC(curve elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	must(err)
	return k
}

// Ed25519 returns a new Ed25519 key.
func Ed25519() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	must(err)
	return k
}

// PEM returns the PKIX PEM of the public half of key.
func PEM(key crypto.Signer) []byte {
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	must(err)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// JWK is the public JWK of key with kid and, when not "", alg.
func JWK(kid, alg string, key crypto.Signer) map[string]any {
	j := map[string]any{"kid": kid, "use": "sig"}
	if alg != "" {
		j["alg"] = alg
	}
	switch p := key.Public().(type) {
	case *rsa.PublicKey:
		j["kty"] = "RSA"
		j["n"] = b64.EncodeToString(p.N.Bytes())
		j["e"] = b64.EncodeToString(big.NewInt(int64(p.E)).Bytes())
	case *ecdsa.PublicKey:
		size := (p.Curve.Params().BitSize + 7) / 8
		raw, err := p.Bytes()
		must(err)
		j["kty"], j["crv"] = "EC", p.Curve.Params().Name
		j["x"] = b64.EncodeToString(raw[1 : 1+size])
		j["y"] = b64.EncodeToString(raw[1+size:])
	case ed25519.PublicKey:
		j["kty"], j["crv"], j["x"] = "OKP", "Ed25519", b64.EncodeToString(p)
	}
	return j
}

// JWKS is the JSON of a JWK Set of keys.
func JWKS(keys ...map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"keys": keys})
	must(err)
	return b
}
