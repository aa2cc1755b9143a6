package config

import "time"

// OIDC logs browsers in at an OpenID Connect provider (authorization code
// flow with PKCE) and keeps the login in a session of usher's; requests
// without one are sent to the provider (API clients get 401).
type OIDC struct {
	Issuer                string     `json:"issuer" doc:"the provider's issuer URL; its /.well-known/openid-configuration is read at start (after a failure again 1s later, the wait doubling up to 30s)"`
	ClientID              string     `json:"clientID" doc:"the client id registered at the provider; ID tokens must name it in aud"`
	ClientSecret          string     `json:"clientSecret,omitempty" secret:"true" doc:"the client's secret (secret; clientSecretFile reads it from a file); none: a public client, PKCE only"`
	ClientAuthMethod      string     `json:"clientAuthMethod,omitempty" doc:"how the secret goes to the token endpoint: client_secret_basic or client_secret_post; default the first of these the provider supports (basic when it says nothing)"`
	RedirectURL           string     `json:"redirectURL,omitempty" doc:"the callback usher handles: a path (on the host asked for) or an absolute URL (one callback host for all, with cookieDomain); register it at the provider; default /oauth2/callback"`
	Scopes                []string   `json:"scopes,omitempty" doc:"scopes asked for; openid is always added; default [openid, email]"`
	LogoutPath            string     `json:"logoutPath,omitempty" doc:"path that ends the session (GET or POST), then sends the browser to the provider's end_session_endpoint when it has one; default /oauth2/logout"`
	PostLogoutRedirectURL string     `json:"postLogoutRedirectURL,omitempty" doc:"where the provider sends the browser after logout (post_logout_redirect_uri, register it at the provider); without an end-session endpoint, where usher sends it; default none (a plain page)"`
	Emails                []string   `json:"emails,omitempty" doc:"users allowed by verified email (case-insensitive); with domains and groups, any one that matches lets in; none of the three: every user of the provider"`
	Domains               []string   `json:"domains,omitempty" doc:"email domains allowed (example.com: exactly that domain, not its subdomains); the email must be verified"`
	Groups                []string   `json:"groups,omitempty" doc:"groups allowed: the user must be in one of them (from groupsClaim)"`
	GroupsClaim           string     `json:"groupsClaim,omitempty" doc:"claim of the ID token (or userinfo) holding the user's groups: a list of strings or one string; a dotted name reaches into objects; default groups"`
	UserHeader            string     `json:"userHeader,omitempty" doc:"request header that gets the user (the verified email, else sub) for the server; default X-Forwarded-User; the client's own copy is always removed"`
	EmailHeader           string     `json:"emailHeader,omitempty" doc:"request header that gets the email; default X-Forwarded-Email"`
	GroupsHeader          string     `json:"groupsHeader,omitempty" doc:"request header that gets the groups, comma-separated; default X-Forwarded-Groups"`
	Store                 string     `json:"store,omitempty" doc:"where sessions are kept: memory (this usher's; a restart logs everyone out) or redis (the static redis section, shared by every usher with the same dataDir key); default memory"`
	SessionLifetime       *Duration  `json:"sessionLifetime,omitempty" doc:"how long a login lasts, whatever the provider's tokens say; then the browser logs in again; default 24h"`
	CookieName            string     `json:"cookieName,omitempty" doc:"name of the session cookie (sealed: it holds only the session's id); the login's cookies are this with _login_ and a suffix; default _usher_oidc"`
	CookieDomain          string     `json:"cookieDomain,omitempty" doc:"Domain of the cookies, to share one login across subdomains; default the host asked for"`
	TLS                   *ClientTLS `json:"tls,omitempty" doc:"TLS to the provider (discovery, keys, token and userinfo endpoints): its CA, a client certificate; default the system's roots"`
}

// The defaults of oidc, applied by its middleware.
const (
	OIDCRedirectURL     = "/oauth2/callback"
	OIDCLogoutPath      = "/oauth2/logout"
	OIDCGroupsClaim     = "groups"
	OIDCUserHeader      = "X-Forwarded-User"
	OIDCEmailHeader     = "X-Forwarded-Email"
	OIDCGroupsHeader    = "X-Forwarded-Groups"
	OIDCCookieName      = "_usher_oidc"
	OIDCSessionLifetime = 24 * time.Hour
)

// OIDCScopes are the scopes asked for by default.
var OIDCScopes = []string{"openid", "email"}
