package config

import (
	"strings"
	"time"

	"github.com/usher-lb/usher/internal/userfile"
)

// portal checks a portal middleware: its users file parses, its login page
// is somewhere a cookie can reach, its names and durations make sense.
func (v *validator) portal(p string, s *Portal) {
	if s.UsersFile == "" {
		v.add(p+".usersFile", "is required: the users who may log in (usher user add NAME --file FILE makes it)")
	} else if f, err := userfile.Read(s.UsersFile); err != nil {
		v.add(p+".usersFile", "%v", err)
	} else if s.RequireTOTP == nil || *s.RequireTOTP {
		for _, u := range f.Users {
			if u.TOTP == nil {
				v.add(p+".usersFile", "user %q has no TOTP secret and requireTOTP is on: give them one (usher user add %s) or set requireTOTP: false", u.Name, u.Name)
			}
		}
	}
	host, _, err := PortalLogin(s)
	if err != nil {
		key := ".loginURL"
		if s.LoginURL == "" {
			key = ".path"
		}
		v.add(p+key, "%v", err)
	}
	cd := PortalCookieDomain(s)
	switch {
	case cd != "" && (!isHostHeader(cd) || strings.ContainsAny(cd, ":/[]") || !strings.Contains(cd, ".") && cd != "localhost"):
		v.add(p+".cookieDomain", "%q is not a domain name (example.com: the cookie then holds on it and its subdomains)", s.CookieDomain)
	case host != "" && cd == "":
		v.add(p+".cookieDomain", "is required when the login page is on a host of its own (%s): the session cookie must reach the other hosts", host)
	case host != "" && host != cd && !strings.HasSuffix(host, "."+cd):
		v.add(p+".cookieDomain", "the login host %s is not in %s: a cookie it sets cannot hold there", host, cd)
	}
	if s.CookieName != "" && !isToken(s.CookieName) {
		v.add(p+".cookieName", "%q is not a valid cookie name", s.CookieName)
	}
	for key, h := range map[string]string{".userHeader": s.UserHeader, ".groupsHeader": s.GroupsHeader} {
		if h != "" && !isToken(h) {
			v.add(p+key, "%q is not a valid header name", h)
		}
	}
	if t := s.SessionTTL.D(); t < 0 || t > 0 && t < time.Minute {
		v.add(p+".sessionTTL", "must be 1m or more (default 12h), got %s", t)
	}
	if t := s.LockoutDuration.D(); t < 0 {
		v.add(p+".lockoutDuration", "must be 0 (the default, 15m) or more, got %s", t)
	}
	for key, n := range map[string]int{".maxUserFailures": s.MaxUserFailures, ".maxClientFailures": s.MaxClientFailures} {
		if n < 0 {
			v.add(p+key, "must be 0 (the default) or more, got %d", n)
		}
	}
}
