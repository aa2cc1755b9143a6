package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/usher-lb/usher/internal/passwd"
)

func TestHashPassword(t *testing.T) {
	defer func(r interface{ Read([]byte) (int, error) }) { stdin = r }(stdin)
	for _, tc := range []struct {
		args   []string
		in     string
		prefix string
		code   int
		err    string
	}{
		{nil, "correct horse\n", "$argon2id$v=19$m=65536,t=3,p=2$", 0, ""},
		{nil, "no newline", "$argon2id$", 0, ""},
		{nil, "crlf\r\n", "$argon2id$", 0, ""},
		{[]string{"--bcrypt", "--cost", "4"}, "correct horse\n", "$2y$04$", 0, ""},
		{nil, "", "", 1, "no password on standard input"},
		{nil, "\n", "", 1, "the password is empty"},
		{[]string{"s3cret"}, "", "", 2, "never from the command line"},
		{[]string{"--bcrypt", "--cost", "40"}, "x\n", "", 1, "bcrypt cost 40"},
	} {
		stdin = strings.NewReader(tc.in)
		var out, errOut bytes.Buffer
		code := runMain(append([]string{"hash-password"}, tc.args...), &out, &errOut)
		if code != tc.code || !strings.Contains(errOut.String(), tc.err) {
			t.Errorf("%v %q: code %d stderr %q, want %d and %q", tc.args, tc.in, code, errOut.String(), tc.code, tc.err)
			continue
		}
		if tc.code != 0 {
			continue
		}
		h := strings.TrimSuffix(out.String(), "\n")
		if !strings.HasPrefix(h, tc.prefix) || strings.Contains(h, "\n") {
			t.Errorf("%v: printed %q, want one line starting %s", tc.args, out.String(), tc.prefix)
		}
		pw := strings.TrimRight(tc.in, "\r\n")
		u, err := passwd.Parse([]string{"a:" + h})
		if err != nil || !u.Verify("a", pw) || u.Verify("a", pw+"\n") {
			t.Errorf("%v: the hash printed does not verify %q: %v", tc.args, pw, err)
		}
	}
}
