// Package totp computes and checks time-based one-time passwords (RFC 6238)
// as authenticator apps make them: HMAC-SHA-1 (RFC 4226), 6 digits, 30
// second steps counted from the Unix epoch. It also makes the secrets and
// the otpauth:// URIs that put them in an app.
//
// Whether a code was used already is the caller's business: Match returns
// the step a code belongs to, and the caller keeps, per user, the last step
// that logged in, refusing a code of that step or an earlier one.
package totp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"net/url"
	"strings"
	"time"
)

// The parameters every authenticator app takes by default, and the only
// ones usher uses.
const (
	Digits = 6
	Period = 30 * time.Second
	// SecretSize is the size of the secrets NewSecret makes: 160 bits, the
	// size RFC 4226 recommends (its minimum is 128).
	SecretSize = 20
	// MinSecretSize is the smallest secret Decode takes: 80 bits, what
	// some older tools made.
	MinSecretSize = 10
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns a fresh random secret of SecretSize bytes.
func NewSecret() []byte {
	b := make([]byte, SecretSize)
	rand.Read(b)
	return b
}

// Encode returns secret in base32 without padding, as apps take it.
func Encode(secret []byte) string { return b32.EncodeToString(secret) }

// Decode reads a base32 secret: case and spaces do not matter, padding is
// optional. A secret under MinSecretSize bytes is an error.
func Decode(s string) ([]byte, error) {
	s = strings.ToUpper(strings.ReplaceAll(strings.TrimRight(strings.TrimSpace(s), "="), " ", ""))
	b, err := b32.DecodeString(s)
	if err != nil {
		return nil, errors.New("the TOTP secret is not base32 (letters A-Z and digits 2-7)")
	}
	if len(b) < MinSecretSize {
		return nil, errors.New("the TOTP secret is shorter than 80 bits (16 base32 characters): make a new one with usher user add")
	}
	return b, nil
}

// Step is the step of t: the number of Periods since the Unix epoch.
func Step(t time.Time) int64 { return t.Unix() / int64(Period/time.Second) }

// hotp is RFC 4226's HOTP value of counter, in digits decimal digits.
func hotp(secret []byte, counter uint64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	out := make([]byte, digits)
	for i := digits - 1; i >= 0; i-- {
		out[i] = byte('0' + v%10)
		v /= 10
	}
	return string(out)
}

// Code returns the code of step.
func Code(secret []byte, step int64) string { return hotp(secret, uint64(step), Digits) }

// CodeAt returns the code at time t.
func CodeAt(secret []byte, t time.Time) string { return Code(secret, Step(t)) }

// Match tells whether code is the code of t's step or of one of the skew
// steps before or after it (clocks drift, people type slowly), and which
// step. Every candidate is compared, in constant time, whatever matches.
func Match(secret []byte, code string, t time.Time, skew int) (step int64, ok bool) {
	code = strings.TrimSpace(code)
	if len(code) != Digits {
		return 0, false
	}
	now := Step(t)
	found := 0
	for d := -skew; d <= skew; d++ {
		s := now + int64(d)
		if s < 0 {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(Code(secret, s)), []byte(code)) == 1 && found == 0 {
			step, found = s, 1
		}
	}
	return step, found == 1
}

// URI returns the otpauth:// URI of a secret (Google Authenticator's Key
// URI format, which every app reads), for a QR code or a link.
func URI(issuer, account string, secret []byte) string {
	label := url.PathEscape(account)
	if issuer != "" {
		label = url.PathEscape(issuer) + ":" + label
	}
	q := url.Values{}
	q.Set("secret", Encode(secret))
	if issuer != "" {
		q.Set("issuer", issuer)
	}
	q.Set("algorithm", "SHA1")
	q.Set("digits", "6")
	q.Set("period", "30")
	return "otpauth://totp/" + label + "?" + q.Encode()
}
