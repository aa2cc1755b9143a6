// Package oidc implements the oidc middleware: an OpenID Connect relying
// party at the edge. A browser without a session is sent to the provider's
// authorization endpoint (authorization code flow, PKCE S256, state and
// nonce bound to the browser by a short-lived sealed cookie); on its return
// to the callback usher exchanges the code at the token endpoint, verifies
// the ID token (package jwtverify: signature by a key of the provider's JWK
// Set, iss, aud = clientID, exp, then the nonce), checks the user against
// the allowed emails, domains and groups, and keeps the login in a session
// of its own, found again through a sealed cookie holding only the
// session's id. Requests with a session go on with the user, email and
// groups in request headers (the client's own copies always removed).
//
// API clients (Accept: application/json, an Authorization header,
// X-Requested-With, a browser's Sec-Fetch-Mode other than navigate) and
// requests other than GET and HEAD get 401 instead of a redirect: they
// cannot follow a login page.
//
// What lasts across reloads, kept by the middleware's name, issuer and
// client (env.Keep): the provider's discovery document and JWK Set, and the
// sessions.
package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/usher-lb/usher/internal/clienttls"
	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/jwtverify"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/middleware/internal/reqinfo"
	"github.com/usher-lb/usher/internal/middleware/internal/reqkey"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/session"
)

// kind is the middleware's key in the configuration.
const kind = "oidc"

// loginTTL is how long a login started may take at the provider.
const loginTTL = 10 * time.Minute

// refreshRetry is the least time between two refreshes of one session, and
// how long a session goes on when the provider cannot be reached to
// refresh it.
const refreshRetry = 30 * time.Second

// The keys of session.Data.
const (
	dataRefresh   = "rt"  // the refresh token
	dataIDToken   = "idt" // the last ID token, the hint of the provider's logout
	dataAccess    = "at"  // the access token, for userinfo after a refresh
	dataRefreshAt = "ra"  // unix seconds: when to refresh
)

type middleware struct {
	next     http.Handler
	name     string
	prov     *provider
	sess     *sessions
	sealer   *session.Sealer
	auth     clientAuth
	authSet  bool // clientAuthMethod was configured
	scopes   string
	askEmail bool

	redirectPath string
	redirectAbs  *url.URL // nil: redirectURL is a path, on the host asked for
	logoutPath   string
	postLogout   string

	emails      map[string]bool
	domains     map[string]bool
	groups      map[string]bool
	groupsClaim []string // the dotted name, split

	userHeader, emailHeader, groupsHeader string // canonical

	lifetime     time.Duration
	cookieName   string
	loginPrefix  string // cookieName + "_login_"
	cookieDomain string

	sealSession, sealLogin string // the sealer's purposes

	dec *env.Decisions
	log *slog.Logger
	now func() time.Time
}

// sessions are the logins of one middleware, kept across reloads, with the
// refreshes under way (one per session at a time: a refresh token that the
// provider rotates is good only once).
type sessions struct {
	store session.Store
	mu    sync.Mutex
	busy  map[string]chan struct{}
}

