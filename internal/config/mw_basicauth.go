package config

import "time"

// BasicAuth asks for a user name and password (RFC 7617), checked against
// htpasswd lines. Successful checks are remembered for a short while so
// that a client sending the same credentials on every request does not pay
// a password hash on each.
type BasicAuth struct {
	Users        []string `json:"users,omitempty" secret:"values" doc:"htpasswd lines, user:hash; argon2id or bcrypt (SHA-crypt $5$/$6$ and apr1 taken for migration, with a warning); usher hash-password makes one"`
	UsersFile    string   `json:"usersFile,omitempty" doc:"an htpasswd file, one user:hash a line (# comments); read again on every reload; merged with users, a name in both is an error"`
	Realm        string   `json:"realm,omitempty" doc:"the realm of the challenge, shown by browsers; default usher"`
	RemoveHeader bool     `json:"removeHeader,omitempty" doc:"remove Authorization before forwarding"`
	HeaderField  string   `json:"headerField,omitempty" doc:"request header that gets the user name for the server (the client's own is replaced)"`
}

// DigestAuth asks for a user name and password by HTTP Digest (RFC 7616),
// checked against htdigest lines.
type DigestAuth struct {
	Users        []string `json:"users,omitempty" secret:"values" doc:"htdigest lines, user:realm:HA1 with HA1 in hex: 32 digits MD5(user:realm:password), 64 SHA-256(user:realm:password); a user may have one of each (secret: an HA1 is as good as the password)"`
	UsersFile    string   `json:"usersFile,omitempty" doc:"an htdigest file; lines of other realms are ignored; read again on every reload; merged with users"`
	Realm        string   `json:"realm,omitempty" doc:"the realm of the challenge, part of every HA1; default usher"`
	RemoveHeader bool     `json:"removeHeader,omitempty" doc:"remove Authorization before forwarding"`
	HeaderField  string   `json:"headerField,omitempty" doc:"request header that gets the user name for the server (the client's own is replaced)"`
	Userhash     bool     `json:"userhash,omitempty" doc:"offer userhash=true: clients may send H(user:realm) instead of the user name"`
	NonceTTL     Duration `json:"nonceTTL,omitempty" doc:"how long a nonce is good; an older one gets a new challenge with stale=true, which clients answer without asking the user again; default 5m"`
}

// The defaults of basicAuth and digestAuth, applied by their middlewares.
const (
	AuthRealm             = "usher"
	DigestAuthNonceTTL    = 5 * time.Minute
	DigestAuthMaxNonceTTL = 24 * time.Hour
)
