package config

import (
	"fmt"
	"net/url"
	"strings"
)

// oidc checks an oidc middleware: an issuer URL, a client id, paths and
// header names usable as such, a cookie name, and TLS files that exist.
func (v *validator) oidc(p string, o *OIDC) {
	if o.Issuer == "" {
		v.add(p+".issuer", "is required: the provider's issuer URL (https://id.example.com)")
	} else if u, err := url.Parse(o.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		v.add(p+".issuer", "%q must be an https:// (or http://) URL with a host, and no user, query or fragment", RedactURL(o.Issuer))
	}
	if o.ClientID == "" {
		v.add(p+".clientID", "is required: the client id registered at the provider")
	}
	switch o.ClientAuthMethod {
	case "", "client_secret_basic", "client_secret_post":
		if o.ClientAuthMethod != "" && o.ClientSecret == "" {
			v.add(p+".clientAuthMethod", "%s sends the client secret, and there is none (clientSecret or clientSecretFile)", o.ClientAuthMethod)
		}
	default:
		v.add(p+".clientAuthMethod", "%q is not client_secret_basic or client_secret_post", o.ClientAuthMethod)
	}
	if o.RedirectURL != "" {
		if strings.HasPrefix(o.RedirectURL, "/") {
			if !cleanPath(o.RedirectURL) {
				v.add(p+".redirectURL", "%q must be a clean path (no //, no . or .. segments, no query)", o.RedirectURL)
			}
		} else if u, err := url.Parse(o.RedirectURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || !cleanPath(u.Path) {
			v.add(p+".redirectURL", "%q must be a path (/oauth2/callback) or an http(s) URL with a host and a clean path, no query", o.RedirectURL)
		}
	}
	if o.LogoutPath != "" && (!strings.HasPrefix(o.LogoutPath, "/") || !cleanPath(o.LogoutPath)) {
		v.add(p+".logoutPath", "%q must be a clean path starting with /", o.LogoutPath)
	}
	if o.PostLogoutRedirectURL != "" {
		if u, err := url.Parse(o.PostLogoutRedirectURL); err != nil || (!strings.HasPrefix(o.PostLogoutRedirectURL, "/") || strings.HasPrefix(o.PostLogoutRedirectURL, "//")) && ((u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
			v.add(p+".postLogoutRedirectURL", "%q must be a path or an http(s) URL with a host", o.PostLogoutRedirectURL)
		}
	}
	for i, s := range o.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
			v.add(fmt.Sprintf("%s.scopes[%d]", p, i), "%q is not a scope (one word, no quotes)", s)
		}
	}
	for i, e := range o.Emails {
		if at := strings.LastIndexByte(e, '@'); at <= 0 || at == len(e)-1 {
			v.add(fmt.Sprintf("%s.emails[%d]", p, i), "%q is not an email address", e)
		}
	}
	for i, d := range o.Domains {
		if d == "" || strings.ContainsAny(d, "@/ ") || strings.HasPrefix(d, ".") {
			v.add(fmt.Sprintf("%s.domains[%d]", p, i), "%q is not a domain (example.com)", d)
		}
	}
	for i, g := range o.Groups {
		if g == "" {
			v.add(fmt.Sprintf("%s.groups[%d]", p, i), "a group cannot be empty")
		}
	}
	seen := map[string]string{}
	for _, h := range []struct{ key, val string }{{"userHeader", o.UserHeader}, {"emailHeader", o.EmailHeader}, {"groupsHeader", o.GroupsHeader}} {
		if h.val == "" {
			continue
		}
		switch {
		case !isToken(h.val):
			v.add(p+"."+h.key, "%q is not a valid header name", h.val)
		case isFramingField(h.val) || strings.EqualFold(h.val, "Cookie") || strings.EqualFold(h.val, "Authorization"):
			v.add(p+"."+h.key, "%q cannot carry the user's identity", h.val)
		case seen[strings.ToLower(h.val)] != "":
			v.add(p+"."+h.key, "header %q is already %s", h.val, seen[strings.ToLower(h.val)])
		}
		seen[strings.ToLower(h.val)] = h.key
	}
	v.oneOf(p+".store", o.Store, "memory", "redis")
	if o.Store == "redis" && v.c.Redis == nil {
		v.add(p+".store", "store: redis needs the static `redis` section (redis: { address: host:port })")
	}
	if o.SessionLifetime != nil && o.SessionLifetime.D() < 1e9*60 {
		v.add(p+".sessionLifetime", "must be 1m or more")
	}
	if o.CookieName != "" && (!isToken(o.CookieName) || strings.ContainsAny(o.CookieName, "()<>@,;:\\\"/[]?={}")) {
		v.add(p+".cookieName", "%q is not a valid cookie name", o.CookieName)
	}
	if o.CookieDomain != "" && (strings.ContainsAny(o.CookieDomain, "/:; ") || strings.HasPrefix(o.CookieDomain, ".")) {
		v.add(p+".cookieDomain", "%q is not a domain (example.com)", o.CookieDomain)
	}
	if ct := o.TLS; ct != nil {
		v.fileExists(p+".tls.ca", ct.CA)
		v.fileExists(p+".tls.cert", ct.Cert)
		v.fileExists(p+".tls.key", ct.Key)
		if (ct.Cert == "") != (ct.Key == "") {
			v.add(p+".tls", "cert and key go together: set both or neither")
		}
	}
}

// cleanPath tells whether p (a path) has no empty, . or .. segment and no
// query or fragment.
func cleanPath(p string) bool {
	if p == "" || p == "/" {
		return p == "/"
	}
	if strings.ContainsAny(p, "?#\\ ") {
		return false
	}
	for seg := range strings.SplitSeq(strings.TrimPrefix(p, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}