// New returns the oidc middleware named name around next. See the package
// comment for what it does, and docs/CONFIG.md for the keys.
func New(ctx context.Context, next http.Handler, cfg *config.OIDC, name string) (http.Handler, error) {
	e := env.From(ctx)
	m := &middleware{
		next: next, name: name,
		dec: e.Decisions(kind, name), log: e.Log.With("middleware", name, "kind", kind),
		now: time.Now,
	}
	if cfg.Issuer == "" || !httpURL(cfg.Issuer) {
		return nil, errors.New("oidc: issuer must be an http(s) URL with a host")
	}
	if cfg.ClientID == "" {
		return nil, errors.New("oidc: clientID is required")
	}
	m.auth = clientAuth{id: cfg.ClientID, secret: cfg.ClientSecret}
	switch cfg.ClientAuthMethod {
	case "":
	case "client_secret_basic":
		m.authSet = true
	case "client_secret_post":
		m.auth.post, m.authSet = true, true
	default:
		return nil, fmt.Errorf("oidc: clientAuthMethod %q is not client_secret_basic or client_secret_post", cfg.ClientAuthMethod)
	}

	scopes := cfg.Scopes
	if len(scopes) == 0 {
		scopes = config.OIDCScopes
	}
	if !slices.Contains(scopes, "openid") {
		scopes = append([]string{"openid"}, scopes...)
	}
	m.scopes = strings.Join(scopes, " ")
	m.askEmail = slices.Contains(scopes, "email")

	redirect := or(cfg.RedirectURL, config.OIDCRedirectURL)
	if strings.HasPrefix(redirect, "/") {
		m.redirectPath = redirect
	} else {
		u, err := url.Parse(redirect)
		if err != nil || !httpURL(redirect) {
			return nil, errors.New("oidc: redirectURL must be a path or an http(s) URL with a host")
		}
		m.redirectAbs, m.redirectPath = u, or(u.Path, "/")
	}
	m.logoutPath = or(cfg.LogoutPath, config.OIDCLogoutPath)
	if m.logoutPath == m.redirectPath {
		return nil, errors.New("oidc: logoutPath and the path of redirectURL must differ")
	}
	m.postLogout = cfg.PostLogoutRedirectURL

	m.emails = lowerSet(cfg.Emails)
	m.domains = lowerSet(cfg.Domains)
	m.groups = map[string]bool{}
	for _, g := range cfg.Groups {
		m.groups[g] = true
	}
	m.groupsClaim = strings.Split(or(cfg.GroupsClaim, config.OIDCGroupsClaim), ".")
	m.userHeader = http.CanonicalHeaderKey(or(cfg.UserHeader, config.OIDCUserHeader))
	m.emailHeader = http.CanonicalHeaderKey(or(cfg.EmailHeader, config.OIDCEmailHeader))
	m.groupsHeader = http.CanonicalHeaderKey(or(cfg.GroupsHeader, config.OIDCGroupsHeader))

	m.lifetime = config.OIDCSessionLifetime
	if cfg.SessionLifetime != nil {
		m.lifetime = cfg.SessionLifetime.D()
	}
	m.cookieName = or(cfg.CookieName, config.OIDCCookieName)
	m.loginPrefix = m.cookieName + "_login_"
	m.cookieDomain = strings.ToLower(cfg.CookieDomain)
	m.sealSession = "oidc session " + name
	m.sealLogin = "oidc login " + name

	key, err := e.Key("oidc")
	if err != nil {
		return nil, fmt.Errorf("oidc: sealing key: %w", err)
	}
	if m.sealer, err = session.NewSealer(key); err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}

	keep := cfg.Issuer + " " + cfg.ClientID
	var client *http.Client
	if cfg.TLS != nil {
		tc, digest, err := clienttls.Load(cfg.TLS)
		if err != nil {
			return nil, fmt.Errorf("oidc: %w", err)
		}
		client = jwtverify.Client(tc)
		// A rotated CA or certificate makes a new client, and so a new provider.
		keep += " " + hex.EncodeToString(digest[:])
	}
	m.prov, err = env.Keep(e, kind, name, "provider "+keep, func() (*provider, func(), error) {
		c := client
		if c == nil {
			c = jwtverify.Client(nil)
		}
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		p := newProvider(cfg.Issuer, cfg.ClientID, c, m.log)
		return p, p.Stop, nil
	})
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	// Another provider or client: every session of the old one ends.
	provKey := cfg.Issuer + " " + cfg.ClientID
	switch cfg.Store {
	case "", "memory":
		m.sess, err = env.Keep(e, kind, name, "sessions memory "+provKey, func() (*sessions, func(), error) {
			st := session.NewMemoryStore(0)
			return &sessions{store: st, busy: map[string]chan struct{}{}}, st.Close, nil
		})
	case "redis":
		rc, rerr := e.Redis()
		if rerr != nil {
			return nil, fmt.Errorf("oidc: %w", rerr)
		}
		sum := sha256.Sum256([]byte(provKey))
		prefix := "usher:oidc:" + name + ":" + hex.EncodeToString(sum[:6]) + ":"
		m.sess, err = env.Keep(e, kind, name, "sessions redis "+provKey, func() (*sessions, func(), error) {
			return &sessions{store: session.NewRedisStore(rc, prefix, m.sealer), busy: map[string]chan struct{}{}}, nil, nil
		})
	default:
		return nil, fmt.Errorf("oidc: store is memory or redis, not %q", cfg.Store)
	}
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	return m, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func lowerSet(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[strings.ToLower(x)] = true
	}
	return m
}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header == nil {
		r.Header = http.Header{}
	}
	// What the server is told about the user comes from usher alone.
	delete(r.Header, m.userHeader)
	delete(r.Header, m.emailHeader)
	delete(r.Header, m.groupsHeader)

	switch path := r.URL.Path; {
	case path == m.redirectPath && m.onCallbackHost(r):
		m.callback(w, r)
		return
	case path == m.logoutPath:
		m.logout(w, r)
		return
	}

	s, err := m.current(r)
	if err != nil {
		m.dec.Fail()
		m.log.Warn("oidc: session store", "error", err.Error())
		refuse(w, http.StatusServiceUnavailable, "503 Service Unavailable: the sessions cannot be read\n")
		return
	}
	if s == nil {
		m.dec.Deny()
		m.login(w, r)
		return
	}
	m.dec.Allow()
	h := r.Header
	h[m.userHeader] = []string{s.User}
	if s.Email != "" {
		h[m.emailHeader] = []string{s.Email}
	}
	if len(s.Groups) > 0 {
		h[m.groupsHeader] = []string{strings.Join(s.Groups, ",")}
	}
	m.stripCookies(r)
	r = reqkey.SetIdentity(w, r, &observe.Identity{Middleware: m.name, User: s.User, Groups: s.Groups, Claims: s.Claims})
	m.next.ServeHTTP(w, r)
}

// onCallbackHost tells whether r is for the callback's host (any host when
// redirectURL is a path).
func (m *middleware) onCallbackHost(r *http.Request) bool {
	return m.redirectAbs == nil || strings.EqualFold(reqinfo.Hostname(r.Host), reqinfo.Hostname(m.redirectAbs.Host))
}

