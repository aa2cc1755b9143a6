package config

import (
	"slices"
	"strings"
	"testing"
)

func TestValidateOIDC(t *testing.T) {
	for _, c := range []struct {
		name, mw string
		want     []string
	}{
		{"the design's oidc", `{ oidc: { issuer: "https://id.example.com", clientID: shop, clientSecret: s3cret, redirectURL: "/oauth2/callback", scopes: [openid, email] } }`, nil},
		{"every key", `{ oidc: { issuer: "https://id.example.com/realms/x", clientID: shop, clientSecret: s, clientAuthMethod: client_secret_post,
    redirectURL: "https://auth.example.com/cb", logoutPath: /logout, postLogoutRedirectURL: /, emails: [a@example.com], domains: [example.com],
    groups: [staff], groupsClaim: realm_access.roles, userHeader: X-User, emailHeader: X-Email, groupsHeader: X-Groups,
    sessionLifetime: 8h, cookieName: sso, cookieDomain: example.com } }`, nil},
		{"nothing", `{ oidc: { } }`, []string{
			`usher.yaml:4: http.middlewares.m.oidc.issuer: is required: the provider's issuer URL (https://id.example.com)`,
			`usher.yaml:4: http.middlewares.m.oidc.clientID: is required: the client id registered at the provider`,
		}},
		{"bad values", `{ oidc: { issuer: "https://u:p@id.example.com", clientID: shop, clientAuthMethod: client_secret_jwt, redirectURL: "/a/../cb",
    logoutPath: logout, scopes: ["open id"], emails: [alice], domains: ["@example.com"], groups: [""], userHeader: "X User",
    emailHeader: Cookie, groupsHeader: x-user, sessionLifetime: 1s, cookieName: "a=b", cookieDomain: ".example.com" } }`, []string{
			`usher.yaml:4: http.middlewares.m.oidc.issuer: "https://********@id.example.com" must be an https:// (or http://) URL with a host, and no user, query or fragment`,
			`usher.yaml:4: http.middlewares.m.oidc.clientAuthMethod: "client_secret_jwt" is not client_secret_basic or client_secret_post`,
			`usher.yaml:4: http.middlewares.m.oidc.redirectURL: "/a/../cb" must be a clean path (no //, no . or .. segments, no query)`,
			`usher.yaml:5: http.middlewares.m.oidc.logoutPath: "logout" must be a clean path starting with /`,
			`usher.yaml:5: http.middlewares.m.oidc.scopes[0]: "open id" is not a scope (one word, no quotes)`,
			`usher.yaml:5: http.middlewares.m.oidc.emails[0]: "alice" is not an email address`,
			`usher.yaml:5: http.middlewares.m.oidc.domains[0]: "@example.com" is not a domain (example.com)`,
			`usher.yaml:5: http.middlewares.m.oidc.groups[0]: a group cannot be empty`,
			`usher.yaml:5: http.middlewares.m.oidc.userHeader: "X User" is not a valid header name`,
			`usher.yaml:6: http.middlewares.m.oidc.emailHeader: "Cookie" cannot carry the user's identity`,
			`usher.yaml:6: http.middlewares.m.oidc.sessionLifetime: must be 1m or more`,
			`usher.yaml:6: http.middlewares.m.oidc.cookieName: "a=b" is not a valid cookie name`,
			`usher.yaml:6: http.middlewares.m.oidc.cookieDomain: ".example.com" is not a domain (example.com)`,
		}},
		{"store redis without the redis section", `{ oidc: { issuer: "https://id.example.com", clientID: shop, store: redis } }`, []string{
			"usher.yaml:4: http.middlewares.m.oidc.store: store: redis needs the static `redis` section (redis: { address: host:port })",
		}},
		{"unknown store", `{ oidc: { issuer: "https://id.example.com", clientID: shop, store: disk } }`, []string{
			`usher.yaml:4: http.middlewares.m.oidc.store: "disk" is not one of memory, redis`,
		}},
		{"a secret method without a secret", `{ oidc: { issuer: "https://id.example.com", clientID: shop, clientAuthMethod: client_secret_basic } }`, []string{
			`usher.yaml:4: http.middlewares.m.oidc.clientAuthMethod: client_secret_basic sends the client secret, and there is none (clientSecret or clientSecretFile)`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := "http:\n  middlewares:\n    x: { headers: { frameDeny: true } }\n    m: " + c.mw + "\n"
			var got []string
			if _, err := parseWith("usher.yaml", text, nil, nil); err != nil {
				got = []string{err.Error()}
			} else {
				got = validate(t, text)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(c.want, "\n  "))
			}
		})
	}
}

func TestOIDCClientSecretFile(t *testing.T) {
	text := "http:\n  middlewares:\n    m: { oidc: { issuer: \"https://id.example.com\", clientID: shop, clientSecretFile: /run/secrets/oidc } }\n"
	cfg, err := parseWith("usher.yaml", text, nil, map[string]string{"/run/secrets/oidc": "s3cret\n"})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.HTTP.Middlewares["m"].Spec.(*OIDC).ClientSecret; got != "s3cret" {
		t.Fatalf("clientSecret from the file: %q", got)
	}
}

func TestOIDCSecretRedacted(t *testing.T) {
	text := "http:\n  middlewares:\n    m: { oidc: { issuer: \"https://id.example.com\", clientID: shop, clientSecret: s3cret-value } }\n"
	cfg, err := parseWith("usher.yaml", text, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	red := cfg.Redacted().HTTP.Middlewares["m"].Spec.(*OIDC)
	if red.ClientSecret == "s3cret-value" || red.ClientID != "shop" {
		t.Fatalf("redacted: secret %q, client %q", red.ClientSecret, red.ClientID)
	}
	if cfg.HTTP.Middlewares["m"].Spec.(*OIDC).ClientSecret != "s3cret-value" {
		t.Fatal("Redacted changed the config itself")
	}
}
