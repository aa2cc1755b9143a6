package oidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/usher-lb/usher/internal/jwtverify"
	"github.com/usher-lb/usher/internal/middleware/internal/reqinfo"
	"github.com/usher-lb/usher/internal/session"
)

// loginState is what the login cookie holds, sealed, between the redirect
// to the provider and the callback.
type loginState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"` // the PKCE code verifier
	Redirect string `json:"r"` // the redirect_uri sent
	Host     string `json:"h"` // the host first asked for
	Return   string `json:"p"` // its path and query, made safe
}

func random() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// redirectURI is the callback URL for a request to r's host.
func (m *middleware) redirectURI(r *http.Request) string {
	if m.redirectAbs != nil {
		return m.redirectAbs.String()
	}
	return reqinfo.Scheme(r) + "://" + r.Host + m.redirectPath
}

func (m *middleware) secure(r *http.Request) bool {
	return reqinfo.IsHTTPS(r) || (m.redirectAbs != nil && m.redirectAbs.Scheme == "https")
}

// login answers a request without a session: 401 to an API client, else a
// redirect to the provider with a fresh state, nonce and PKCE verifier
// bound to this browser by the login cookie.
func (m *middleware) login(w http.ResponseWriter, r *http.Request) {
	if apiClient(r) {
		m.log.Debug("oidc: no session (API client: 401)", "path", r.URL.Path)
		refuse(w, http.StatusUnauthorized, "401 Unauthorized: log in first\n")
		return
	}
	doc, _, err := m.prov.get()
	if err != nil {
		m.dec.Fail()
		refuse(w, http.StatusServiceUnavailable, "503 Service Unavailable: the identity provider cannot be reached\n")
		return
	}
	ls := loginState{
		State: random(), Nonce: random(), Verifier: random(), Redirect: m.redirectURI(r),
		Host: r.Host, Return: safeReturn(reqinfo.RequestURI(r)),
	}
	plain, _ := json.Marshal(&ls)
	now := m.now()
	http.SetCookie(w, &http.Cookie{
		Name: m.loginPrefix + ls.State[:12], Value: m.sealer.Seal(m.sealLogin, plain, now.Add(loginTTL)),
		Path: m.redirectPath, Domain: m.cookieDomain, MaxAge: int(loginTTL / time.Second),
		HttpOnly: true, Secure: m.secure(r), SameSite: http.SameSiteLaxMode,
	})
	challenge := sha256.Sum256([]byte(ls.Verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {m.auth.id},
		"redirect_uri":          {ls.Redirect},
		"scope":                 {m.scopes},
		"state":                 {ls.State},
		"nonce":                 {ls.Nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(challenge[:])},
		"code_challenge_method": {"S256"},
	}
	target := doc.AuthorizationEndpoint
	if strings.Contains(target, "?") {
		target += "&" + q.Encode()
	} else {
		target += "?" + q.Encode()
	}
	noStore(w)
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusFound)
}

// maxReturn bounds the page remembered for after the login: the login
// cookie must stay under what browsers keep (4 KiB).
const maxReturn = 2048

// safeReturn is where a browser may be sent back after its login: a path
// of this host, never another site (//evil.example, /\evil.example and
// the like are how a path becomes one).
func safeReturn(p string) string {
	if p == "" || p[0] != '/' || len(p) > maxReturn {
		return "/"
	}
	if len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
		return "/"
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x21 || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	return p
}

