// Package digestauth implements the digestAuth middleware: HTTP Digest
// authentication (RFC 7616) against htdigest lines, with SHA-256 and MD5
// (and their -sess variants), qop=auth, nonces that expire and nonce-count
// replay protection, and the optional userhash.
//
// Nonces are stateless: a timestamp and random bytes, signed with a key of
// usher's (env.Key "digest"), so any usher sharing the data directory takes
// them and an expired one is told apart from a forged one (stale=true, which
// clients answer without asking the user again). What is kept is, per nonce
// in use, the nonce counts seen (a window of 64 below the highest), so that
// a request cannot be replayed; that table is bounded (see nonceTable).
//
// What lasts across reloads, kept by the middleware's name (env.Keep): the
// nonce table and the failing clients (package backoff).
package digestauth

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/middleware/internal/backoff"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/passwd"
)

const kind = "digestAuth"

// maxNonces bounds the nonce table of one middleware (about 80 bytes each).
const maxNonces = 1 << 16

type algorithm struct {
	name string // as in the challenge
	new  func() hash.Hash
	sha  bool // SHA-256: the user's SHA256 HA1
}

var (
	sha256Alg = &algorithm{"SHA-256", sha256.New, true}
	md5Alg    = &algorithm{"MD5", md5.New, false}
)

type user struct {
	*passwd.DigestUser
	id *observe.Identity // shared, read-only
}

type digestAuth struct {
	next         http.Handler
	name, realm  string
	users        map[string]*user
	hashed       map[string]*user // hex H(user:realm) of each algorithm → user, when userhash
	userhash     bool
	offered      []*algorithm // SHA-256 first
	key          []byte
	opaque       string
	ttl          time.Duration
	nonces       *nonceTable
	clients      *backoff.Clients
	removeHeader bool
	headerField  string
	dummy        *passwd.DigestUser // checked for an unknown user: the same work
	dec          *env.Decisions
	log          *slog.Logger
	now          func() time.Time
}

// New returns the digestAuth middleware named name around next. A request
// without a valid Digest Authorization gets 401 with a challenge per
// algorithm the users have an HA1 of (SHA-256 first, then MD5); a client
// with too many failures in a row gets 429 until its wait is over. A
// request of a user goes on, the user in the access log (rec.Identity) and
// in cfg.HeaderField, without its Authorization when cfg.RemoveHeader.
func New(ctx context.Context, next http.Handler, cfg *config.DigestAuth, name string) (http.Handler, error) {
	e := env.From(ctx)
	realm := cfg.Realm
	if realm == "" {
		realm = config.AuthRealm
	}
	if strings.ContainsAny(realm, "\"\\\r\n") {
		return nil, fmt.Errorf("digestAuth: realm %q cannot be sent in a challenge", realm)
	}
	all, err := passwd.ParseDigest(cfg.Users)
	var le *passwd.LineError
	if errors.As(err, &le) {
		return nil, fmt.Errorf("digestAuth: users[%d]: %v", le.Line-1, le.Err)
	}
	users := all.Realm(realm)
	if cfg.UsersFile != "" {
		f, err := passwd.ParseDigestFile(cfg.UsersFile)
		if err != nil {
			return nil, fmt.Errorf("digestAuth: usersFile: %w", err)
		}
		for n, u := range f.Realm(realm) {
			if users[n] != nil {
				return nil, fmt.Errorf("digestAuth: usersFile %s: user %q is in users too", cfg.UsersFile, n)
			}
			users[n] = u
		}
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("digestAuth: no users of realm %q, in users or usersFile", realm)
	}
	d := &digestAuth{
		next: next, name: name, realm: realm, userhash: cfg.Userhash,
		users: map[string]*user{}, hashed: map[string]*user{},
		ttl: cfg.NonceTTL.D(), removeHeader: cfg.RemoveHeader,
		dec: e.Decisions(kind, name), log: e.Log.With("middleware", name, "kind", kind), now: time.Now,
	}
	if d.ttl <= 0 {
		d.ttl = config.DigestAuthNonceTTL
	}
	if cfg.HeaderField != "" {
		d.headerField = http.CanonicalHeaderKey(cfg.HeaderField)
	}
	var anySHA, anyMD5 bool
	for n, u := range users {
		du := &user{u, &observe.Identity{Middleware: name, User: n}}
		d.users[n] = du
		anySHA, anyMD5 = anySHA || u.SHA256 != nil, anyMD5 || u.MD5 != nil
		for _, a := range []*algorithm{sha256Alg, md5Alg} {
			d.hashed[a.name+":"+hexH(a, n+":"+realm)] = du
		}
	}
	if anySHA {
		d.offered = append(d.offered, sha256Alg)
	}
	if anyMD5 {
		d.offered = append(d.offered, md5Alg)
	}
	d.dummy = &passwd.DigestUser{MD5: make([]byte, md5.Size), SHA256: make([]byte, sha256.Size)}
	rand.Read(d.dummy.MD5)
	rand.Read(d.dummy.SHA256)
	if d.key, err = e.Key("digest"); err != nil {
		return nil, fmt.Errorf("digestAuth: %w", err)
	}
	d.key = d.mac("key", []byte(name+"\x00"+realm)) // one key per middleware and realm
	d.opaque = hex.EncodeToString(d.mac("opaque", nil)[:16])
	if d.nonces, err = env.Keep(e, kind, name, "nonces", func() (*nonceTable, func(), error) {
		return newNonceTable(maxNonces), nil, nil
	}); err != nil {
		return nil, err
	}
	if d.clients, err = env.Keep(e, kind, name, "clients", func() (*backoff.Clients, func(), error) {
		return backoff.New(0), nil, nil
	}); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *digestAuth) mac(label string, msg []byte) []byte {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte(label + "\x00"))
	m.Write(msg)
	return m.Sum(nil)
}

