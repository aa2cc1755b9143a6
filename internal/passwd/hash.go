package passwd

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// The argon2id parameters of Hash: RFC 9106's second recommended choice
// with two lanes, 64 MiB and three passes, about 50 ms on one core of a
// server of the 2020s. Each verification takes that memory while it runs.
const (
	argonMemory  = 64 * 1024 // KiB
	argonTime    = 3
	argonThreads = 2
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Limits of what a file may ask of Verify: beyond them a hash is an error,
// not an hour of CPU or gigabytes of memory per request.
const (
	maxArgonMemory = 1 << 20 // KiB: 1 GiB
	maxArgonTime   = 64
	maxBcryptCost  = 18
)

// Hash returns an argon2id hash of password in the PHC string format.
func Hash(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// HashBcrypt returns a bcrypt hash ($2y$) of password at cost (0: 12).
// Passwords over 72 bytes are refused: bcrypt would ignore the rest.
func HashBcrypt(password string, cost int) (string, error) {
	if cost == 0 {
		cost = 12
	}
	if cost < bcrypt.MinCost || cost > maxBcryptCost {
		return "", fmt.Errorf("bcrypt cost %d: want %d to %d", cost, bcrypt.MinCost, maxBcryptCost)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", err
	}
	// $2a$ and $2y$ are the same computation for passwords of valid UTF-8
	// or any bytes since 2011; $2y$ is what htpasswd writes.
	return "$2y$" + string(h[4:]), nil
}

var b64 = base64.RawStdEncoding

type argon2idHash struct {
	mem, time uint32
	threads   uint8
	salt, key []byte
}

func parseArgon2id(h string) (verifier, error) {
	// $argon2id$v=19$m=65536,t=3,p=2$salt$hash
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[2] != "v=19" {
		return nil, errors.New("argon2id: want $argon2id$v=19$m=…,t=…,p=…$salt$hash")
	}
	a := &argon2idHash{}
	var seen [3]bool
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("argon2id: parameter %q is not a number", kv)
		}
		switch k {
		case "m":
			a.mem, seen[0] = uint32(n), true
		case "t":
			a.time, seen[1] = uint32(n), true
		case "p":
			if n > 255 {
				return nil, errors.New("argon2id: p must be 1 to 255")
			}
			a.threads, seen[2] = uint8(n), true
		default:
			return nil, fmt.Errorf("argon2id: unknown parameter %q", k)
		}
	}
	var err error
	switch {
	case !seen[0] || !seen[1] || !seen[2]:
		return nil, errors.New("argon2id: m, t and p are all required")
	case a.threads == 0 || a.time == 0:
		return nil, errors.New("argon2id: t and p must be 1 or more")
	case a.mem < 8*uint32(a.threads):
		return nil, errors.New("argon2id: m must be at least 8×p KiB")
	case a.mem > maxArgonMemory:
		return nil, fmt.Errorf("argon2id: m=%d KiB is over usher's limit of 1 GiB per verification", a.mem)
	case a.time > maxArgonTime:
		return nil, fmt.Errorf("argon2id: t=%d is over usher's limit of %d passes", a.time, maxArgonTime)
	}
	if a.salt, err = decodeB64(parts[4]); err != nil || len(a.salt) < 8 {
		return nil, errors.New("argon2id: the salt is not base64 of 8 bytes or more")
	}
	if a.key, err = decodeB64(parts[5]); err != nil || len(a.key) < 16 || len(a.key) > 1024 {
		return nil, errors.New("argon2id: the hash is not base64 of 16 to 1024 bytes")
	}
	return a, nil
}

// decodeB64 takes the unpadded base64 of the PHC format, and padded base64
// that some tools write.
func decodeB64(s string) ([]byte, error) {
	return b64.DecodeString(strings.TrimRight(s, "="))
}

func (a *argon2idHash) verify(pw []byte) bool {
	k := argon2.IDKey(pw, a.salt, a.time, a.mem, a.threads, uint32(len(a.key)))
	return subtle.ConstantTimeCompare(k, a.key) == 1
}

func (a *argon2idHash) legacy() bool { return false }

type bcryptHash []byte

func parseBcrypt(h string) (verifier, error) {
	cost, err := bcrypt.Cost([]byte(h))
	if err != nil || len(h) != 60 {
		return nil, errors.New("bcrypt: not a bcrypt hash ($2y$NN$ and 53 characters)")
	}
	if cost > maxBcryptCost {
		return nil, fmt.Errorf("bcrypt: cost %d is over usher's limit of %d", cost, maxBcryptCost)
	}
	return bcryptHash(h), nil
}

func (b bcryptHash) verify(pw []byte) bool {
	return bcrypt.CompareHashAndPassword(b, pw) == nil
}

func (b bcryptHash) legacy() bool { return false }