// callback ends a login: the state of the provider's answer must be the
// one of a login cookie of this browser, then the code is exchanged, the
// ID token verified, the user checked, and a session begins.
func (m *middleware) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	now := m.now()
	var ls loginState
	if len(state) >= 12 {
		name := m.loginPrefix + state[:12]
		if c, err := r.Cookie(name); err == nil {
			http.SetCookie(w, &http.Cookie{Name: name, Path: m.redirectPath, Domain: m.cookieDomain, MaxAge: -1, HttpOnly: true, Secure: m.secure(r), SameSite: http.SameSiteLaxMode})
			if plain, err := m.sealer.Open(m.sealLogin, c.Value, now); err == nil {
				json.Unmarshal(plain, &ls)
			}
		}
	}
	if ls.State == "" || !equal(ls.State, state) {
		m.dec.Deny()
		m.log.Debug("oidc: callback without a login of this browser (state unknown, expired or altered)")
		refuse(w, http.StatusBadRequest, "400 Bad Request: this login was not started here or has expired; go back and try again\n")
		return
	}
	if e := q.Get("error"); e != "" {
		m.dec.Deny()
		m.log.Info("oidc: the provider refused the login", "error", clip(e, 64))
		refuse(w, http.StatusForbidden, "403 Forbidden: the identity provider refused the login ("+clip(e, 64)+")\n")
		return
	}
	code := q.Get("code")
	if code == "" {
		m.dec.Deny()
		refuse(w, http.StatusBadRequest, "400 Bad Request: the provider's answer has no code\n")
		return
	}
	doc, v, err := m.prov.get()
	if err != nil {
		m.dec.Fail()
		refuse(w, http.StatusServiceUnavailable, "503 Service Unavailable: the identity provider cannot be reached\n")
		return
	}
	t, err := m.prov.token(r.Context(), doc, m.clientAuth(doc), url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {ls.Redirect},
		"code_verifier": {ls.Verifier},
	})
	if err != nil {
		m.providerError(w, "code exchange", err)
		return
	}
	if t.IDToken == "" {
		m.dec.Fail()
		m.log.Warn("oidc: the token endpoint sent no id_token (is openid among the client's scopes?)")
		refuse(w, http.StatusBadGateway, "502 Bad Gateway: the identity provider sent no ID token\n")
		return
	}
	claims, reason := m.verifyIDToken(r.Context(), v, t.IDToken, ls.Nonce, "")
	if reason != "" {
		if strings.HasPrefix(reason, "unavailable: ") {
			m.dec.Fail()
			refuse(w, http.StatusServiceUnavailable, "503 Service Unavailable: the identity provider's keys cannot be had\n")
			return
		}
		m.dec.Deny()
		m.log.Info("oidc: ID token refused", "reason", reason)
		refuse(w, http.StatusForbidden, "403 Forbidden: the ID token was refused\n")
		return
	}
	if more, err := m.withUserinfo(r.Context(), doc, t.AccessToken, claims); err == nil {
		claims = more
	} else if m.restricted() {
		m.providerError(w, "userinfo", err)
		return
	} else {
		// Nothing to check the user against: the ID token's claims will do.
		m.log.Warn("oidc: userinfo failed; the login goes on with the ID token's claims", "error", err.Error())
	}
	id := m.identityOf(claims)
	if why := m.authorize(id.email, id.verified, id.groups); why != "" {
		m.dec.Deny()
		m.log.Info("oidc: user not allowed", "reason", why, "sub", clip(id.sub, 128))
		refuse(w, http.StatusForbidden, "403 Forbidden: this account is not allowed here\n")
		return
	}
	s := &session.Session{
		ID: session.NewID(), User: id.user, Email: id.email, Groups: id.groups,
		Created: now, Expires: now.Add(m.lifetime), Claims: claims,
		Data: map[string]string{dataIDToken: t.IDToken},
	}
	if t.RefreshToken != "" {
		s.Data[dataRefresh] = t.RefreshToken
		s.Data[dataAccess] = t.AccessToken
		s.Data[dataRefreshAt] = strconv.FormatInt(m.refreshAt(now, t, claims).Unix(), 10)
	}
	if err := m.sess.store.Put(r.Context(), s); err != nil {
		m.dec.Fail()
		m.log.Warn("oidc: session store", "error", err.Error())
		refuse(w, http.StatusServiceUnavailable, "503 Service Unavailable: the session could not be kept\n")
		return
	}
	m.dec.Allow()
	m.log.Debug("oidc: login", "sub", clip(id.sub, 128))
	m.setSession(w, r, s)
	noStore(w)
	w.Header().Set("Location", m.returnTo(r, &ls))
	w.WriteHeader(http.StatusSeeOther)
}

// returnTo is where the browser goes after its login: the page first asked
// for, on this host; on another host only when the callback is shared
// through cookieDomain and the host is in it.
func (m *middleware) returnTo(r *http.Request, ls *loginState) string {
	p := safeReturn(ls.Return)
	if ls.Host == "" || strings.EqualFold(ls.Host, r.Host) {
		return p
	}
	h := strings.ToLower(reqinfo.Hostname(ls.Host))
	if m.cookieDomain != "" && (h == m.cookieDomain || strings.HasSuffix(h, "."+m.cookieDomain)) && !strings.ContainsAny(ls.Host, "/\\@?#") {
		return reqinfo.Scheme(r) + "://" + ls.Host + p
	}
	return "/"
}

func (m *middleware) setSession(w http.ResponseWriter, r *http.Request, s *session.Session) {
	http.SetCookie(w, &http.Cookie{
		Name: m.cookieName, Value: m.sealer.Seal(m.sealSession, []byte(s.ID), s.Expires),
		Path: "/", Domain: m.cookieDomain, MaxAge: int(s.Expires.Sub(m.now()) / time.Second),
		HttpOnly: true, Secure: m.secure(r), SameSite: http.SameSiteLaxMode,
	})
}