func hexH(a *algorithm, s string) string {
	h := a.new()
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

// A nonce is base64url(ts ‖ random ‖ mac): 8 bytes of Unix nanoseconds, 8
// random ones, and the first 16 of HMAC-SHA-256 over both.
const nonceLen = 8 + 8 + 16

func (d *digestAuth) newNonce() string {
	var b [nonceLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(d.now().UnixNano()))
	rand.Read(b[8:16])
	copy(b[16:], d.mac("nonce", b[:16]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

type nonceState int

const (
	nonceBad   nonceState = iota // not one of ours
	nonceStale                   // ours, expired
	nonceGood
)

// checkNonce tells whether s is a nonce of this middleware, and whether it
// still holds; id is its timestamp and random part.
func (d *digestAuth) checkNonce(s string) (st nonceState, id [16]byte, ts int64) {
	var b [nonceLen]byte
	if base64.RawURLEncoding.DecodedLen(len(s)) != nonceLen {
		return nonceBad, id, 0
	}
	if n, err := base64.RawURLEncoding.Decode(b[:], []byte(s)); err != nil || n != nonceLen {
		return nonceBad, id, 0
	}
	if !hmac.Equal(b[16:], d.mac("nonce", b[:16])[:16]) {
		return nonceBad, id, 0
	}
	copy(id[:], b[:16])
	ts = int64(binary.BigEndian.Uint64(b[:8]))
	now := d.now().UnixNano()
	switch {
	case ts > now+int64(time.Minute): // from a clock ahead of ours, sharing the key
		return nonceBad, id, ts
	case now-ts > int64(d.ttl):
		return nonceStale, id, ts
	}
	return nonceGood, id, ts
}

// challenge answers 401 with a challenge per algorithm offered.
func (d *digestAuth) challenge(w http.ResponseWriter, stale bool) {
	d.dec.Deny()
	nonce := d.newNonce()
	h := w.Header()
	vals := make([]string, 0, len(d.offered))
	for _, a := range d.offered {
		var b strings.Builder
		b.WriteString(`Digest realm="` + d.realm + `", qop="auth", algorithm=` + a.name +
			`, nonce="` + nonce + `", opaque="` + d.opaque + `", charset=UTF-8`)
		if d.userhash {
			b.WriteString(", userhash=true")
		}
		if stale {
			b.WriteString(", stale=true")
		}
		vals = append(vals, b.String())
	}
	h["Www-Authenticate"] = vals
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["Cache-Control"] = []string{"no-store"}
	w.WriteHeader(http.StatusUnauthorized)
	w.Write([]byte("401 Unauthorized\n"))
}

func (d *digestAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v := r.Header["Authorization"]
	if len(v) != 1 || len(v[0]) < 7 || !strings.EqualFold(v[0][:7], "digest ") {
		d.challenge(w, false)
		return
	}
	ip := backoff.ClientIP(w, r)
	if wait := d.clients.Wait(ip); wait > 0 {
		d.dec.Deny()
		backoff.Refuse(w, wait)
		return
	}
	u, stale, why := d.verify(r, v[0][7:])
	switch {
	case u != nil:
		d.clients.Succeed(ip)
		d.allow(w, r, u)
	case stale:
		// The digest was right: not a failure of the client's.
		d.log.Debug("authentication failed", "reason", why, "client", ip.String())
		d.challenge(w, true)
	default:
		d.clients.Fail(ip)
		d.log.Debug("authentication failed", "reason", why, "client", ip.String())
		d.challenge(w, false)
	}
}

func (d *digestAuth) allow(w http.ResponseWriter, r *http.Request, u *user) {
	d.dec.Allow()
	if d.removeHeader {
		delete(r.Header, "Authorization")
	}
	if d.headerField != "" {
		r.Header[d.headerField] = []string{u.id.User}
	}
	if rec := observe.From(w); rec != nil {
		rec.Identity = u.id
	}
	d.next.ServeHTTP(w, r)
}

// verify checks the Digest credentials cred (the Authorization value after
// "Digest "). It returns the user when they hold; else stale tells that the
// digest was right on a nonce that no longer holds (expired, or its count
// seen already), and why says what was wrong, for the debug log (never a
// credential).
func (d *digestAuth) verify(r *http.Request, cred string) (u *user, stale bool, why string) {
	p, err := parseParams(cred)
	if err != nil {
		return nil, false, "malformed Digest credentials: " + err.Error()
	}
	for _, k := range []string{"realm", "nonce", "uri", "response", "qop", "nc", "cnonce"} {
		if _, ok := p[k]; !ok {
			return nil, false, "no " + k + " in the credentials"
		}
	}
	var alg *algorithm
	sess := false
	switch a := strings.ToUpper(p["algorithm"]); a {
	case "", "MD5":
		alg = md5Alg
	case "MD5-SESS":
		alg, sess = md5Alg, true
	case "SHA-256":
		alg = sha256Alg
	case "SHA-256-SESS":
		alg, sess = sha256Alg, true
	default:
		return nil, false, "algorithm not offered"
	}
	if p["realm"] != d.realm {
		return nil, false, "another realm"
	}
	if p["qop"] != "auth" {
		return nil, false, "qop is not auth"
	}
	nc := p["nc"]
	count, err := strconv.ParseUint(nc, 16, 32)
	if err != nil || len(nc) != 8 || count == 0 {
		return nil, false, "nc is not 8 hex digits"
	}
	if o, ok := p["opaque"]; !ok || o != d.opaque {
		return nil, false, "opaque is not the one sent"
	}
	if uri := p["uri"]; uri != r.RequestURI && uri != r.URL.RequestURI() {
		return nil, false, "uri is not the request's"
	}
	st, id, ts := d.checkNonce(p["nonce"])
	if st == nonceBad {
		return nil, false, "not a nonce of this middleware"
	}
	u = d.lookup(p, alg)
	ha1 := d.dummy.MD5
	if alg.sha {
		ha1 = d.dummy.SHA256
	}
	if u != nil {
		if alg.sha {
			ha1 = u.SHA256
		} else {
			ha1 = u.MD5
		}
		if ha1 == nil {
			// Not this user's algorithm; the dummy keeps the timing.
			u, ha1 = nil, d.dummy.MD5
			if alg.sha {
				ha1 = d.dummy.SHA256
			}
		}
	}
	want := response(alg, sess, hex.EncodeToString(ha1), p["nonce"], nc, p["cnonce"], r.Method, p["uri"])
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(p["response"]))) != 1 || u == nil {
		return nil, false, "wrong user name or password"
	}
	if st == nonceStale {
		return nil, true, "nonce expired"
	}
	if !d.nonces.use(id, ts, uint32(count), d.now().UnixNano(), int64(d.ttl)) {
		return nil, true, "nonce count seen already"
	}
	return u, false, ""
}

// lookup finds the user the credentials name: by name, by username* (RFC
// 8187 UTF-8), or by H(user:realm) when userhash is on and used.
func (d *digestAuth) lookup(p map[string]string, alg *algorithm) *user {
	name, ok := p["username"]
	if ext, isExt := p["username*"]; isExt {
		if ok {
			return nil // both: malformed (RFC 7616 §3.4)
		}
		if len(ext) < 7 || !strings.EqualFold(ext[:7], "utf-8''") {
			return nil
		}
		n, err := url.PathUnescape(ext[7:])
		if err != nil {
			return nil
		}
		name, ok = n, true
	}
	if !ok {
		return nil
	}
	if strings.EqualFold(p["userhash"], "true") {
		if !d.userhash {
			return nil
		}
		return d.hashed[alg.name+":"+strings.ToLower(name)]
	}
	return d.users[name]
}

// response is RFC 7616 §3.4.1's response, for qop=auth.
func response(alg *algorithm, sess bool, ha1, nonce, nc, cnonce, method, uri string) string {
	if sess {
		ha1 = hexH(alg, ha1+":"+nonce+":"+cnonce)
	}
	ha2 := hexH(alg, method+":"+uri)
	return hexH(alg, ha1+":"+nonce+":"+nc+":"+cnonce+":auth:"+ha2)
}

// maxCredentials bounds what parseParams reads.
const maxCredentials = 4096

// parseParams reads a list of auth-params (RFC 9110 §11.2): name=token or
// name="quoted string", separated by commas. Names are lower-cased; a name
// twice is an error.
func parseParams(s string) (map[string]string, error) {
	if len(s) > maxCredentials {
		return nil, errors.New("too long")
	}
	p := make(map[string]string, 10)
	i := 0
	skip := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	for {
		skip()
		for i < len(s) && s[i] == ',' {
			i++
			skip()
		}
		if i == len(s) {
			break
		}
		start := i
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		name := strings.ToLower(s[start:i])
		if name == "" {
			return nil, errors.New("expected a parameter name")
		}
		skip()
		if i == len(s) || s[i] != '=' {
			return nil, fmt.Errorf("parameter %q has no value", name)
		}
		i++
		skip()
		var val string
		if i < len(s) && s[i] == '"' {
			i++
			var b strings.Builder
			closed := false
			for i < len(s) {
				c := s[i]
				i++
				if c == '"' {
					closed = true
					break
				}
				if c == '\\' && i < len(s) {
					c = s[i]
					i++
				}
				if c < 0x20 && c != '\t' || c == 0x7f {
					return nil, errors.New("a control character in a quoted string")
				}
				b.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("parameter %q: unterminated quoted string", name)
			}
			val = b.String()
		} else {
			start := i
			for i < len(s) && isTokenChar(s[i]) {
				i++
			}
			val = s[start:i]
		}
		if _, dup := p[name]; dup {
			return nil, fmt.Errorf("parameter %q twice", name)
		}
		p[name] = val
		skip()
		if i < len(s) && s[i] != ',' {
			return nil, fmt.Errorf("unexpected %q after parameter %q", s[i], name)
		}
	}
	return p, nil
}

func isTokenChar(c byte) bool {
	return c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0)
}
