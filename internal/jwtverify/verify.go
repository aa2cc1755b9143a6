// Package jwtverify verifies JSON Web Tokens (RFC 7519) signed as compact
// JWS (RFC 7515): the signature with a key the verifier was given (a secret,
// public keys, the keys of a JWK Set fetched and refreshed by JWKS), then
// the registered claims (exp, nbf, iat with a leeway; iss; aud).
//
// What it never does: accept "none", let a token pick a key's family (an
// HMAC secret verifies only HS*, a public key never HMAC: no key
// confusion), use a key the token carries (jwk, jku, x5u, x5c are ignored),
// or accept a token with "crit" extensions it does not understand.
//
// What is the caller's: claims beyond the registered ones (an OpenID
// Connect ID token's nonce and azp, a role), and keeping verifications.
//
// A Verifier is safe for concurrent use. Its errors are *Error: a Reason
// fit to show the client (it names no key, no secret, no part of the
// token), and whether the verifier could not decide (its JWK Set could not
// be had) rather than the token being bad.
package jwtverify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	_ "crypto/sha256" // the hashes of the algorithms
	_ "crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
)

// Claims are the claims of a verified token. Numbers are json.Number, so
// that they keep their text.
type Claims map[string]any

// Time returns the NumericDate claim name as a time; false when absent or
// not a number.
func (c Claims) Time(name string) (time.Time, bool) {
	n, ok := c[name].(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, false
	}
	// Beyond what an int64 of seconds holds, a conversion would wrap:
	// the far future and past are clamped to the ends of time instead.
	switch {
	case f >= 1<<62:
		f = 1 << 62
	case f <= -(1 << 62):
		f = -(1 << 62)
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true
}

// Error is why a token was not accepted.
type Error struct {
	// Reason says what was wrong, for the client (error_description) and
	// the log: it never quotes the token, a key or a secret.
	Reason string
	// Unavailable: the verifier could not decide (no keys: its JWK Set
	// could not be fetched); not the client's fault.
	Unavailable bool
}

func (e *Error) Error() string { return e.Reason }

func invalid(reason string) error { return &Error{Reason: reason} }

// Options are what a Verifier checks.
type Options struct {
	// Keys verify signatures, along with those of JWKS.
	Keys []Key
	// JWKS, when set, supplies keys from a JWK Set URL.
	JWKS *JWKS
	// Algorithms, when set, are the only ones accepted (each still only
	// with a key of its family); otherwise every algorithm of the keys.
	Algorithms []string
	// Issuer, when set, must be the token's iss.
	Issuer string
	// Audience, when set: the token's aud must hold one of them.
	Audience []string
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// MaxBytes bounds the token's length; 0 means DefaultMaxBytes.
	MaxBytes int
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// DefaultMaxBytes is the longest token a Verifier reads by default.
const DefaultMaxBytes = 16 << 10

// Verifier verifies tokens. Its fields are read-only after New.
type Verifier struct {
	keys     []Key
	jwks     *JWKS
	algs     []string // nil: any of the key's
	issuer   string
	audience []string
	leeway   time.Duration
	maxBytes int
	now      func() time.Time
}

// New returns a Verifier. It needs keys, JWKS or both; Algorithms must be
// known ones, and at least one must be usable with a key of a kind given
// (with JWKS, any may be).
func New(o Options) (*Verifier, error) {
	if len(o.Keys) == 0 && o.JWKS == nil {
		return nil, errors.New("no key to verify tokens with")
	}
	for _, a := range o.Algorithms {
		if !KnownAlgorithm(a) {
			return nil, fmt.Errorf("algorithm %q is not one of %s", a, strings.Join(knownAlgs, ", "))
		}
	}
	if len(o.Algorithms) > 0 && o.JWKS == nil {
		usable := false
		for _, k := range o.Keys {
			for _, a := range o.Algorithms {
				usable = usable || k.allows(a)
			}
		}
		if !usable {
			return nil, fmt.Errorf("none of the algorithms %s can be verified with the keys given", strings.Join(o.Algorithms, ", "))
		}
	}
	v := &Verifier{
		keys: slices.Clone(o.Keys), jwks: o.JWKS, algs: slices.Clone(o.Algorithms),
		issuer: o.Issuer, audience: slices.Clone(o.Audience), leeway: o.Leeway,
		maxBytes: o.MaxBytes, now: o.Now,
	}
	if v.maxBytes <= 0 {
		v.maxBytes = DefaultMaxBytes
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// Generation changes whenever the keys the verifier uses may have changed
// (its JWK Set was fetched anew): a result kept by the caller is good only
// for the generation it was had with.
func (v *Verifier) Generation() uint64 {
	if v.jwks == nil {
		return 0
	}
	return v.jwks.generation()
}

// StopJWKS stops the verifier's JWKS, when it has one (tests; a
// middleware's is stopped by its owner).
func (v *Verifier) StopJWKS() {
	if v.jwks != nil {
		v.jwks.Stop()
	}
}

type header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

// Strict: one encoding per value, no stray bits in the last character.
var b64 = base64.RawURLEncoding.Strict()

// Verify checks token and returns its claims. ctx bounds the wait for a JWK
// Set fetch, when one is needed (at start, or for a kid not known yet).
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	if len(token) > v.maxBytes {
		return nil, invalid("the token is too long")
	}
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(s64, '.') >= 0 {
		return nil, invalid("the token is not a signed JWT (header.payload.signature)")
	}
	hb, err := b64.DecodeString(h64)
	if err != nil {
		return nil, invalid("the token's header is not base64url")
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, invalid("the token's header is not a JSON object")
	}
	switch {
	case h.Alg == "" || strings.EqualFold(h.Alg, "none"):
		return nil, invalid("unsigned tokens (alg none) are not accepted")
	case !KnownAlgorithm(h.Alg) || (v.algs != nil && !slices.Contains(v.algs, h.Alg)):
		return nil, invalid("the token's algorithm is not accepted")
	case h.Crit != nil:
		return nil, invalid("the token has critical extensions (crit), which are not supported")
	}
	sig, err := b64.DecodeString(s64)
	if err != nil || len(sig) == 0 {
		return nil, invalid("the token's signature is not base64url")
	}
	signed := token[:len(h64)+1+len(p64)]
	if err := v.checkSignature(ctx, &h, signed, sig); err != nil {
		return nil, err
	}

	pb, err := b64.DecodeString(p64)
	if err != nil {
		return nil, invalid("the token's payload is not base64url")
	}
	claims, err := decodeClaims(pb)
	if err != nil {
		return nil, invalid("the token's payload is not a JSON object")
	}
	if err := v.CheckClaims(claims); err != nil {
		return nil, err
	}
	return claims, nil
}

func decodeClaims(b []byte) (Claims, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var c Claims
	if err := d.Decode(&c); err != nil {
		return nil, err
	}
	if c == nil || d.More() {
		return nil, errors.New("not one object")
	}
	return c, nil
}

// CheckClaims checks the registered claims of verified claims at the
// verifier's now: exp, nbf and iat (with the leeway; a non-numeric one is
// an error), iss and aud as the options say. A caller that kept claims
// checks them again with it.
func (v *Verifier) CheckClaims(c Claims) error {
	now := v.now()
	for _, name := range [...]string{"exp", "nbf", "iat"} {
		raw, present := c[name]
		if !present {
			continue
		}
		t, ok := c.Time(name)
		if !ok {
			_ = raw
			return invalid("the token's " + name + " is not a number")
		}
		switch {
		case name == "exp" && !now.Before(t.Add(v.leeway)):
			return invalid("the token has expired")
		case name == "nbf" && now.Add(v.leeway).Before(t):
			return invalid("the token is not valid yet (nbf)")
		case name == "iat" && now.Add(v.leeway).Before(t):
			return invalid("the token was issued in the future (iat)")
		}
	}
	if v.issuer != "" {
		if iss, _ := c["iss"].(string); iss != v.issuer {
			return invalid("the token's issuer is not the one expected")
		}
	}
	if len(v.audience) > 0 && !audienceMatches(c["aud"], v.audience) {
		return invalid("the token is not for this audience")
	}
	return nil
}

func audienceMatches(aud any, want []string) bool {
	switch a := aud.(type) {
	case string:
		return slices.Contains(want, a)
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok && slices.Contains(want, s) {
				return true
			}
		}
	}
	return false
}

// checkSignature finds the keys that may have signed (the token's kid and
// alg) and checks sig with them. With a JWK Set, a kid not in it asks for
// the set again (at most every JWKS.MinRefetch).
func (v *Verifier) checkSignature(ctx context.Context, h *header, signed string, sig []byte) error {
	tried := false
	if ok, found := tryKeys(v.keys, h, signed, sig); ok {
		return nil
	} else if found {
		tried = true
	}
	if v.jwks != nil {
		set, err := v.jwks.current(ctx)
		if err != nil {
			if tried {
				return invalid("the token's signature is not valid")
			}
			return err
		}
		ok, found := tryKeys(set.keys, h, signed, sig)
		if !found && h.Kid != "" && !set.has(h.Kid) {
			if fresh := v.jwks.refetch(ctx, set); fresh != nil {
				ok, found = tryKeys(fresh.keys, h, signed, sig)
			}
		}
		if ok {
			return nil
		}
		tried = tried || found
	}
	if !tried {
		return invalid("no key known for the token's kid and algorithm")
	}
	return invalid("the token's signature is not valid")
}

// tryKeys verifies with each key that matches the token's kid (a key with
// no id matches any) and allows its algorithm; found tells whether there
// was one.
func tryKeys(keys []Key, h *header, signed string, sig []byte) (ok, found bool) {
	for i := range keys {
		k := &keys[i]
		if (k.ID != "" && h.Kid != "" && k.ID != h.Kid) || !k.allows(h.Alg) {
			continue
		}
		found = true
		if verifySig(k, h.Alg, signed, sig) {
			return true, true
		}
	}
	return false, found
}

func hashOf(alg string) crypto.Hash {
	switch alg[2:] {
	case "256":
		return crypto.SHA256
	case "384":
		return crypto.SHA384
	case "512":
		return crypto.SHA512
	}
	return 0
}

// verifySig checks one signature; k allows alg, so alg's family matches the
// key's type.
func verifySig(k *Key, alg, signed string, sig []byte) bool {
	if alg == "EdDSA" {
		pub, ok := k.key.(ed25519.PublicKey)
		return ok && ed25519.Verify(pub, []byte(signed), sig)
	}
	hf := hashOf(alg)
	if alg[0] == 'H' {
		secret, ok := k.key.([]byte)
		if !ok {
			return false
		}
		m := hmac.New(hf.New, secret)
		m.Write([]byte(signed))
		return hmac.Equal(m.Sum(nil), sig)
	}
	hh := hf.New()
	hh.Write([]byte(signed))
	digest := hh.Sum(nil)
	switch pub := k.key.(type) {
	case *rsa.PublicKey:
		if alg[0] == 'P' {
			return rsa.VerifyPSS(pub, hf, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		}
		return alg[0] == 'R' && rsa.VerifyPKCS1v15(pub, hf, digest, sig) == nil
	case *ecdsa.PublicKey:
		size := (pub.Curve.Params().BitSize + 7) / 8
		if alg[0] != 'E' || len(sig) != 2*size {
			return false
		}
		r := new(big.Int).SetBytes(sig[:size])
		s := new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(pub, digest, r, s)
	}
	return false
}
