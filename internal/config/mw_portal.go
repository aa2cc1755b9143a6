package config

import "time"

// Portal is usher's own login page: a form on loginURL (a path on every
// host the middleware serves, or a page of its own host) that checks a user
// name, a password and a TOTP code against usersFile and gives the browser a
// session cookie good on every router that uses the middleware under
// cookieDomain.
type Portal struct {
	UsersFile         string   `json:"usersFile" doc:"the users: YAML (users: {NAME: {password: HASH, groups: [..], totp: BASE32}}) or lines NAME:HASH[:GROUPS[:TOTP]]; usher user add writes it; read again on every reload; required"`
	LoginURL          string   `json:"loginURL,omitempty" doc:"where the login page is: a path ending in / served on every host of the routers using the middleware, or https://HOST/PATH/ on a host of its own (cookieDomain then required); logout is LOGINURL + logout; default /.usher/login/"`
	Path              string   `json:"path,omitempty" doc:"the path of loginURL alone (another way to write it, with host); default /.usher/login/"`
	Host              string   `json:"host,omitempty" doc:"the host of loginURL alone (another way to write it, with path): the login page is https://HOST/PATH/"`
	CookieDomain      string   `json:"cookieDomain,omitempty" doc:"domain of the session cookie: one login holds on that domain and its subdomains, and the return after login may go to any of them; default the host the login page is on"`
	CookieName        string   `json:"cookieName,omitempty" doc:"name of the session cookie; default usher_portal"`
	SessionTTL        Duration `json:"sessionTTL,omitempty" doc:"how long a login lasts, whatever the user does; default 12h"`
	UserHeader        string   `json:"userHeader,omitempty" doc:"request header that gets the user name for the server (the client's own copies are removed); default Remote-User"`
	GroupsHeader      string   `json:"groupsHeader,omitempty" doc:"request header that gets the user's groups, comma-separated (the client's own copies are removed); default Remote-Groups"`
	RequireTOTP       *bool    `json:"requireTOTP,omitempty" doc:"refuse users without a TOTP secret; false lets them log in with their password alone; default true"`
	MaxUserFailures   int      `json:"maxUserFailures,omitempty" doc:"failed logins in a row on one user name before it is locked for lockoutDuration; default 5"`
	MaxClientFailures int      `json:"maxClientFailures,omitempty" doc:"failed logins in a row from one client address (IPv6: its /64) before it is locked for lockoutDuration; default 20"`
	LockoutDuration   Duration `json:"lockoutDuration,omitempty" doc:"how long a locked user name or client is refused without a check; default 15m"`
}

// The defaults of portal, applied by its middleware.
const (
	PortalPath              = "/.usher/login/"
	PortalCookieName        = "usher_portal"
	PortalSessionTTL        = 12 * time.Hour
	PortalUserHeader        = "Remote-User"
	PortalGroupsHeader      = "Remote-Groups"
	PortalMaxUserFailures   = 5
	PortalMaxClientFailures = 20
	PortalLockoutDuration   = 15 * time.Minute
)
