package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/totp"
	"github.com/usher-lb/usher/internal/userfile"
)

func TestUserAdd(t *testing.T) {
	defer func(r interface{ Read([]byte) (int, error) }) { stdin = r }(stdin)
	path := filepath.Join(t.TempDir(), "users.yaml")
	add := func(in string, args ...string) (int, string, string) {
		stdin = strings.NewReader(in)
		var out, errOut bytes.Buffer
		code := runMain(append([]string{"user", "add"}, args...), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	code, out, errOut := add("wonder land\n", "alice", "--file", path, "--groups", "admin, dev", "--qr", "always")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	lines := strings.Split(out, "\n")
	secret, ok := strings.CutPrefix(lines[0], "secret: ")
	if !ok || len(lines) < 4 || !strings.HasPrefix(lines[1], "otpauth://totp/usher:alice?") || !strings.Contains(lines[1], "secret="+secret) {
		t.Fatalf("output:\n%s", out)
	}
	if !strings.ContainsAny(lines[2], "█▀▄") {
		t.Errorf("no QR code after the URI:\n%s", out)
	}
	if strings.Contains(out+errOut, "wonder land") {
		t.Error("the password is printed")
	}
	f, err := userfile.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	u, ok := f.Lookup("alice")
	if !ok || !slices.Equal(u.Groups, []string{"admin", "dev"}) || totp.Encode(u.TOTP) != secret || !f.Passwords.Verify("alice", "wonder land") {
		t.Fatalf("file: %+v", f.Users)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v", st.Mode().Perm())
	}
	// The code an app computes from the printed secret is the file's.
	s2, _ := totp.Decode(secret)
	if _, ok := totp.Match(u.TOTP, totp.CodeAt(s2, time.Now()), time.Now(), 0); !ok {
		t.Error("the printed secret is not the file's")
	}
	// Again: alice replaced (new secret, new password), bob added; no QR
	// code when standard output is not a terminal.
	if code, out, errOut = add("other\n", "alice", "--file", path); code != 0 || strings.ContainsAny(out, "█▀▄") || strings.Count(out, "\n") != 2 {
		t.Fatalf("replace: %d %q %s", code, out, errOut)
	}
	if code, _, errOut = add("pw\n", "--file", path, "bob"); code != 0 {
		t.Fatalf("bob: %d %s", code, errOut)
	}
	f, _ = userfile.Read(path)
	if len(f.Users) != 2 || !f.Passwords.Verify("alice", "other") || f.Passwords.Verify("alice", "wonder land") || !f.Passwords.Verify("bob", "pw") {
		t.Errorf("after replacing alice and adding bob: %+v", f.Users)
	}
	for _, tc := range []struct {
		in   string
		args []string
		code int
		err  string
	}{
		{"pw\n", []string{"alice"}, 2, "--file is required"},
		{"pw\n", []string{"a:b", "--file", path}, 2, "colon"},
		{"pw\n", []string{"--file", path}, 2, "Usage"},
		{"", []string{"carol", "--file", path}, 1, "no password on standard input"},
		{"pw\n", []string{"carol", "--file", path, "--qr", "maybe"}, 2, "--qr"},
		{"pw\n", []string{"carol", "--file", path, "--groups", "a:b"}, 2, "group"},
	} {
		code, _, errOut := add(tc.in, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.err) {
			t.Errorf("%v: %d %q, want %d %q", tc.args, code, errOut, tc.code, tc.err)
		}
	}
}
