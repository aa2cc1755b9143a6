package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidatePortal(t *testing.T) {
	dir := t.TempDir()
	const argon = "$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo"
	good := filepath.Join(dir, "users.yaml")
	os.WriteFile(good, []byte("users:\n  alice: {password: '"+argon+"', groups: [admin], totp: JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP}\n"), 0o600)
	noTOTP := filepath.Join(dir, "bob")
	os.WriteFile(noTOTP, []byte("bob:"+argon+"\n"), 0o600)
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("# x\ncarol:"+argon+"::NOT-BASE32\n"), 0o600)
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{
			name: "valid",
			text: `http:
  middlewares:
    a: { portal: { usersFile: "` + good + `" } }
    b: { portal: { usersFile: "` + good + `", loginURL: "https://login.example.com/", cookieDomain: .example.com, sessionTTL: 8h, userHeader: X-User, groupsHeader: X-Groups, maxUserFailures: 3, maxClientFailures: 10, lockoutDuration: 1h } }
    c: { portal: { usersFile: "` + good + `", host: auth.example.com, path: /sso, cookieDomain: example.com } }
    d: { portal: { usersFile: "` + noTOTP + `", requireTOTP: false, loginURL: /login } }
`,
		},
		{
			name: "problems",
			text: `http:
  middlewares:
    none:   { portal: {} }
    totp:   { portal: { usersFile: "` + noTOTP + `" } }
    bad:    { portal: { usersFile: "` + bad + `" } }
    both:   { portal: { usersFile: "` + good + `", loginURL: /a/, path: /b/ } }
    query:  { portal: { usersFile: "` + good + `", loginURL: "https://login.example.com/?x=1", cookieDomain: example.com } }
    nocd:   { portal: { usersFile: "` + good + `", loginURL: "https://login.example.com/" } }
    other:  { portal: { usersFile: "` + good + `", host: login.example.org, cookieDomain: example.com } }
    names:  { portal: { usersFile: "` + good + `", cookieName: "a b", userHeader: "x:y", sessionTTL: 10s, path: "/a/../b/", cookieDomain: "exa mple" } }
`,
			want: []string{
				`usher.yaml:5: http.middlewares.bad.portal.usersFile: ` + bad + `: line 2: user "carol": the TOTP secret is not base32 (letters A-Z and digits 2-7)`,
				`usher.yaml:6: http.middlewares.both.portal.loginURL: set loginURL, or path and host, not both`,
				`usher.yaml:10: http.middlewares.names.portal.path: "/a/../b/": the login page's path must start with / and be in normal form`,
				`usher.yaml:10: http.middlewares.names.portal.cookieDomain: "exa mple" is not a domain name (example.com: the cookie then holds on it and its subdomains)`,
				`usher.yaml:10: http.middlewares.names.portal.cookieName: "a b" is not a valid cookie name`,
				`usher.yaml:10: http.middlewares.names.portal.userHeader: "x:y" is not a valid header name`,
				`usher.yaml:10: http.middlewares.names.portal.sessionTTL: must be 1m or more (default 12h), got 10s`,
				`usher.yaml:8: http.middlewares.nocd.portal.cookieDomain: is required when the login page is on a host of its own (login.example.com): the session cookie must reach the other hosts`,
				`usher.yaml:3: http.middlewares.none.portal.usersFile: is required: the users who may log in (usher user add NAME --file FILE makes it)`,
				`usher.yaml:9: http.middlewares.other.portal.cookieDomain: the login host login.example.org is not in example.com: a cookie it sets cannot hold there`,
				`usher.yaml:7: http.middlewares.query.portal.loginURL: "https://login.example.com/?x=1": the login page's URL has no query, fragment or user info`,
				`usher.yaml:4: http.middlewares.totp.portal.usersFile: user "bob" has no TOTP secret and requireTOTP is on: give them one (usher user add bob) or set requireTOTP: false`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := validate(t, tc.text)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}
