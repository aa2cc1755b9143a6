// Package jwt implements the jwt middleware: a request goes on only with a
// JSON Web Token that package jwtverify accepts (its signature by a key of
// the configuration, its exp, nbf, iat, iss and aud) and whose claims match
// what the configuration requires. The server then gets the claims it asked
// for in request headers; the client gets 401 (no token, a bad one), 403 (a
// good token whose claims do not match) or 503 (the keys of the JWK Set
// could not be had).
//
// Verifications that let a request through are kept (bounded, by the
// SHA-256 of the token, until the token expires or five minutes pass, and
// only while the keys are the same), so that a client that sends the same
// token again does not pay for a signature check each time.
//
// What lasts across reloads, kept by the middleware's name and URL
// (env.Keep): the JWK Set and its refresh.
package jwt

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/usher-lb/usher/internal/clienttls"
	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/jwtverify"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/middleware/internal/reqkey"
	"github.com/usher-lb/usher/internal/observe"
)

// kind is the middleware's key in the configuration.
const kind = "jwt"

type source struct {
	where string // header, cookie, query
	name  string // canonical for a header
}

type claimHeader struct {
	claim  string
	header string // canonical
}

type middleware struct {
	next        http.Handler
	name        string
	v           *jwtverify.Verifier
	leeway      time.Duration
	sources     []source
	queries     []string // names of the query sources: always removed
	removeToken bool
	required    []string
	matchers    []matcher
	toHeaders   []claimHeader
	challenge   string // `Bearer realm="…"`
	cache       *cache
	dec         *env.Decisions
	log         *slog.Logger
	now         func() time.Time
}

// New returns the jwt middleware named name around next. See the package
// comment for what it does, and docs/CONFIG.md for the keys.
func New(ctx context.Context, next http.Handler, cfg *config.JWT, name string) (http.Handler, error) {
	e := env.From(ctx)
	m := &middleware{
		next: next, name: name, removeToken: cfg.RemoveToken,
		dec: e.Decisions(kind, name), log: e.Log.With("middleware", name, "kind", kind),
		now: time.Now, leeway: config.JWTLeeway,
	}
	if cfg.Leeway != nil {
		m.leeway = cfg.Leeway.D()
	}
	realm := cfg.Realm
	if realm == "" {
		realm = config.JWTRealm
	}
	if strings.ContainsAny(realm, "\"\\\r\n") {
		return nil, errors.New("jwt: realm cannot hold a quote, a backslash or a line break")
	}
	m.challenge = `Bearer realm="` + realm + `"`

	var keys []jwtverify.Key
	if cfg.Secret != "" {
		k, err := jwtverify.SecretKey([]byte(cfg.Secret))
		if err != nil {
			return nil, fmt.Errorf("jwt: secret: %w", err)
		}
		if len(cfg.Secret) < 32 {
			m.log.Warn("jwt: the secret is shorter than 32 bytes, less than HS256 needs (RFC 7518 §3.2); anyone who guesses it can sign tokens")
		}
		keys = append(keys, k)
	}
	if cfg.PublicKeyFile != "" {
		data, err := os.ReadFile(cfg.PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("jwt: publicKeyFile: %w", err)
		}
		ks, err := jwtverify.ParsePEM(data)
		if err != nil {
			return nil, fmt.Errorf("jwt: publicKeyFile %s: %w", cfg.PublicKeyFile, err)
		}
		keys = append(keys, ks...)
	}
	var jwks *jwtverify.JWKS
	if cfg.JWKSURL != "" {
		var tc *tls.Config
		keepKey := "jwks " + cfg.JWKSURL
		if cfg.JWKSTLS != nil {
			var digest [sha256.Size]byte
			var err error
			if tc, digest, err = clienttls.Load(cfg.JWKSTLS); err != nil {
				return nil, fmt.Errorf("jwt: jwksTLS.%s", strings.TrimPrefix(err.Error(), "tls."))
			}
			// A rotated CA or certificate makes a new client, and so a new set.
			keepKey += " " + hex.EncodeToString(digest[:])
		}
		var err error
		jwks, err = env.Keep(e, kind, name, keepKey, func() (*jwtverify.JWKS, func(), error) {
			o := jwtverify.JWKSOptions{Log: m.log}
			if tc != nil {
				o.Client = jwtverify.Client(tc)
			}
			j, err := jwtverify.NewJWKS(cfg.JWKSURL, o)
			if err != nil {
				return nil, nil, err
			}
			return j, j.Stop, nil
		})
		if err != nil {
			return nil, fmt.Errorf("jwt: jwksURL: %w", err)
		}
	}
	v, err := jwtverify.New(jwtverify.Options{
		Keys: keys, JWKS: jwks, Algorithms: cfg.Algorithms,
		Issuer: cfg.Issuer, Audience: cfg.Audience, Leeway: m.leeway,
		Now: func() time.Time { return m.now() },
	})
	if err != nil {
		return nil, fmt.Errorf("jwt: %w", err)
	}
	m.v = v

	from := cfg.TokenFrom
	if len(from) == 0 {
		from = config.JWTTokenFrom
	}
	for _, f := range from {
		where, n, _ := strings.Cut(f, ":")
		switch {
		case n == "":
			return nil, fmt.Errorf("jwt: tokenFrom %q has no name", f)
		case where == "header":
			m.sources = append(m.sources, source{where, http.CanonicalHeaderKey(n)})
		case where == "cookie":
			m.sources = append(m.sources, source{where, n})
		case where == "query":
			m.sources = append(m.sources, source{where, n})
			m.queries = append(m.queries, n)
		default:
			return nil, fmt.Errorf("jwt: tokenFrom %q is not header:NAME, cookie:NAME or query:NAME", f)
		}
	}
	m.required = slices.Clone(cfg.RequiredClaims)
	for _, c := range sortedKeys(cfg.Claims) {
		mc := cfg.Claims[c]
		if mc == nil || (mc.Equals == "" && mc.Contains == "" && len(mc.OneOf) == 0) {
			return nil, fmt.Errorf("jwt: claims.%s: say what the claim must be: equals, contains or oneOf", c)
		}
		m.matchers = append(m.matchers, matcher{claim: c, equals: mc.Equals, contains: mc.Contains, oneOf: slices.Clone(mc.OneOf)})
	}
	for _, c := range sortedKeys(cfg.ClaimsToHeaders) {
		m.toHeaders = append(m.toHeaders, claimHeader{claim: c, header: http.CanonicalHeaderKey(cfg.ClaimsToHeaders[c])})
	}
	m.cache = newCache(cacheEntries)
	return m, nil
}

