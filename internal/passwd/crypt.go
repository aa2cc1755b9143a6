package passwd

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// SHA-crypt and MD5-crypt, kept for files moved from elsewhere. SHA-crypt
// follows Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512" (the
// specification glibc implements); MD5-crypt is Poul-Henning Kamp's, with
// Apache's $apr1$ magic as htpasswd -m writes it.

const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

const (
	shaRoundsDefault = 5000
	shaRoundsMin     = 1000
	// The specification allows 999999999; a file asking for more than this
	// is a mistake or an attack on usher's CPU.
	shaRoundsMax = 10_000_000
)

type shaCrypt struct {
	sum    string // the hash part as written, compared with the one computed
	magic  string // "$5$" or "$6$"
	rounds int
	salt   []byte
}

func parseSHACrypt(h string) (verifier, error) {
	s := &shaCrypt{magic: h[:3], rounds: shaRoundsDefault}
	rest := h[3:]
	if r, ok := strings.CutPrefix(rest, "rounds="); ok {
		n, after, ok := strings.Cut(r, "$")
		v, err := strconv.Atoi(n)
		if !ok || err != nil || v < 0 {
			return nil, errors.New("SHA-crypt: rounds= is not a number")
		}
		if v > shaRoundsMax {
			return nil, fmt.Errorf("SHA-crypt: %d rounds is over usher's limit of %d", v, shaRoundsMax)
		}
		s.rounds, rest = max(v, shaRoundsMin), after
	}
	salt, sum, ok := strings.Cut(rest, "$")
	want := 43
	if s.magic == "$6$" {
		want = 86
	}
	if !ok || len(sum) != want || strings.ContainsFunc(sum, notCryptChar) {
		return nil, errors.New("SHA-crypt: want $5$[rounds=N$]salt$hash with a hash of 43 characters ($5$) or 86 ($6$)")
	}
	if len(salt) > 16 {
		salt = salt[:16]
	}
	s.salt, s.sum = []byte(salt), sum
	return s, nil
}

func notCryptChar(r rune) bool { return !strings.ContainsRune(cryptAlphabet, r) }

func (s *shaCrypt) verify(pw []byte) bool {
	return subtle.ConstantTimeCompare([]byte(s.compute(pw)), []byte(s.sum)) == 1
}

func (s *shaCrypt) legacy() bool { return true }

// compute is the hash part of pw's SHA-crypt with s's salt and rounds. Only
// that part is compared: a file may say rounds=10 where the specification
// computes with its minimum of 1000.
func (s *shaCrypt) compute(pw []byte) string {
	newHash, perm := sha256.New, sha256Perm
	if s.magic == "$6$" {
		newHash, perm = sha512.New, sha512Perm
	}
	sum := shaCryptSum(newHash, pw, s.salt, s.rounds)
	var b strings.Builder
	for _, g := range perm {
		cryptB64(&b, sum.at(g[0]), sum.at(g[1]), sum.at(g[2]), g[3])
	}
	return b.String()
}

// sha256Perm and sha512Perm are the orders in which the specification
// writes the digest's bytes, three at a time (-1: a zero byte) and how many
// characters each group gives.
var sha256Perm = [][4]int{
	{0, 10, 20, 4}, {21, 1, 11, 4}, {12, 22, 2, 4}, {3, 13, 23, 4}, {24, 4, 14, 4},
	{15, 25, 5, 4}, {6, 16, 26, 4}, {27, 7, 17, 4}, {18, 28, 8, 4}, {9, 19, 29, 4}, {-1, 31, 30, 3},
}

var sha512Perm = [][4]int{
	{0, 21, 42, 4}, {22, 43, 1, 4}, {44, 2, 23, 4}, {3, 24, 45, 4}, {25, 46, 4, 4}, {47, 5, 26, 4},
	{6, 27, 48, 4}, {28, 49, 7, 4}, {50, 8, 29, 4}, {9, 30, 51, 4}, {31, 52, 10, 4}, {53, 11, 32, 4},
	{12, 33, 54, 4}, {34, 55, 13, 4}, {56, 14, 35, 4}, {15, 36, 57, 4}, {37, 58, 16, 4}, {59, 17, 38, 4},
	{18, 39, 60, 4}, {40, 61, 19, 4}, {62, 20, 41, 4}, {-1, -1, 63, 2},
}