// clientAuth is the client's way to the token endpoint: as configured, else
// the first the provider lists of basic and post (basic when it lists none).
func (m *middleware) clientAuth(doc *discovery) *clientAuth {
	ca := m.auth
	if !m.authSet && ca.secret != "" && len(doc.TokenAuthMethods) > 0 {
		for _, a := range doc.TokenAuthMethods {
			if a == "client_secret_basic" || a == "client_secret_post" {
				ca.post = a == "client_secret_post"
				break
			}
		}
	}
	return &ca
}

// providerError answers a failed call to the provider: a refusal is the
// client's (a code used twice: 403), anything else the provider's (503).
func (m *middleware) providerError(w http.ResponseWriter, what string, err error) {
	var re *refusedError
	if errors.As(err, &re) {
		m.dec.Deny()
		m.log.Info("oidc: "+what+" refused", "error", re.Error())
		refuse(w, http.StatusForbidden, "403 Forbidden: the identity provider refused the login; go back and try again\n")
		return
	}
	m.dec.Fail()
	m.log.Warn("oidc: "+what+" failed", "error", err.Error())
	refuse(w, http.StatusServiceUnavailable, "503 Service Unavailable: the identity provider cannot be reached\n")
}

// verifyIDToken checks an ID token (OIDC Core §3.1.3.7): jwtverify checks
// its signature, iss, aud and times; then exp and sub must be there, azp
// be the client when present, and the nonce be the login's (nonce "" for
// a refreshed token, whose sub must be sub). It returns a reason when the
// token is refused, "unavailable: …" when the keys could not be had.
func (m *middleware) verifyIDToken(ctx context.Context, v *jwtverify.Verifier, raw, nonce, sub string) (map[string]any, string) {
	c, err := v.Verify(ctx, raw)
	if err != nil {
		var je *jwtverify.Error
		if errors.As(err, &je) && je.Unavailable {
			return nil, "unavailable: " + je.Reason
		}
		return nil, err.Error()
	}
	if _, ok := c.Time("exp"); !ok {
		return nil, "the ID token has no exp"
	}
	s, _ := c["sub"].(string)
	if s == "" {
		return nil, "the ID token has no sub"
	}
	if !printable(s) {
		return nil, "the ID token's sub has control characters"
	}
	if sub != "" && s != sub {
		return nil, "the refreshed ID token is for another sub"
	}
	if azp, ok := c["azp"]; ok {
		if a, _ := azp.(string); a != m.auth.id {
			return nil, "the ID token's azp is not this client"
		}
	}
	if nonce != "" {
		if n, _ := c["nonce"].(string); !equal(n, nonce) {
			return nil, "the ID token's nonce is not the login's"
		}
	}
	return map[string]any(c), ""
}

// withUserinfo adds the claims of the userinfo endpoint when the ID token
// lacks the email asked for or the groups (providers often put them only
// there). The ID token's claims win; userinfo's sub must be the same.
func (m *middleware) withUserinfo(ctx context.Context, doc *discovery, accessToken string, c map[string]any) (map[string]any, error) {
	_, hasEmail := c["email"]
	if doc.UserinfoEndpoint == "" || accessToken == "" || ((hasEmail || !m.askEmail) && hasPath(c, m.groupsClaim)) {
		return c, nil
	}
	ui, err := m.prov.userinfo(ctx, doc, accessToken)
	if err != nil {
		return nil, err
	}
	if sub, _ := ui["sub"].(string); sub != c["sub"] {
		return nil, unavailable("userinfo: its sub is not the ID token's")
	}
	out := maps.Clone(ui)
	maps.Copy(out, c)
	return out, nil
}

// refreshAt is when a session's tokens are refreshed: when the access token
// expires, else when the ID token does; never sooner than refreshRetry.
func (m *middleware) refreshAt(now time.Time, t *tokens, claims map[string]any) time.Time {
	at := now.Add(5 * time.Minute)
	if d := t.expiresIn(); d > 0 {
		at = now.Add(d)
	} else if exp, ok := jwtverify.Claims(claims).Time("exp"); ok {
		at = exp
	}
	if at.Before(now.Add(refreshRetry)) {
		at = now.Add(refreshRetry)
	}
	return at
}

func unixData(s *session.Session, k string) time.Time {
	n, _ := strconv.ParseInt(s.Data[k], 10, 64)
	return time.Unix(n, 0)
}

