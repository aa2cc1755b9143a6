package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/usher-lb/usher/internal/passwd"
)

// basicAuth checks a basicAuth middleware: its users parse (each hash of a
// kind usher takes), its file parses, its realm and header can be sent.
func (v *validator) basicAuth(p string, s *BasicAuth) {
	users, err := passwd.Parse(s.Users)
	var le *passwd.LineError
	if errors.As(err, &le) {
		v.add(fmt.Sprintf("%s.users[%d]", p, le.Line-1), "%v", le.Err)
	}
	n := 0
	if users != nil {
		n = users.Len()
	}
	if s.UsersFile != "" {
		f, err := passwd.ParseFile(s.UsersFile)
		switch {
		case err != nil:
			v.add(p+".usersFile", "%v", err)
		case users != nil:
			if _, err := users.Merge(f); err != nil {
				v.add(p+".usersFile", "%s: %v (in users too)", s.UsersFile, err)
			}
			n += f.Len()
		}
	}
	if err == nil && n == 0 && s.UsersFile == "" {
		v.add(p+".users", "at least one user is required, in users or usersFile (usher hash-password makes a hash)")
	}
	v.realm(p+".realm", s.Realm)
	if s.HeaderField != "" && !isToken(s.HeaderField) {
		v.add(p+".headerField", "%q is not a valid header name", s.HeaderField)
	}
}

// digestAuth checks a digestAuth middleware: its lines parse, those given
// inline are of its realm, its realm and header can be sent.
func (v *validator) digestAuth(p string, s *DigestAuth) {
	realm := s.Realm
	if realm == "" {
		realm = AuthRealm
	}
	n := 0
	d, err := passwd.ParseDigest(s.Users)
	var le *passwd.LineError
	if errors.As(err, &le) {
		v.add(fmt.Sprintf("%s.users[%d]", p, le.Line-1), "%v", le.Err)
	}
	if d != nil {
		n = len(d.Realm(realm))
	}
	for i, line := range s.Users {
		if f := strings.Split(strings.TrimSpace(line), ":"); len(f) >= 3 && !strings.HasPrefix(f[0], "#") {
			if r := strings.Join(f[1:len(f)-1], ":"); r != realm {
				v.add(fmt.Sprintf("%s.users[%d]", p, i), "the line is of realm %q, the middleware's is %q: its HA1 cannot match", r, realm)
			}
		}
	}
	if s.UsersFile != "" {
		f, err := passwd.ParseDigestFile(s.UsersFile)
		switch {
		case err != nil:
			v.add(p+".usersFile", "%v", err)
		default:
			m := f.Realm(realm)
			if len(m) == 0 {
				v.add(p+".usersFile", "%s has no user of realm %q (its realms: %s)", s.UsersFile, realm, strings.Join(f.Realms(), ", "))
			}
			if d != nil {
				for name := range d.Realm(realm) {
					if m[name] != nil {
						v.add(p+".usersFile", "%s: user %q is in users too", s.UsersFile, name)
					}
				}
			}
			n += len(m)
		}
	}
	if err == nil && n == 0 && s.UsersFile == "" {
		v.add(p+".users", "at least one user is required, in users or usersFile (lines user:realm:HA1)")
	}
	v.realm(p+".realm", s.Realm)
	if s.HeaderField != "" && !isToken(s.HeaderField) {
		v.add(p+".headerField", "%q is not a valid header name", s.HeaderField)
	}
	if t := s.NonceTTL.D(); t < 0 || t > DigestAuthMaxNonceTTL {
		v.add(p+".nonceTTL", "must be 0 (the default, 5m) to 24h, got %s", t)
	}
}

// realm checks a realm goes into a quoted string of a challenge as it is.
func (v *validator) realm(path, r string) {
	for _, c := range r {
		if c < 0x20 || c == 0x7f || c == '"' || c == '\\' {
			v.add(path, "%q cannot be sent in a challenge: no quotes, backslashes or control characters", r)
			return
		}
	}
}