func sortedKeys[T any](m map[string]T) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// maxCacheTTL is the longest a verification is kept, whatever the token's
// exp: a revoked key's tokens stop working within it even when the JWK Set
// cannot be fetched to learn of the revocation.
const maxCacheTTL = 5 * time.Minute

// cacheEntries bounds the verifications kept.
const cacheEntries = 8192

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header == nil {
		r.Header = http.Header{}
	}
	token, src := m.token(r)
	if len(m.queries) > 0 {
		removeQuery(r, m.queries)
	}
	if token == "" {
		m.dec.Deny()
		m.log.Debug("jwt: no token", "path", r.URL.Path)
		m.refuse(w, http.StatusUnauthorized, m.challenge)
		return
	}
	// The token's bytes as they are: a copy would cost an allocation per
	// request, and Sum256 only reads them.
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
	now := m.now()
	gen := m.v.Generation()
	ent := m.cache.get(&sum, now, gen)
	if ent == nil {
		claims, err := m.v.Verify(r.Context(), token)
		if err != nil {
			var e *jwtverify.Error
			if errors.As(err, &e) && e.Unavailable {
				m.dec.Fail()
				// The JWK Set's failures are logged at warn where they
				// happen, once per fetch; not once per request here.
				m.log.Debug("jwt: cannot verify tokens: "+e.Reason, "path", r.URL.Path)
				m.refuse(w, http.StatusServiceUnavailable, "")
				return
			}
			m.dec.Deny()
			reason := err.Error()
			m.log.Debug("jwt: token refused", "reason", reason, "path", r.URL.Path)
			m.refuse(w, http.StatusUnauthorized, m.challenge+`, error="invalid_token", error_description="`+quoteSafe(reason)+`"`)
			return
		}
		if reason := m.authorize(claims); reason != "" {
			m.dec.Deny()
			m.log.Debug("jwt: token's claims do not match", "reason", reason, "sub", clip(claims["sub"]), "path", r.URL.Path)
			m.refuse(w, http.StatusForbidden, m.challenge+`, error="insufficient_scope", error_description="`+reason+`"`)
			return
		}
		ent = m.entry(claims, now, gen)
		m.cache.put(&sum, ent)
	}
	m.dec.Allow()
	h := r.Header
	for _, ch := range m.toHeaders {
		delete(h, ch.header)
	}
	for _, kv := range ent.set {
		h[kv.key] = kv.vals
	}
	if m.removeToken {
		m.remove(r, src)
	}
	if rec := observe.From(w); rec != nil {
		rec.Identity = ent.id
	}
	m.next.ServeHTTP(w, reqkey.WithClaims(r, ent.claims))
}