// current returns the session of r's cookie, refreshed when its tokens are
// due; nil when there is none (or no more); an error when the store
// cannot be read.
func (m *middleware) current(r *http.Request) (*session.Session, error) {
	c, err := r.Cookie(m.cookieName)
	if err != nil {
		return nil, nil
	}
	now := m.now()
	id, err := m.sealer.Open(m.sealSession, c.Value, now)
	if err != nil {
		m.log.Debug("oidc: session cookie refused (forged, altered or expired)", "path", r.URL.Path)
		return nil, nil
	}
	s, err := m.sess.store.Get(r.Context(), string(id))
	if s == nil || err != nil {
		return nil, err
	}
	if s.Data[dataRefresh] != "" && !now.Before(unixData(s, dataRefreshAt)) {
		return m.refresh(r.Context(), s), nil
	}
	return s, nil
}

// stripCookies removes usher's own cookies from the request: the server
// has no use for them, and they are the keys to the session.
func (m *middleware) stripCookies(r *http.Request) {
	vals := r.Header["Cookie"]
	if len(vals) == 0 {
		return
	}
	var kept []string
	changed := false
	for _, line := range vals {
		for part := range strings.SplitSeq(line, ";") {
			p := strings.TrimSpace(part)
			n, _, _ := strings.Cut(p, "=")
			if n == m.cookieName || strings.HasPrefix(n, m.loginPrefix) {
				changed = true
				continue
			}
			if p != "" {
				kept = append(kept, p)
			}
		}
	}
	if !changed {
		return
	}
	if len(kept) == 0 {
		delete(r.Header, "Cookie")
		return
	}
	r.Header["Cookie"] = []string{strings.Join(kept, "; ")}
}

// apiClient tells whether r comes from a program rather than a browser
// that can follow a login: it gets 401, not a redirect.
func apiClient(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return true
	}
	if len(r.Header["Authorization"]) > 0 || strings.EqualFold(r.Header.Get("X-Requested-With"), "XMLHttpRequest") {
		return true
	}
	// A browser's fetch, image or script (not a page it navigates to):
	// a redirect would only start a login nobody sees.
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" && mode != "navigate" {
		return true
	}
	for _, a := range r.Header["Accept"] {
		if strings.Contains(strings.ToLower(a), "application/json") {
			return true
		}
	}
	return false
}

// restricted tells whether users are checked against emails, domains or
// groups.
func (m *middleware) restricted() bool {
	return len(m.emails) > 0 || len(m.domains) > 0 || len(m.groups) > 0
}

// authorize returns why the user may not come in, "" when they may.
func (m *middleware) authorize(email string, verified bool, groups []string) string {
	if !m.restricted() {
		return ""
	}
	if email != "" && verified {
		e := strings.ToLower(email)
		if m.emails[e] {
			return ""
		}
		if at := strings.LastIndexByte(e, '@'); at >= 0 && m.domains[e[at+1:]] {
			return ""
		}
	}
	for _, g := range groups {
		if m.groups[g] {
			return ""
		}
	}
	switch {
	case email != "" && !verified && (len(m.emails) > 0 || len(m.domains) > 0):
		return "the email is not verified, and no allowed group matches"
	case len(m.groups) > 0 && len(m.emails) == 0 && len(m.domains) == 0:
		return "the user is in none of the allowed groups"
	}
	return "neither the email nor a group of the user is allowed"
}

// identity is what a verified login says of the user.
type identity struct {
	sub, user, email string
	verified         bool
	groups           []string
}

func (m *middleware) identityOf(c map[string]any) identity {
	id := identity{}
	id.sub, _ = c["sub"].(string)
	id.email, _ = c["email"].(string)
	if !printable(id.email) {
		id.email = ""
	}
	// Absent counts as verified: some providers (Azure AD) never send
	// email_verified; false, or "false", does not.
	switch v := c["email_verified"].(type) {
	case bool:
		id.verified = v
	case string:
		id.verified = v != "false"
	default:
		id.verified = true
	}
	id.user = id.sub
	if id.email != "" && id.verified {
		id.user = id.email
	}
	id.groups = m.groupsOf(c)
	return id
}

// groupsOf reads the groups claim: a list of strings, or one string.
// Groups that cannot go in a comma-separated header are left out.
func (m *middleware) groupsOf(c map[string]any) []string {
	var v any = c
	for _, part := range m.groupsClaim {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		if v, ok = obj[part]; !ok {
			return nil
		}
	}
	var out []string
	add := func(x any) {
		if s, ok := x.(string); ok && s != "" && printable(s) && !strings.Contains(s, ",") && len(out) < 256 {
			out = append(out, s)
		}
	}
	switch g := v.(type) {
	case string:
		add(g)
	case []any:
		for _, x := range g {
			add(x)
		}
	}
	return out
}

func hasPath(c map[string]any, path []string) bool {
	var v any = c
	for _, part := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if v, ok = obj[part]; !ok {
			return false
		}
	}
	return true
}

// printable tells whether s can go in a header value as it is.
func printable(s string) bool {
	if len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
