package passwd

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// DigestUser is a user of an htdigest file in one realm: the HA1 of RFC
// 7616, H(user:realm:password), in one or both of its algorithms. An HA1 is
// as good as the password to whoever holds it.
type DigestUser struct {
	Name   string
	MD5    []byte // 16 bytes, nil when the file has none
	SHA256 []byte // 32 bytes, nil when the file has none
}

// DigestUsers are the lines of an htdigest file, by realm then user.
type DigestUsers struct {
	realms map[string]map[string]*DigestUser
	order  []string // realms in file order
}

// ParseDigest reads htdigest lines, user:realm:HA1, HA1 in hex: 32 digits
// for MD5, 64 for SHA-256. A user may have a line of each in one realm.
// Empty lines and lines starting with # are skipped; other bad lines are
// errors (*LineError).
func ParseDigest(lines []string) (*DigestUsers, error) {
	d := &DigestUsers{realms: map[string]map[string]*DigestUser{}}
	for i, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		// The realm may hold colons; the name cannot, nor the HA1.
		name, rest, ok1 := strings.Cut(line, ":")
		j := strings.LastIndexByte(rest, ':')
		if !ok1 || j < 0 {
			return nil, &LineError{i + 1, errors.New("want user:realm:HA1")}
		}
		realm, ha1 := rest[:j], rest[j+1:]
		if name == "" {
			return nil, &LineError{i + 1, errors.New("the user name is empty")}
		}
		sum, err := hex.DecodeString(ha1)
		if err != nil || (len(sum) != 16 && len(sum) != 32) {
			return nil, &LineError{i + 1, fmt.Errorf("user %q: HA1 must be 32 hex digits (MD5) or 64 (SHA-256)", name)}
		}
		users := d.realms[realm]
		if users == nil {
			users = map[string]*DigestUser{}
			d.realms[realm] = users
			d.order = append(d.order, realm)
		}
		u := users[name]
		if u == nil {
			u = &DigestUser{Name: name}
			users[name] = u
		}
		slot := &u.MD5
		if len(sum) == 32 {
			slot = &u.SHA256
		}
		if *slot != nil {
			return nil, &LineError{i + 1, fmt.Errorf("user %q is listed twice in realm %q with the same algorithm", name, realm)}
		}
		*slot = sum
	}
	return d, nil
}

// ParseDigestFile is ParseDigest on the file at path; its errors start with
// path:line.
func ParseDigestFile(path string) (*DigestUsers, error) {
	lines, err := ReadLines(path)
	if err != nil {
		return nil, err
	}
	d, err := ParseDigest(lines)
	var le *LineError
	if errors.As(err, &le) {
		return nil, fmt.Errorf("%s:%d: %w", path, le.Line, le.Err)
	}
	return d, err
}

// Realms are the realms of the lines, in file order.
func (d *DigestUsers) Realms() []string { return append([]string(nil), d.order...) }

// Realm returns the users of realm, by name; the map is the caller's.
func (d *DigestUsers) Realm(realm string) map[string]*DigestUser {
	out := make(map[string]*DigestUser, len(d.realms[realm]))
	for k, v := range d.realms[realm] {
		out[k] = v
	}
	return out
}
