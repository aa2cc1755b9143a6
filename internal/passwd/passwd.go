// Package passwd reads password files and checks passwords against them:
// htpasswd lines (user:hash) for basicAuth and the login portal, htdigest
// lines (user:realm:HA1) for digestAuth, and makes the hashes that
// `usher hash-password` prints.
//
// Hashes: argon2id ($argon2id$v=19$m=…,t=…,p=…$salt$hash, PHC string
// format) and bcrypt ($2y$, $2a$, $2b$) are the ones to use. SHA-crypt ($5$,
// $6$) and MD5-crypt ($apr1$, $1$) are accepted so that an existing file can
// be moved to usher as it is; Users.Legacy names the users still on them, so
// that the caller can say so. Plain text, {SHA} and DES crypt are refused:
// anyone who reads the file has the passwords, or nearly.
//
// Every hash is parsed when the file is, so that a bad line is an error at
// load time with its line number; Verify then only computes.
package passwd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Users are the users of an htpasswd file, safe for concurrent use and
// read-only once parsed.
type Users struct {
	byName map[string]verifier
	names  []string // in file order
	legacy []string
	// dummy is checked for a user who is not there, so that an unknown user
	// costs as much time as a known one with a wrong password: the first
	// user's hash (the first not kept for migration, when there is one:
	// those are the cheap ones), whose answer is thrown away.
	dummy verifier
}

// verifier is one parsed hash.
type verifier interface {
	verify(password []byte) bool
	legacy() bool
}

// LineError is a bad line: its number (1-based) and what is wrong with it.
// It never holds the line's hash.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Parse reads htpasswd lines, one user:hash a line. Empty lines and lines
// starting with # are skipped. A user listed twice, a line without a colon,
// an empty name and a hash of a kind usher does not take are errors
// (*LineError).
func Parse(lines []string) (*Users, error) {
	u := &Users{byName: make(map[string]verifier, len(lines))}
	for i, line := range lines {
		line = strings.TrimRight(line, "\r")
		if t := strings.TrimSpace(line); t == "" || t[0] == '#' {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		switch {
		case !ok:
			return nil, &LineError{i + 1, errors.New("want user:hash")}
		case name == "":
			return nil, &LineError{i + 1, errors.New("the user name is empty")}
		case strings.TrimSpace(name) != name:
			return nil, &LineError{i + 1, fmt.Errorf("user %q: a name cannot start or end with spaces", name)}
		}
		if _, dup := u.byName[name]; dup {
			return nil, &LineError{i + 1, fmt.Errorf("user %q is listed twice", name)}
		}
		v, err := parseHash(strings.TrimSpace(hash))
		if err != nil {
			return nil, &LineError{i + 1, fmt.Errorf("user %q: %w", name, err)}
		}
		u.byName[name] = v
		u.names = append(u.names, name)
		if v.legacy() {
			u.legacy = append(u.legacy, name)
		}
		if u.dummy == nil || u.dummy.legacy() && !v.legacy() {
			u.dummy = v
		}
	}
	return u, nil
}

// ReadLines returns the lines of the file at path, for Parse and
// ParseDigest.
func ReadLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return lines, nil
}

// ParseFile is Parse on the file at path; its errors start with
// path:line.
func ParseFile(path string) (*Users, error) {
	lines, err := ReadLines(path)
	if err != nil {
		return nil, err
	}
	u, err := Parse(lines)
	var le *LineError
	if errors.As(err, &le) {
		return nil, fmt.Errorf("%s:%d: %w", path, le.Line, le.Err)
	}
	return u, err
}

// Merge returns the users of u and of more; a user in both is an error.
func (u *Users) Merge(more *Users) (*Users, error) {
	out := &Users{byName: make(map[string]verifier, len(u.byName)+len(more.byName)), dummy: u.dummy}
	if out.dummy == nil {
		out.dummy = more.dummy
	}
	for _, src := range []*Users{u, more} {
		for _, n := range src.names {
			if _, dup := out.byName[n]; dup {
				return nil, fmt.Errorf("user %q is listed twice", n)
			}
			out.byName[n] = src.byName[n]
			out.names = append(out.names, n)
		}
		out.legacy = append(out.legacy, src.legacy...)
	}
	return out, nil
}

// Verify tells whether password is user's. It takes about as long for a
// user who is not there as for one who is.
func (u *Users) Verify(user, password string) bool {
	v, ok := u.byName[user]
	if !ok {
		if u.dummy != nil {
			u.dummy.verify([]byte(password))
		}
		return false
	}
	return v.verify([]byte(password))
}

// Has tells whether user is there.
func (u *Users) Has(user string) bool { _, ok := u.byName[user]; return ok }

// Len is the number of users.
func (u *Users) Len() int { return len(u.names) }

// Names are the users, in the order of the lines.
func (u *Users) Names() []string { return append([]string(nil), u.names...) }

// Legacy names the users whose hashes are SHA-crypt or MD5-crypt, kept for
// migration: they should be given argon2id or bcrypt hashes.
func (u *Users) Legacy() []string { return append([]string(nil), u.legacy...) }

// parseHash recognises a hash by its prefix and parses it.
func parseHash(h string) (verifier, error) {
	switch {
	case strings.HasPrefix(h, "$argon2id$"):
		return parseArgon2id(h)
	case strings.HasPrefix(h, "$2y$"), strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"):
		return parseBcrypt(h)
	case strings.HasPrefix(h, "$5$"), strings.HasPrefix(h, "$6$"):
		return parseSHACrypt(h)
	case strings.HasPrefix(h, "$apr1$"), strings.HasPrefix(h, "$1$"):
		return parseMD5Crypt(h)
	case h == "":
		return nil, errors.New("the hash is empty")
	case strings.HasPrefix(h, "$argon2i$"), strings.HasPrefix(h, "$argon2d$"):
		return nil, errors.New("argon2i and argon2d hashes are not accepted: use argon2id (usher hash-password)")
	case strings.HasPrefix(h, "{SHA}"):
		return nil, errors.New("{SHA} hashes are unsalted SHA-1, not accepted: make a new hash with usher hash-password")
	case strings.HasPrefix(h, "$"):
		return nil, errors.New("unknown hash kind: want argon2id ($argon2id$), bcrypt ($2y$), SHA-crypt ($5$, $6$) or apr1 ($apr1$)")
	}
	return nil, errors.New("not a hash usher takes (plain text and DES crypt are refused): make one with usher hash-password")
}
