package userfile

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/usher-lb/usher/internal/passwd"
)

const argon = "$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		format   Format
		users    []string
		groups   []string // of the first user
		totp     bool     // the first user has a secret
		err      string
	}{
		{"yaml", "# ours\nusers:\n  alice:\n    password: " + argon + "\n    groups: [admin, dev]\n    totp: " + secret + "\n  bob: { password: '" + argon + "' }\n",
			YAML, []string{"alice", "bob"}, []string{"admin", "dev"}, true, ""},
		{"json", `{"users": {"alice": {"password": "` + argon + `", "totp": "` + strings.ToLower(secret) + `"}}}`, JSON, []string{"alice"}, nil, true, ""},
		{"lines", "# c\n\nalice:" + argon + ":admin,dev:" + secret + "\nbob:" + argon + "\ncarol:" + argon + "::" + secret + "\n",
			Lines, []string{"alice", "bob", "carol"}, []string{"admin", "dev"}, true, ""},
		{"empty", "", Lines, nil, nil, false, ""},
		{"yaml no users", "users:\n", YAML, nil, nil, false, ""},
		{"lines twice", "alice:" + argon + "\nalice:" + argon + "\n", 0, nil, nil, false, `line 2: user "alice" is listed twice`},
		{"yaml twice", "users:\n  alice: {password: '" + argon + "'}\n  alice: {password: '" + argon + "'}\n", 0, nil, nil, false, "alice"},
		{"plain text password", "alice:secret\n", 0, nil, nil, false, "line 1: user \"alice\": not a hash"},
		{"bad secret", "alice:" + argon + "::NOTBASE32!\n", 0, nil, nil, false, "line 1: user \"alice\": the TOTP secret is not base32"},
		{"short secret", "users:\n  alice:\n    password: '" + argon + "'\n    totp: JBSWY3DP\n", 0, nil, nil, false, "line 2: user \"alice\": the TOTP secret is shorter"},
		{"no colon", "alice\n", 0, nil, nil, false, "line 1: want NAME:HASH"},
		{"bad group", "alice:" + argon + ":ad\x01min\n", 0, nil, nil, false, "control characters"},
		{"yaml not a map", "users: [alice]\n", 0, nil, nil, false, "users must be a mapping"},
	} {
		f, err := Parse([]byte(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			if err != nil && (strings.Contains(err.Error(), "c2FsdHNh") || strings.Contains(err.Error(), "JBSWY3")) {
				t.Errorf("%s: the error shows a hash or a secret: %v", tc.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var names []string
		for _, u := range f.Users {
			names = append(names, u.Name)
		}
		if f.Format != tc.format || !slices.Equal(names, tc.users) || f.Passwords.Len() != len(tc.users) {
			t.Errorf("%s: format %d users %v, want %d %v", tc.name, f.Format, names, tc.format, tc.users)
		}
		if len(f.Users) > 0 && (!slices.Equal(f.Users[0].Groups, tc.groups) || (f.Users[0].TOTP != nil) != tc.totp) {
			t.Errorf("%s: first user %+v", tc.name, f.Users[0])
		}
	}
}

func TestPut(t *testing.T) {
	h1, _ := passwd.HashBcrypt("one", 4)
	h2, _ := passwd.HashBcrypt("two", 4)
	for _, name := range []string{"users.yaml", "users.json", "users"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), name)
			if err := Put(path, User{Name: "alice", Hash: h1, Groups: []string{"admin"}, TOTP: []byte("12345678901234567890")}); err != nil {
				t.Fatal(err)
			}
			if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
				t.Errorf("a new file is %v, want 0600", st.Mode().Perm())
			}
			if err := Put(path, User{Name: "bob", Hash: h1}); err != nil {
				t.Fatal(err)
			}
			if err := Put(path, User{Name: "alice", Hash: h2, Groups: []string{"dev", "ops"}}); err != nil {
				t.Fatal(err)
			}
			f, err := Read(path)
			if err != nil {
				b, _ := os.ReadFile(path)
				t.Fatalf("%v\n%s", err, b)
			}
			a, ok := f.Lookup("alice")
			if !ok || len(f.Users) != 2 || !slices.Equal(a.Groups, []string{"dev", "ops"}) || a.TOTP != nil {
				t.Fatalf("after replacing alice: %+v", f.Users)
			}
			if !f.Passwords.Verify("alice", "two") || f.Passwords.Verify("alice", "one") || !f.Passwords.Verify("bob", "one") {
				t.Error("the hashes written do not verify")
			}
			want := map[string]Format{"users.yaml": YAML, "users.json": JSON, "users": Lines}[name]
			if f.Format != want {
				t.Errorf("format %d, want %d", f.Format, want)
			}
		})
	}
	// YAML comments survive.
	path := filepath.Join(t.TempDir(), "u.yaml")
	os.WriteFile(path, []byte("# the shop's users\nusers:\n  bob: {password: '"+h1+"'} # bob\n"), 0o640)
	if err := Put(path, User{Name: "alice", Hash: h2}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "# the shop's users") || !strings.Contains(string(b), "# bob") {
		t.Errorf("comments lost:\n%s", b)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the file's 0640 kept", st.Mode().Perm())
	}
	if err := Put(path, User{Name: "a:b"}); err == nil {
		t.Error("a name with a colon is written")
	}
}
