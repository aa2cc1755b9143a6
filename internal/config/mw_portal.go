package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

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

// PortalLogin returns where the login page of s is: a host ("" for every
// host the middleware serves) and a path ending in /. It is an error for
// loginURL to be set with path or host, for loginURL not to be a path or an
// https:// URL without a query, and for a path not to start with /.
func PortalLogin(s *Portal) (host, path string, err error) {
	switch {
	case s.LoginURL != "" && (s.Path != "" || s.Host != ""):
		return "", "", errors.New("set loginURL, or path and host, not both")
	case s.LoginURL != "":
		u, perr := url.Parse(s.LoginURL)
		switch {
		case perr != nil:
			return "", "", fmt.Errorf("%q is not a URL", s.LoginURL)
		case u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "":
			return "", "", fmt.Errorf("%q: the login page's URL has no query, fragment or user info", s.LoginURL)
		case u.Scheme == "" && u.Host == "":
			path = u.Path
		case u.Scheme != "https" && u.Scheme != "http":
			return "", "", fmt.Errorf("%q: want a path (/.usher/login/) or an https:// URL", s.LoginURL)
		case u.Hostname() == "":
			return "", "", fmt.Errorf("%q has no host", s.LoginURL)
		default:
			host, path = strings.ToLower(u.Hostname()), u.Path
			if path == "" {
				path = "/"
			}
		}
	default:
		host, path = strings.ToLower(s.Host), s.Path
		if path == "" {
			path = PortalPath
		}
	}
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?#\\ \t\r\n") || strings.Contains(path, "//") || strings.Contains(path, "/../") || strings.Contains(path, "/./") {
		return "", "", fmt.Errorf("%q: the login page's path must start with / and be in normal form", path)
	}
	if !strings.HasSuffix(path, "/") {
		path += "/"
	}
	if host != "" && (strings.ContainsAny(host, "/:@ ") || !isHostHeader(host)) {
		return "", "", fmt.Errorf("%q is not a host name", host)
	}
	return host, path, nil
}

// PortalCookieDomain returns s.CookieDomain in the form cookies compare it:
// lower case, without a leading dot.
func PortalCookieDomain(s *Portal) string {
	return strings.TrimPrefix(strings.ToLower(s.CookieDomain), ".")
}
