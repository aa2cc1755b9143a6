package jwtverify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// The algorithms a Verifier knows (RFC 7518, RFC 8037). "none" is not one of
// them and never will be.
var knownAlgs = []string{
	"HS256", "HS384", "HS512",
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// KnownAlgorithm tells whether alg is one a Verifier can check.
func KnownAlgorithm(alg string) bool { return slices.Contains(knownAlgs, alg) }

// MinRSABits is the smallest RSA modulus a key may have.
const MinRSABits = 2048

// Key is one verification key and the algorithms it may verify. The key's
// type decides the family (an HMAC secret only HS*, an RSA key only RS* and
// PS*, an EC key only the ES* of its curve, an Ed25519 key only EdDSA), so
// that a token cannot make a public key serve as an HMAC secret.
type Key struct {
	// ID is the key's kid, "" when it has none (a secret, a PEM file): a key
	// without an id is tried on every token whose algorithm it allows.
	ID   string
	algs []string
	key  any // []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// Algorithms returns the algorithms the key may verify.
func (k *Key) Algorithms() []string { return slices.Clone(k.algs) }

// allows tells whether the key may verify alg.
func (k *Key) allows(alg string) bool { return slices.Contains(k.algs, alg) }

// SecretKey is an HMAC key: HS256, HS384 and HS512.
func SecretKey(secret []byte) (Key, error) {
	if len(secret) == 0 {
		return Key{}, errors.New("the secret is empty")
	}
	return Key{algs: []string{"HS256", "HS384", "HS512"}, key: slices.Clone(secret)}, nil
}

// PublicKey is a key for the algorithms of its type: an *rsa.PublicKey (of
// at least MinRSABits), an *ecdsa.PublicKey on P-256, P-384 or P-521, or an
// ed25519.PublicKey.
func PublicKey(id string, pub crypto.PublicKey) (Key, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p.N.BitLen() < MinRSABits {
			return Key{}, fmt.Errorf("the RSA key has %d bits, fewer than %d", p.N.BitLen(), MinRSABits)
		}
		return Key{ID: id, algs: []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}, key: p}, nil
	case *ecdsa.PublicKey:
		alg := curveAlg(p.Curve)
		if alg == "" {
			return Key{}, errors.New("the EC key is not on P-256, P-384 or P-521")
		}
		return Key{ID: id, algs: []string{alg}, key: p}, nil
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return Key{}, errors.New("the Ed25519 key has the wrong size")
		}
		return Key{ID: id, algs: []string{"EdDSA"}, key: p}, nil
	}
	return Key{}, fmt.Errorf("a %T cannot verify tokens", pub)
}

func curveAlg(c elliptic.Curve) string {
	switch c {
	case elliptic.P256():
		return "ES256"
	case elliptic.P384():
		return "ES384"
	case elliptic.P521():
		return "ES512"
	}
	return ""
}

// ParsePEM reads the public keys of PEM data: PUBLIC KEY (PKIX), RSA PUBLIC
// KEY (PKCS #1) and CERTIFICATE blocks, one or more. A private key is an
// error: the verifier needs only the public half, and should not hold more.
func ParsePEM(data []byte) ([]Key, error) {
	var keys []Key
	for n := 1; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		var pub any
		var err error
		switch b.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(b.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(b.Bytes); err == nil {
				pub = c.PublicKey
			}
		default:
			if strings.Contains(b.Type, "PRIVATE KEY") {
				return nil, fmt.Errorf("PEM block %d is a private key: give the public key only", n)
			}
			return nil, fmt.Errorf("PEM block %d is a %q, not a PUBLIC KEY or CERTIFICATE", n, b.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		k, err := PublicKey("", pub)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM block found")
	}
	return keys, nil
}

// jwk is one key of a JWK Set (RFC 7517), the public members only.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// ParseJWKS reads the signing keys of a JWK Set: RSA, EC (P-256, P-384,
// P-521) and OKP (Ed25519) keys. A key marked for encryption ("use": "enc"),
// of another type (a symmetric "oct" key has no place in a published set),
// with an algorithm its type cannot have, or malformed is skipped and
// counted in skipped; it is an error when no key is left.
func ParseJWKS(data []byte) (keys []Key, skipped int, err error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, 0, fmt.Errorf("not a JWK Set: %w", err)
	}
	for _, raw := range set.Keys {
		var j jwk
		if json.Unmarshal(raw, &j) != nil {
			skipped++
			continue
		}
		k, err := j.key()
		if err != nil {
			skipped++
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, skipped, fmt.Errorf("the JWK Set has no usable signing key (%d skipped)", skipped)
	}
	return keys, skipped, nil
}

func (j *jwk) key() (Key, error) {
	if j.Use != "" && j.Use != "sig" {
		return Key{}, errors.New("not a signing key")
	}
	var pub crypto.PublicKey
	switch j.Kty {
	case "RSA":
		n, err1 := b64int(j.N)
		e, err2 := b64int(j.E)
		if err1 != nil || err2 != nil || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
			return Key{}, errors.New("bad RSA key")
		}
		pub = &rsa.PublicKey{N: n, E: int(e.Int64())}
	case "EC":
		var c elliptic.Curve
		switch j.Crv {
		case "P-256":
			c = elliptic.P256()
		case "P-384":
			c = elliptic.P384()
		case "P-521":
			c = elliptic.P521()
		default:
			return Key{}, errors.New("unknown curve")
		}
		size := (c.Params().BitSize + 7) / 8
		x, err1 := base64.RawURLEncoding.DecodeString(j.X)
		y, err2 := base64.RawURLEncoding.DecodeString(j.Y)
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return Key{}, errors.New("bad EC key")
		}
		p, err := ecdsa.ParseUncompressedPublicKey(c, append(append([]byte{4}, x...), y...))
		if err != nil {
			return Key{}, err
		}
		pub = p
	case "OKP":
		x, err := base64.RawURLEncoding.DecodeString(j.X)
		if j.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return Key{}, errors.New("bad OKP key")
		}
		pub = ed25519.PublicKey(x)
	default:
		return Key{}, errors.New("unknown key type")
	}
	k, err := PublicKey(j.Kid, pub)
	if err != nil {
		return Key{}, err
	}
	if j.Alg != "" {
		if !k.allows(j.Alg) {
			return Key{}, errors.New("algorithm not of the key's type")
		}
		k.algs = []string{j.Alg}
	}
	return k, nil
}

func b64int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, errors.New("bad integer")
	}
	return new(big.Int).SetBytes(b), nil
}
