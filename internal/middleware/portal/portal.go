// Package portal implements the portal middleware: usher's own login page,
// a user name, a password and a TOTP code (RFC 6238) checked against a
// users file (package userfile), and a session that holds on every router
// using the middleware under its cookie domain.
//
// The page is plain HTML and CSS, embedded, with no script and nothing
// fetched from elsewhere: it works in any browser, with JavaScript off.
// It is served on loginURL: a path on every host of the routers that use
// the middleware, or a page of its own host. A request without a session
// is sent there (302, with where it wanted to go in rd) or, from an API
// client, refused with 401.
//
// What lasts across reloads, kept by the middleware's name (env.Keep) and
// so shared by all its routers: the sessions, the last TOTP step used by
// each user, the failing user names and clients, and the bound on password
// checks running at once. A restart ends every session (they are kept in
// the process); the sealing key lives in the data directory.
package portal

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/middleware/internal/reqinfo"
	"github.com/usher-lb/usher/internal/middleware/internal/reqkey"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/session"
	"github.com/usher-lb/usher/internal/totp"
	"github.com/usher-lb/usher/internal/userfile"
)

const kind = "portal"

// The purposes of what the portal seals: a cookie sealed for one never
// opens as the other.
const (
	sealSession = "portal session"
	sealCSRF    = "portal csrf"
)

const (
	csrfTTL     = 2 * time.Hour
	maxFormSize = 16 << 10
	maxRDLen    = 4096
	// clientFree is how many failures in a row one client has before it
	// waits: several people behind one address mistype too.
	clientFree = 5
	userFree   = 2
)

var (
	//go:embed assets/page.html
	pageHTML string
	//go:embed assets/style.css
	styleCSS []byte
	pageTmpl = template.Must(template.New("page").Parse(pageHTML))
)

type portal struct {
	next http.Handler
	name string

	users  *userfile.File
	byName map[string]*userfile.User

	loginHost   string // "" on every host
	loginOrigin string // scheme://host[:port] of a login host, "" on every host
	base        string // the login page's path, ending in /
	cookieDom   string // "" for host-only cookies
	cookieName  string
	csrfName    string
	ttl         time.Duration
	userHeader  string // canonical
	groupsHdr   string // canonical
	requireTOTP bool
	userPolicy  policy
	clientPol   policy

	sealer *session.Sealer
	st     *state
	dec    *env.Decisions
	log    *slog.Logger
	now    func() time.Time
}

// state is what the middleware keeps across reloads.
type state struct {
	sessions session.Store
	steps    *steps
	users    *guard[string]
	clients  *guard[netip.Addr]
	slots    chan struct{} // password checks at once: each takes argon2id's memory
}