// at is sum[i], 0 for -1.
type digest []byte

func (d digest) at(i int) byte {
	if i < 0 {
		return 0
	}
	return d[i]
}

func cryptB64(b *strings.Builder, b2, b1, b0 byte, n int) {
	w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
	for range n {
		b.WriteByte(cryptAlphabet[w&0x3f])
		w >>= 6
	}
}

// shaCryptSum is steps 1 to 21 of the specification.
func shaCryptSum(newHash func() hash.Hash, pw, salt []byte, rounds int) digest {
	// B = H(P S P)
	h := newHash()
	h.Write(pw)
	h.Write(salt)
	h.Write(pw)
	bSum := h.Sum(nil)
	size := len(bSum)

	// A = H(P S B… bits of len(P))
	h.Reset()
	h.Write(pw)
	h.Write(salt)
	n := len(pw)
	for ; n > size; n -= size {
		h.Write(bSum)
	}
	h.Write(bSum[:n])
	for n = len(pw); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write(bSum)
		} else {
			h.Write(pw)
		}
	}
	a := h.Sum(nil)

	// DP = H(P repeated len(P) times); P' = DP stretched to len(P)
	h.Reset()
	for range len(pw) {
		h.Write(pw)
	}
	dp := h.Sum(nil)
	p := stretch(dp, len(pw))

	// DS = H(S repeated 16+A[0] times); S' = DS stretched to len(S)
	h.Reset()
	for range 16 + int(a[0]) {
		h.Write(salt)
	}
	ds := h.Sum(nil)
	s := stretch(ds, len(salt))

	c := a
	for i := range rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(s)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(c[:0])
	}
	return c
}

func stretch(d []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, d[:min(len(d), n-len(out))]...)
	}
	return out
}

type md5Crypt struct {
	sum   string // the hash part
	magic string // "$apr1$" or "$1$"
	salt  []byte
}

func parseMD5Crypt(h string) (verifier, error) {
	magic := "$1$"
	if strings.HasPrefix(h, "$apr1$") {
		magic = "$apr1$"
	}
	salt, sum, ok := strings.Cut(h[len(magic):], "$")
	if !ok || len(salt) > 8 || len(sum) != 22 || strings.ContainsFunc(sum, notCryptChar) {
		return nil, fmt.Errorf("MD5-crypt: want %ssalt$hash with a salt of up to 8 characters and a hash of 22", magic)
	}
	return &md5Crypt{sum: sum, magic: magic, salt: []byte(salt)}, nil
}

func (m *md5Crypt) legacy() bool { return true }

func (m *md5Crypt) verify(pw []byte) bool {
	return subtle.ConstantTimeCompare([]byte(m.compute(pw)), []byte(m.sum)) == 1
}

func (m *md5Crypt) compute(pw []byte) string {
	h := md5.New()
	h.Write(pw)
	h.Write(m.salt)
	h.Write(pw)
	final := h.Sum(nil)

	h.Reset()
	h.Write(pw)
	h.Write([]byte(m.magic))
	h.Write(m.salt)
	for n := len(pw); n > 0; n -= 16 {
		h.Write(final[:min(n, 16)])
	}
	for n := len(pw); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write([]byte{0})
		} else {
			h.Write(pw[:1])
		}
	}
	final = h.Sum(nil)
	for i := range 1000 {
		h.Reset()
		if i&1 != 0 {
			h.Write(pw)
		} else {
			h.Write(final)
		}
		if i%3 != 0 {
			h.Write(m.salt)
		}
		if i%7 != 0 {
			h.Write(pw)
		}
		if i&1 != 0 {
			h.Write(final)
		} else {
			h.Write(pw)
		}
		final = h.Sum(final[:0])
	}
	var b strings.Builder
	d := digest(final)
	for _, g := range [][4]int{{0, 6, 12, 4}, {1, 7, 13, 4}, {2, 8, 14, 4}, {3, 9, 15, 4}, {4, 10, 5, 4}, {-1, -1, 11, 2}} {
		cryptB64(&b, d.at(g[0]), d.at(g[1]), d.at(g[2]), g[3])
	}
	return b.String()
}
