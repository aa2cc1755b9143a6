// Package session keeps the logins usher makes at the edge (the oidc and
// portal middlewares): a Session per logged-in browser, kept in a Store, found
// again through a cookie that holds only the session's id, sealed.
//
// Sealed means encrypted and authenticated (AES-256-GCM under a key derived
// for the purpose): a client can neither read what a cookie holds nor forge
// or alter one, and a cookie sealed for one purpose (a session) does not open
// for another (a login's state). The id inside is 256 random bits, so that
// even a leaked store listing gives nothing to forge.
//
// The Store is an interface so that sessions can live outside the process (a
// shared Redis) when several usher instances serve one site; MemoryStore is
// the one in the process.
package session

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Session is one login.
type Session struct {
	ID      string    // random, secret: only ever sent sealed
	User    string    // the user name (a login's subject)
	Email   string    // "" when unknown
	Groups  []string  // the groups the user is in
	Created time.Time // when the user logged in
	Expires time.Time // when the session ends, whatever happens
	// Claims are the verified claims of the login's ID token (oidc), nil
	// for the portal.
	Claims map[string]any
	// Data is what the middleware keeps besides (tokens to refresh with,
	// the ID token for the provider's logout). Never shown, never logged.
	Data map[string]string
}

// Expired tells whether the session is over at now.
func (s *Session) Expired(now time.Time) bool { return !now.Before(s.Expires) }

// Store keeps sessions by id. Implementations are safe for concurrent use;
// Get returns (nil, nil) for an unknown or expired id.
type Store interface {
	Get(ctx context.Context, id string) (*Session, error)
	Put(ctx context.Context, s *Session) error
	Delete(ctx context.Context, id string) error
}

// NewID returns a fresh session id: 256 random bits, base64url.
func NewID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Sealer seals and opens short values (a session id, a login's state) for
// cookies and URLs. It is safe for concurrent use.
type Sealer struct {
	master []byte
}

// NewSealer returns a sealer whose keys derive from master (32 bytes or more
// of secret: env.Key gives one kept in the data directory).
func NewSealer(master []byte) (*Sealer, error) {
	if len(master) < 32 {
		return nil, errors.New("session: the sealing key must have 32 bytes or more")
	}
	return &Sealer{master: append([]byte(nil), master...)}, nil
}

// aead is the cipher of one purpose: a key of its own, so that what is
// sealed for one purpose never opens for another.
func (s *Sealer) aead(purpose string) cipher.AEAD {
	mac := hmac.New(sha256.New, s.master)
	mac.Write([]byte("usher session seal\x00" + purpose))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return g
}

// ErrInvalid is a sealed value that does not open: forged, altered, sealed
// for another purpose or under another key, or expired.
var ErrInvalid = errors.New("session: invalid or expired sealed value")

// Seal returns plain sealed for purpose, valid until expires, as base64url
// text fit for a cookie or a URL parameter.
func (s *Sealer) Seal(purpose string, plain []byte, expires time.Time) string {
	g := s.aead(purpose)
	msg := make([]byte, 8, 8+len(plain))
	binary.BigEndian.PutUint64(msg, uint64(expires.Unix()))
	msg = append(msg, plain...)
	nonce := make([]byte, g.NonceSize(), g.NonceSize()+len(msg)+g.Overhead())
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(g.Seal(nonce, nonce, msg, []byte(purpose)))
}

// Open returns what Seal sealed for purpose, if it is still valid at now.
func (s *Sealer) Open(purpose, sealed string, now time.Time) ([]byte, error) {
	if len(sealed) > 4096 {
		return nil, ErrInvalid
	}
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		return nil, ErrInvalid
	}
	g := s.aead(purpose)
	if len(b) < g.NonceSize()+g.Overhead()+8 {
		return nil, ErrInvalid
	}
	msg, err := g.Open(nil, b[:g.NonceSize()], b[g.NonceSize():], []byte(purpose))
	if err != nil {
		return nil, ErrInvalid
	}
	if exp := int64(binary.BigEndian.Uint64(msg)); now.Unix() >= exp {
		return nil, ErrInvalid
	}
	return msg[8:], nil
}

// Check returns an error unless s can be stored: an id, a user and an end.
func Check(s *Session) error {
	switch {
	case s == nil:
		return errors.New("session: nil session")
	case len(s.ID) < 32:
		return fmt.Errorf("session: id too short")
	case s.Expires.IsZero():
		return errors.New("session: no expiry")
	}
	return nil
}