// token finds the token in the first source that has one.
func (m *middleware) token(r *http.Request) (string, source) {
	for _, s := range m.sources {
		var t string
		switch s.where {
		case "header":
			t = bearer(r.Header[s.name], s.name == "Authorization")
		case "cookie":
			if c, err := r.Cookie(s.name); err == nil {
				t = c.Value
			}
		case "query":
			if r.URL.RawQuery != "" {
				t = r.URL.Query().Get(s.name)
			}
		}
		if t = strings.TrimSpace(t); t != "" {
			return t, s
		}
	}
	return "", source{}
}

// bearer is the token of a header's first value: the credentials of its
// Bearer scheme; for another header than Authorization, the whole value
// when it has no scheme.
func bearer(vals []string, authorization bool) string {
	if len(vals) == 0 {
		return ""
	}
	v := strings.TrimSpace(vals[0])
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	if authorization {
		return ""
	}
	return v
}

// removeQuery takes the parameters names out of the request's query,
// keeping the rest as the client wrote it.
func removeQuery(r *http.Request, names []string) {
	q := r.URL.RawQuery
	if q == "" {
		return
	}
	var kept []string
	changed := false
	for part := range strings.SplitSeq(q, "&") {
		k, _, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil && slices.Contains(names, uk) || slices.Contains(names, k) {
			changed = true
			continue
		}
		kept = append(kept, part)
	}
	if changed {
		r.URL.RawQuery = strings.Join(kept, "&")
		r.URL.ForceQuery = false
	}
}

// remove takes the token out of where it came from.
func (m *middleware) remove(r *http.Request, s source) {
	switch s.where {
	case "header":
		delete(r.Header, s.name)
	case "cookie":
		cs := r.Cookies()
		delete(r.Header, "Cookie")
		var kept []string
		for _, c := range cs {
			if c.Name != s.name {
				kept = append(kept, c.Name+"="+c.Value)
			}
		}
		if len(kept) > 0 {
			r.Header["Cookie"] = []string{strings.Join(kept, "; ")}
		}
	}
}

var refusal = map[int][]byte{
	http.StatusUnauthorized:       []byte("401 Unauthorized\n"),
	http.StatusForbidden:          []byte("403 Forbidden\n"),
	http.StatusServiceUnavailable: []byte("503 Service Unavailable: the keys to verify tokens could not be fetched\n"),
}

func (m *middleware) refuse(w http.ResponseWriter, status int, challenge string) {
	h := w.Header()
	if challenge != "" {
		h["Www-Authenticate"] = []string{challenge}
	}
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	h["Cache-Control"] = []string{"no-store"}
	w.WriteHeader(status)
	w.Write(refusal[status])
}

// entry is what a request with these verified claims gets: the headers
// for the server, its identity, how long that holds.
func (m *middleware) entry(c jwtverify.Claims, now time.Time, gen uint64) *entry {
	e := &entry{gen: gen, until: now.Add(maxCacheTTL), claims: map[string]any(c)}
	if exp, ok := c.Time("exp"); ok && exp.Add(m.leeway).Before(e.until) {
		e.until = exp.Add(m.leeway)
	}
	if nbf, ok := c.Time("nbf"); ok {
		e.from = nbf.Add(-m.leeway)
	}
	for _, ch := range m.toHeaders {
		v, ok := lookup(c, ch.claim)
		if !ok {
			continue
		}
		s, ok := headerValue(v)
		if !ok {
			m.log.Debug("jwt: claim not sent: its value cannot go in a header", "claim", ch.claim)
			continue
		}
		e.set = append(e.set, kv{ch.header, []string{s}})
	}
	id := &observe.Identity{Middleware: m.name, Claims: e.claims}
	if sub, ok := c["sub"].(string); ok && printable(sub) {
		id.User = sub
	}
	e.id = id
	return e
}

// headerValue is a claim as a header value: a string as it is, a number or
// boolean as its JSON, a list as its elements joined by ", ", an object as
// its JSON; false when the result has a control character.
func headerValue(v any) (string, bool) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = x.String()
	case bool:
		s = fmt.Sprint(x)
	case nil:
		return "", false
	case []any:
		parts := make([]string, 0, len(x))
		for _, el := range x {
			p, ok := headerValue(el)
			if !ok {
				return "", false
			}
			parts = append(parts, p)
		}
		s = strings.Join(parts, ", ")
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return "", false
		}
		s = string(b)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return "", false
		}
	}
	return s, true
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return false
		}
	}
	return s != ""
}

// clip is a claim for a debug log line: a string, cut short.
func clip(v any) string {
	s, _ := v.(string)
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return s
}