// refresh renews the session's tokens with its refresh token, one refresh
// per session at a time. A refusal (the user logged out at the provider, a
// revoked token) or a user no longer allowed ends the session; a provider
// that cannot be reached lets the session go on, tried again after
// refreshRetry.
func (m *middleware) refresh(ctx context.Context, s *session.Session) *session.Session {
	ss := m.sess
	ss.mu.Lock()
	if ch, ok := ss.busy[s.ID]; ok {
		ss.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		}
		got, _ := ss.store.Get(ctx, s.ID)
		return got
	}
	ch := make(chan struct{})
	ss.busy[s.ID] = ch
	ss.mu.Unlock()
	defer func() {
		ss.mu.Lock()
		delete(ss.busy, s.ID)
		ss.mu.Unlock()
		close(ch)
	}()

	now := m.now()
	ns := *s
	ns.Data = maps.Clone(s.Data)
	retryLater := func(err error) *session.Session {
		m.log.Warn("oidc: cannot refresh a session; it goes on, tried again in 30s", "error", err.Error())
		ns.Data[dataRefreshAt] = strconv.FormatInt(now.Add(refreshRetry).Unix(), 10)
		ss.store.Put(ctx, &ns)
		return &ns
	}
	end := func(why string) *session.Session {
		m.log.Info("oidc: session ended at refresh", "reason", why, "sub", clip(claimString(s.Claims, "sub"), 128))
		ss.store.Delete(ctx, s.ID)
		return nil
	}
	doc, v, err := m.prov.get()
	if err != nil {
		return retryLater(err)
	}
	t, err := m.prov.token(ctx, doc, m.clientAuth(doc), url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {s.Data[dataRefresh]},
	})
	var re *refusedError
	switch {
	case errors.As(err, &re):
		return end(re.Error())
	case err != nil:
		return retryLater(err)
	}
	claims := s.Claims
	if t.IDToken != "" {
		c, reason := m.verifyIDToken(ctx, v, t.IDToken, "", claimString(s.Claims, "sub"))
		switch {
		case strings.HasPrefix(reason, "unavailable: "):
			return retryLater(errors.New(reason))
		case reason != "":
			return end(reason)
		}
		if more, err := m.withUserinfo(ctx, doc, t.AccessToken, c); err == nil {
			c = more
		} else if m.restricted() {
			return retryLater(err)
		}
		claims = c
		ns.Data[dataIDToken] = t.IDToken
	}
	id := m.identityOf(claims)
	if why := m.authorize(id.email, id.verified, id.groups); why != "" {
		return end(why)
	}
	ns.User, ns.Email, ns.Groups, ns.Claims = id.user, id.email, id.groups, claims
	if t.RefreshToken != "" {
		ns.Data[dataRefresh] = t.RefreshToken
	}
	ns.Data[dataAccess] = t.AccessToken
	ns.Data[dataRefreshAt] = strconv.FormatInt(m.refreshAt(now, t, claims).Unix(), 10)
	if err := ss.store.Put(ctx, &ns); err != nil {
		m.log.Warn("oidc: session store", "error", err.Error())
	}
	return &ns
}

func claimString(c map[string]any, k string) string {
	s, _ := c[k].(string)
	return s
}

// logout ends the session and the cookie, then sends the browser to the
// provider's end-session endpoint (RP-initiated logout) when it has one,
// else to postLogoutRedirectURL, else answers a plain page.
func (m *middleware) logout(w http.ResponseWriter, r *http.Request) {
	var idToken string
	if c, err := r.Cookie(m.cookieName); err == nil {
		if id, err := m.sealer.Open(m.sealSession, c.Value, m.now()); err == nil {
			if s, _ := m.sess.store.Get(r.Context(), string(id)); s != nil {
				idToken = s.Data[dataIDToken]
				m.log.Debug("oidc: logout", "sub", clip(claimString(s.Claims, "sub"), 128))
			}
			m.sess.store.Delete(r.Context(), string(id))
		}
	}
	http.SetCookie(w, &http.Cookie{Name: m.cookieName, Path: "/", Domain: m.cookieDomain, MaxAge: -1, HttpOnly: true, Secure: m.secure(r), SameSite: http.SameSiteLaxMode})
	noStore(w)
	post := m.postLogout
	if strings.HasPrefix(post, "/") {
		post = reqinfo.Scheme(r) + "://" + r.Host + post
	}
	if doc, _, err := m.prov.get(); err == nil && doc.EndSessionEndpoint != "" {
		q := url.Values{"client_id": {m.auth.id}}
		if idToken != "" {
			q.Set("id_token_hint", idToken)
		}
		if post != "" {
			q.Set("post_logout_redirect_uri", post)
		}
		target := doc.EndSessionEndpoint
		if strings.Contains(target, "?") {
			target += "&" + q.Encode()
		} else {
			target += "?" + q.Encode()
		}
		w.Header().Set("Location", target)
		w.WriteHeader(http.StatusFound)
		return
	}
	if post != "" {
		w.Header().Set("Location", post)
		w.WriteHeader(http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte("You are logged out.\n"))
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
}

func refuse(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	h["Cache-Control"] = []string{"no-store"}
	w.WriteHeader(status)
	w.Write([]byte(msg))
}
