package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateBasicAndDigestAuth(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.htpasswd")
	bad := filepath.Join(dir, "bad.htpasswd")
	digest := filepath.Join(dir, "users.htdigest")
	os.WriteFile(good, []byte("# users\nbob:$apr1$r31.....$ARC3pREO82RIm0aQ2zszC0\n"), 0o600)
	os.WriteFile(bad, []byte("carol:$apr1$r31.....$ARC3pREO82RIm0aQ2zszC0\n\ndave:plain\n"), 0o600)
	os.WriteFile(digest, []byte("bob:shop:939e7578ed9e3c518a452acee763bce9\nbob:other:939e7578ed9e3c518a452acee763bce9\n"), 0o600)
	const argon = "$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo"
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{
			name: "valid",
			text: `http:
  middlewares:
    basic:  { basicAuth: { realm: shop, users: ["alice:` + argon + `"], usersFile: "` + good + `", removeHeader: true, headerField: X-Auth-User } }
    digest: { digestAuth: { realm: shop, users: ["alice:shop:939e7578ed9e3c518a452acee763bce9"], usersFile: "` + digest + `", userhash: true, nonceTTL: 1m } }
    onlyfile: { basicAuth: { usersFile: "` + good + `" } }
`,
		},
		{
			name: "problems",
			text: `http:
  middlewares:
    none:   { basicAuth: {} }
    lines:  { basicAuth: { users: ["alice:` + argon + `", "bob:secret"] } }
    file:   { basicAuth: { usersFile: "` + bad + `", realm: "a\"b", headerField: "x y" } }
    twice:  { basicAuth: { users: ["bob:` + argon + `"], usersFile: "` + good + `" } }
    gone:   { basicAuth: { usersFile: "` + filepath.Join(dir, "none") + `" } }
    dnone:  { digestAuth: {} }
    drealm: { digestAuth: { realm: shop, users: ["alice:usher:939e7578ed9e3c518a452acee763bce9", "bob:shop:abc"], nonceTTL: 48h } }
    dfile:  { digestAuth: { realm: nowhere, usersFile: "` + digest + `" } }
`,
			want: []string{
				`usher.yaml:10: http.middlewares.dfile.digestAuth.usersFile: ` + digest + ` has no user of realm "nowhere" (its realms: shop, other)`,
				`usher.yaml:8: http.middlewares.dnone.digestAuth.users: at least one user is required, in users or usersFile (lines user:realm:HA1)`,
				`usher.yaml:9: http.middlewares.drealm.digestAuth.users[1]: user "bob": HA1 must be 32 hex digits (MD5) or 64 (SHA-256)`,
				`usher.yaml:9: http.middlewares.drealm.digestAuth.users[0]: the line is of realm "usher", the middleware's is "shop": its HA1 cannot match`,
				`usher.yaml:9: http.middlewares.drealm.digestAuth.nonceTTL: must be 0 (the default, 5m) to 24h, got 48h0m0s`,
				`usher.yaml:5: http.middlewares.file.basicAuth.usersFile: ` + bad + `:3: user "dave": not a hash usher takes (plain text and DES crypt are refused): make one with usher hash-password`,
				`usher.yaml:5: http.middlewares.file.basicAuth.realm: "a\"b" cannot be sent in a challenge: no quotes, backslashes or control characters`,
				`usher.yaml:5: http.middlewares.file.basicAuth.headerField: "x y" is not a valid header name`,
				`usher.yaml:7: http.middlewares.gone.basicAuth.usersFile: open ` + filepath.Join(dir, "none") + `: no such file or directory`,
				`usher.yaml:4: http.middlewares.lines.basicAuth.users[1]: user "bob": not a hash usher takes (plain text and DES crypt are refused): make one with usher hash-password`,
				`usher.yaml:3: http.middlewares.none.basicAuth.users: at least one user is required, in users or usersFile (usher hash-password makes a hash)`,
				`usher.yaml:6: http.middlewares.twice.basicAuth.usersFile: ` + good + `: user "bob" is listed twice (in users too)`,
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

// TestRedactedHidesPasswordLines: hashes and HA1s (as good as a digest
// password) never reach the admin API.
func TestRedactedHidesPasswordLines(t *testing.T) {
	cfg, err := parseWith("usher.yaml", `http:
  middlewares:
    b: { basicAuth: { users: ["alice:$apr1$r31.....$ARC3pREO82RIm0aQ2zszC0"] } }
    d: { digestAuth: { users: ["alice:usher:939e7578ed9e3c518a452acee763bce9"] } }
`, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Redacted()
	if u := r.HTTP.Middlewares["b"].Spec.(*BasicAuth).Users; len(u) != 1 || u[0] != Redaction {
		t.Errorf("basicAuth users shown as %q", u)
	}
	if u := r.HTTP.Middlewares["d"].Spec.(*DigestAuth).Users; len(u) != 1 || u[0] != Redaction {
		t.Errorf("digestAuth users shown as %q", u)
	}
	if u := cfg.HTTP.Middlewares["b"].Spec.(*BasicAuth).Users; u[0] == Redaction {
		t.Error("the original was changed")
	}
}