// New returns the portal middleware named name around next.
func New(ctx context.Context, next http.Handler, cfg *config.Portal, name string) (http.Handler, error) {
	e := env.From(ctx)
	if cfg.UsersFile == "" {
		return nil, errors.New("portal: usersFile is required")
	}
	f, err := userfile.Read(cfg.UsersFile)
	if err != nil {
		return nil, fmt.Errorf("portal: usersFile: %w", err)
	}
	host, base, err := config.PortalLogin(cfg)
	if err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	p := &portal{
		next: next, name: name, users: f, byName: map[string]*userfile.User{},
		loginHost: host, base: base, cookieDom: config.PortalCookieDomain(cfg),
		cookieName:  or(cfg.CookieName, config.PortalCookieName),
		ttl:         or(cfg.SessionTTL.D(), config.PortalSessionTTL),
		userHeader:  http.CanonicalHeaderKey(or(cfg.UserHeader, config.PortalUserHeader)),
		groupsHdr:   http.CanonicalHeaderKey(or(cfg.GroupsHeader, config.PortalGroupsHeader)),
		requireTOTP: cfg.RequireTOTP == nil || *cfg.RequireTOTP,
		dec:         e.Decisions(kind, name),
		log:         e.Log.With("middleware", name, "kind", kind),
		now:         time.Now,
	}
	p.csrfName = p.cookieName + "_csrf"
	lock := or(cfg.LockoutDuration.D(), config.PortalLockoutDuration)
	p.userPolicy = policy{free: userFree, limit: or(cfg.MaxUserFailures, config.PortalMaxUserFailures), lockFor: lock}
	p.clientPol = policy{free: clientFree, limit: or(cfg.MaxClientFailures, config.PortalMaxClientFailures), lockFor: lock}
	if host != "" {
		if p.cookieDom == "" {
			return nil, fmt.Errorf("portal: the login page is on %s: cookieDomain is required", host)
		}
		p.loginOrigin = "https://" + host
		if cfg.LoginURL != "" {
			u, _ := url.Parse(cfg.LoginURL)
			p.loginOrigin = u.Scheme + "://" + strings.ToLower(u.Host)
		}
	}
	for i := range f.Users {
		u := &f.Users[i]
		p.byName[u.Name] = u
		if u.TOTP == nil && p.requireTOTP && firstWarning(cfg.UsersFile, []string{"no TOTP", u.Name}) {
			p.log.Warn("user without a TOTP secret cannot log in while requireTOTP is on (usher user add makes one)", "user", u.Name)
		}
	}
	if legacy := f.Passwords.Legacy(); len(legacy) > 0 && firstWarning(cfg.UsersFile, legacy) {
		p.log.Warn("users with SHA-crypt or apr1 hashes, taken for migration only: give them argon2id hashes (usher user add)", "users", legacy)
	}
	key, err := e.Key("portal")
	if err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	if p.sealer, err = session.NewSealer(key); err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	if p.st, err = env.Keep(e, kind, name, "state", func() (*state, func(), error) {
		ms := session.NewMemoryStore(0)
		return &state{
			sessions: ms,
			steps:    &steps{last: map[string]int64{}},
			users:    newGuard[string](16384),
			clients:  newGuard[netip.Addr](16384),
			slots:    make(chan struct{}, max(2, runtime.GOMAXPROCS(0))),
		}, ms.Close, nil
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// warned is what was warned about already, so that each router using the
// middleware and each reload do not say it again.
var warned sync.Map

func firstWarning(file string, what []string) bool {
	_, done := warned.LoadOrStore(file+"\x00"+strings.Join(what, "\x00"), true)
	return !done
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (p *portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.onLoginPage(r) {
		p.serveLogin(w, r)
		return
	}
	s, err := p.session(r)
	if err != nil {
		p.dec.Fail()
		p.log.Error("session store", "error", err)
		http.Error(w, "503 Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	if s == nil {
		p.dec.Deny()
		p.challenge(w, r)
		return
	}
	p.dec.Allow()
	u := p.byName[s.User]
	h := r.Header
	p.stripIdentity(h)
	h[p.userHeader] = []string{u.Name}
	if len(u.Groups) > 0 {
		h[p.groupsHdr] = []string{strings.Join(u.Groups, ",")}
	}
	p.stripCookies(h)
	r = reqkey.SetIdentity(w, r, &observe.Identity{Middleware: p.name, User: u.Name, Groups: u.Groups})
	p.next.ServeHTTP(w, r)
}

// onLoginPage tells whether r is for the login page (or its logout, its
// style sheet).
func (p *portal) onLoginPage(r *http.Request) bool {
	path := r.URL.Path
	if !strings.HasPrefix(path, p.base) && path != strings.TrimSuffix(p.base, "/") {
		return false
	}
	return p.loginHost == "" || strings.EqualFold(reqinfo.Hostname(r.Host), p.loginHost)
}

// session returns r's session, nil when it has none that holds: no cookie,
// one that does not open, an ended session or a user no longer in the file.
func (p *portal) session(r *http.Request) (*session.Session, error) {
	now := p.now()
	for _, c := range r.CookiesNamed(p.cookieName) {
		id, err := p.sealer.Open(sealSession, c.Value, now)
		if err != nil {
			continue
		}
		s, err := p.st.sessions.Get(r.Context(), string(id))
		if err != nil {
			return nil, err
		}
		if s != nil && !s.Expired(now) && p.byName[s.User] != nil {
			return s, nil
		}
	}
	return nil, nil
}

// apiClient tells whether r is from a program rather than a person at a
// browser: it gets 401, not a login page it cannot fill in.
func apiClient(r *http.Request) bool {
	if _, ok := r.Header["Authorization"]; ok {
		return true
	}
	for _, a := range r.Header["Accept"] {
		if strings.Contains(strings.ToLower(a), "application/json") {
			return true
		}
	}
	return strings.EqualFold(r.Header.Get("X-Requested-With"), "XMLHttpRequest")
}

// loginLocation is the login page's URL, relative on every host, absolute on
// a host of its own.
func (p *portal) loginLocation() string { return p.loginOrigin + p.base }

// challenge sends a request without a session to the login page, with the
// page it asked for to come back to.
func (p *portal) challenge(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd["Cache-Control"] = []string{"no-store"}
	if apiClient(r) {
		hd["Content-Type"] = []string{"application/json"}
		hd["Www-Authenticate"] = []string{`Cookie realm="usher", form-action="` + p.loginLocation() + `"`}
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"unauthorized","login":`+strconv.Quote(p.loginLocation())+"}\n")
		return
	}
	rd := reqinfo.RequestURI(r)
	if p.loginHost != "" {
		rd = reqinfo.Scheme(r) + "://" + r.Host + rd
	}
	hd["Location"] = []string{p.loginLocation() + "?rd=" + url.QueryEscape(rd)}
	w.WriteHeader(http.StatusFound)
}

// stripIdentity removes the client's own identity headers, under any
// spelling a server might take for them (Remote_User for Remote-User).
func (p *portal) stripIdentity(h http.Header) {
	for k := range h {
		n := strings.ReplaceAll(k, "_", "-")
		if strings.EqualFold(n, p.userHeader) || strings.EqualFold(n, p.groupsHdr) {
			delete(h, k)
		}
	}
}

// stripCookies removes the portal's cookies from what goes to the server:
// a session cookie is a credential.
func (p *portal) stripCookies(h http.Header) {
	lines := h["Cookie"]
	if len(lines) == 0 {
		return
	}
	var kept []string
	changed := false
	for _, line := range lines {
		for _, part := range strings.Split(line, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if name == p.cookieName || name == p.csrfName {
				changed = true
				continue
			}
			if t := strings.TrimSpace(part); t != "" {
				kept = append(kept, t)
			}
		}
	}
	switch {
	case !changed:
	case len(kept) == 0:
		delete(h, "Cookie")
	default:
		h["Cookie"] = []string{strings.Join(kept, "; ")}
	}
}

// serveLogin answers the login page's paths.
func (p *portal) serveLogin(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, p.base)
	if r.URL.Path == strings.TrimSuffix(p.base, "/") {
		w.Header()["Location"] = []string{p.base + query(r)}
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	switch rest {
	case "":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			p.showLogin(w, r)
		case http.MethodPost:
			p.login(w, r)
		default:
			notAllowed(w, "GET, HEAD, POST")
		}
	case "logout":
		switch r.Method {
		case http.MethodPost:
			p.logout(w, r)
		case http.MethodGet, http.MethodHead:
			// Only a POST logs out: a link prefetched or an image tag
			// must not.
			p.showLogin(w, r)
		default:
			notAllowed(w, "GET, HEAD, POST")
		}
	case "style.css":
		h := w.Header()
		h["Content-Type"] = []string{"text/css; charset=utf-8"}
		h["Cache-Control"] = []string{"public, max-age=3600"}
		h["X-Content-Type-Options"] = []string{"nosniff"}
		w.Write(styleCSS)
	default:
		http.NotFound(w, r)
	}
}

func query(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return "?" + r.URL.RawQuery
}

func notAllowed(w http.ResponseWriter, allow string) {
	w.Header()["Allow"] = []string{allow}
	http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
}

type pageData struct {
	Base, CSRF, RD, Username, Error string
	User, Groups                    string
	NeedCode                        bool
}

func (p *portal) render(w http.ResponseWriter, status int, d pageData) {
	d.Base = p.base
	d.NeedCode = p.requireTOTP
	h := w.Header()
	h["Content-Type"] = []string{"text/html; charset=utf-8"}
	h["Cache-Control"] = []string{"no-store"}
	// Nothing but the page's own style sheet; no frames around it (a login
	// form in someone else's frame is clickjacking).
	h["Content-Security-Policy"] = []string{"default-src 'none'; style-src 'self'; base-uri 'none'; frame-ancestors 'none'"}
	h["X-Frame-Options"] = []string{"DENY"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	h["Referrer-Policy"] = []string{"same-origin"}
	w.WriteHeader(status)
	if err := pageTmpl.Execute(w, d); err != nil {
		p.log.Debug("login page", "error", err)
	}
}

// showLogin shows the form, or, to a browser already logged in, goes to rd
// or says who is logged in.
func (p *portal) showLogin(w http.ResponseWriter, r *http.Request) {
	rd, _ := p.checkRD(r.URL.Query().Get("rd"), r)
	s, err := p.session(r)
	if err != nil {
		p.dec.Fail()
		p.log.Error("session store", "error", err)
		http.Error(w, "503 Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	if s != nil {
		if rd != "" {
			see(w, rd)
			return
		}
		u := p.byName[s.User]
		p.render(w, http.StatusOK, pageData{User: u.Name, Groups: strings.Join(u.Groups, ", ")})
		return
	}
	p.render(w, http.StatusOK, pageData{CSRF: p.csrfToken(w, r), RD: rd})
}

func see(w http.ResponseWriter, to string) {
	w.Header()["Location"] = []string{to}
	w.Header()["Cache-Control"] = []string{"no-store"}
	w.WriteHeader(http.StatusSeeOther)
}

// csrfToken returns the token for the form: the browser's CSRF cookie
// (made now when it has none), sealed. A form posted from another site has
// no token that opens to the cookie of the browser posting it.
func (p *portal) csrfToken(w http.ResponseWriter, r *http.Request) string {
	raw := ""
	if c, err := r.Cookie(p.csrfName); err == nil && len(c.Value) == 43 {
		if _, err := base64.RawURLEncoding.DecodeString(c.Value); err == nil {
			raw = c.Value
		}
	}
	if raw == "" {
		b := make([]byte, 32)
		rand.Read(b)
		raw = base64.RawURLEncoding.EncodeToString(b)
		http.SetCookie(w, &http.Cookie{Name: p.csrfName, Value: raw, Path: p.base, MaxAge: int(csrfTTL / time.Second),
			Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	return p.sealer.Seal(sealCSRF, []byte(raw), p.now().Add(csrfTTL))
}

func (p *portal) csrfOK(r *http.Request, token string) bool {
	c, err := r.Cookie(p.csrfName)
	if err != nil || c.Value == "" {
		return false
	}
	raw, err := p.sealer.Open(sealCSRF, token, p.now())
	return err == nil && subtle.ConstantTimeCompare(raw, []byte(c.Value)) == 1
}

// checkRD returns where to go back to after the login, "" when rd is none
// or goes somewhere usher does not serve: a path on the login page's host,
// or an http(s) URL on the login page's host, the cookie domain or one of
// its subdomains. Anything else (another site, user info, a scheme-relative
// //host, backslashes, control characters) is refused: no open redirect.
func (p *portal) checkRD(rd string, r *http.Request) (string, bool) {
	if rd == "" {
		return "", true
	}
	if len(rd) > maxRDLen || strings.ContainsAny(rd, "\\") {
		return "", false
	}
	for i := 0; i < len(rd); i++ {
		if rd[i] <= ' ' || rd[i] == 0x7f {
			return "", false
		}
	}
	u, err := url.Parse(rd)
	if err != nil || u.User != nil || u.Opaque != "" {
		return "", false
	}
	if u.Scheme == "" && u.Host == "" {
		if !strings.HasPrefix(rd, "/") || strings.HasPrefix(rd, "//") {
			return "", false
		}
		return u.String(), true
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case host == strings.ToLower(reqinfo.Hostname(r.Host)) && host != "":
	case p.loginHost != "" && host == p.loginHost:
	case p.cookieDom != "" && (host == p.cookieDom || strings.HasSuffix(host, "."+p.cookieDom)):
	default:
		return "", false
	}
	return u.String(), true
}

// clientKey is the client's address, an IPv6 one cut to its /64: one host
// may have a whole /64 to itself.
func clientKey(w http.ResponseWriter, r *http.Request) netip.Addr {
	ip := reqkey.ClientIP(w, r)
	if ip.Is6() {
		pf, _ := ip.Prefix(64)
		return pf.Addr()
	}
	return ip
}

const wrongCredentials = "Wrong user name, password or code."

// login checks a posted form and, when it holds, starts a session.
func (p *portal) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormSize)
	if err := r.ParseForm(); err != nil {
		p.dec.Deny()
		http.Error(w, "400 Bad Request: the form could not be read", http.StatusBadRequest)
		return
	}
	f := r.PostForm
	name, password, code := f.Get("username"), f.Get("password"), f.Get("code")
	if len(name) > 128 {
		name = name[:128]
	}
	rd, ok := p.checkRD(f.Get("rd"), r)
	if !ok {
		p.log.Info("login: return address refused (not a host usher serves)", "client", reqkey.ClientIP(w, r).String())
	}
	d := pageData{RD: rd, Username: name}
	if !p.csrfOK(r, f.Get("csrf")) {
		p.dec.Deny()
		d.CSRF = p.csrfToken(w, r)
		d.Error = "This form was too old or did not come from this page. Please try again."
		p.render(w, http.StatusForbidden, d)
		return
	}
	d.CSRF = f.Get("csrf")
	ip := clientKey(w, r)
	if wait := max(p.st.clients.wait(ip), p.st.users.wait(name)); wait > 0 {
		// Counted against the client too: guessing on a locked user name
		// must not be free.
		if cw, locked := p.st.clients.fail(ip, p.clientPol); locked {
			p.log.Warn("login: client locked out after failed logins", "client", ip.String(), "for", cw.String())
		}
		p.dec.Deny()
		w.Header()["Retry-After"] = []string{strconv.Itoa(int((wait + time.Second - 1) / time.Second))}
		d.Error = "Too many failed sign-ins. Please wait " + roundUp(wait) + " and try again."
		p.render(w, http.StatusTooManyRequests, d)
		return
	}
	select {
	case p.st.slots <- struct{}{}:
	case <-r.Context().Done():
		return
	}
	good := p.users.Passwords.Verify(name, password)
	<-p.st.slots
	u := p.byName[name]
	reason := ""
	switch {
	case !good && u == nil:
		reason = "unknown user"
	case !good:
		reason = "wrong password"
	case u.TOTP == nil && p.requireTOTP:
		reason = "the user has no TOTP secret and requireTOTP is on"
	case u.TOTP != nil:
		step, ok := totp.Match(u.TOTP, code, p.now(), 1)
		switch {
		case !ok:
			reason = "wrong TOTP code"
		case !p.st.steps.use(u.Name, step):
			reason = "TOTP code already used"
		}
	}
	if reason != "" {
		p.fail(w, ip, name, u != nil, reason)
		d.Error = wrongCredentials
		p.render(w, http.StatusUnauthorized, d)
		return
	}
	p.st.clients.succeed(ip)
	p.st.users.succeed(name)
	now := p.now()
	s := &session.Session{ID: session.NewID(), User: u.Name, Groups: u.Groups, Created: now, Expires: now.Add(p.ttl)}
	if err := p.st.sessions.Put(r.Context(), s); err != nil {
		p.dec.Fail()
		p.log.Error("session store", "error", err)
		http.Error(w, "503 Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	p.dec.Allow()
	p.log.Info("login", "user", u.Name, "client", ip.String())
	http.SetCookie(w, &http.Cookie{Name: p.cookieName, Value: p.sealer.Seal(sealSession, []byte(s.ID), s.Expires),
		Domain: p.cookieDomain(r), Path: "/", MaxAge: int(p.ttl / time.Second), Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	if rd == "" {
		rd = p.loginLocation()
	}
	see(w, rd)
}

func roundUp(d time.Duration) string {
	if d >= time.Minute {
		return strconv.Itoa(int((d+time.Minute-1)/time.Minute)) + " min"
	}
	return strconv.Itoa(int((d+time.Second-1)/time.Second)) + " s"
}

// fail counts a failed login against the client and the user name, and
// logs it: the user name only when it is a user's (a password typed in the
// wrong box must not land in the log), never the password or the code.
func (p *portal) fail(w http.ResponseWriter, ip netip.Addr, name string, known bool, reason string) {
	p.dec.Deny()
	attrs := []any{"reason", reason, "client", ip.String()}
	if known {
		attrs = append(attrs, "user", name)
	}
	p.log.Info("login failed", attrs...)
	if d, locked := p.st.clients.fail(ip, p.clientPol); locked {
		p.log.Warn("login: client locked out after failed logins", "client", ip.String(), "failures", p.clientPol.limit, "for", d.String())
	}
	if d, locked := p.st.users.fail(name, p.userPolicy); locked {
		if known {
			p.log.Warn("login: user locked out after failed logins", "user", name, "client", ip.String(), "failures", p.userPolicy.limit, "for", d.String())
		} else {
			p.log.Warn("login: an unknown user name locked out after failed logins", "client", ip.String(), "failures", p.userPolicy.limit, "for", d.String())
		}
	}
}

// cookieDomain is the Domain of the session cookie set in answer to r:
// cookieDomain, unless r came to a host outside it (an address, another
// name of the site), where a browser would refuse such a cookie; the
// cookie then holds on that host alone.
func (p *portal) cookieDomain(r *http.Request) string {
	host := strings.ToLower(reqinfo.Hostname(r.Host))
	if p.cookieDom != "" && (host == p.cookieDom || strings.HasSuffix(host, "."+p.cookieDom)) {
		return p.cookieDom
	}
	return ""
}

// logout ends the browser's session and sends it to the login page.
func (p *portal) logout(w http.ResponseWriter, r *http.Request) {
	now := p.now()
	for _, c := range r.CookiesNamed(p.cookieName) {
		if id, err := p.sealer.Open(sealSession, c.Value, now); err == nil {
			if s, _ := p.st.sessions.Get(r.Context(), string(id)); s != nil {
				p.log.Info("logout", "user", s.User, "client", reqkey.ClientIP(w, r).String())
			}
			if err := p.st.sessions.Delete(r.Context(), string(id)); err != nil {
				p.log.Error("session store", "error", err)
			}
		}
	}
	http.SetCookie(w, &http.Cookie{Name: p.cookieName, Value: "", Domain: p.cookieDomain(r), Path: "/", MaxAge: -1,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	see(w, p.loginLocation())
}
