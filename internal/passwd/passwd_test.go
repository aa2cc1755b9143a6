package passwd

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Vectors: SHA-crypt's from its specification (Drepper), MD5-crypt's and the
// rest made with `openssl passwd`, an independent implementation.
var vectors = []struct{ hash, password string }{
	{"$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5", "Hello world!"},
	{"$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA", "Hello world!"},
	{"$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5", "This is just a test"},
	{"$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC", "the minimum number is still observed"},
	{"$5$rounds=10$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC", "the minimum number is still observed"},
	{"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", "Hello world!"},
	{"$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.", "Hello world!"},
	{"$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1", "a very much longer text to encrypt.  This one even stretches over morethan one line."},
	{"$6$x$cxEgyqB.KeRYfmIkJQa6O5249R7HoqH9Uv1VfCJOvAFMoOJm.Xf5MeI2aff.ZmVKiab/Yc/vyti9FATLHOHbG/", "a very much longer text to encrypt.  This one even stretches over morethan one line, and then over several more lines than that one, past one hundred and twenty eight bytes."},
	{"$apr1$r31.....$ARC3pREO82RIm0aQ2zszC0", "password"},
	{"$apr1$abc$BfqKdn9xFDWJPa3kcp/PH0", ""},
	{"$1$saltsalt$9xy1btjgzLYfb7hivXtC//", "secret"},
	{"$apr1$juxHYrJO$zca4SSyDOBVLuP0zDLuel0", "pass:word"}, // htpasswd -m
	// bcrypt from OpenBSD's test vectors and htpasswd -B; argon2id from the
	// reference implementation's CLI (echo -n password | argon2 somesalt -id -t 2 -m 16 -p 4).
	{"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"},
	{"$2y$05$WkuY6lIS9mK/aK/LJk6IZeTbcFJP0aMnNbcaa8HpN4fdrVH13SG9i", "ab"},
	{"$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo", "password"},
}

func TestVectors(t *testing.T) {
	for _, v := range vectors {
		u, err := Parse([]string{"alice:" + v.hash})
		if err != nil {
			t.Errorf("%s: %v", v.hash, err)
			continue
		}
		if !u.Verify("alice", v.password) {
			t.Errorf("%s: the right password %q is refused", v.hash, v.password)
		}
		for _, wrong := range []string{v.password + "x", strings.ToUpper(v.password)} {
			if wrong != v.password && u.Verify("alice", wrong) {
				t.Errorf("%s: a wrong password %q is taken", v.hash, wrong)
			}
		}
		if u.Verify("bob", v.password) {
			t.Errorf("%s: an unknown user is taken with alice's password", v.hash)
		}
		legacy := !strings.HasPrefix(v.hash, "$2") && !strings.HasPrefix(v.hash, "$argon2id$")
		if got := len(u.Legacy()) == 1; got != legacy {
			t.Errorf("%s: legacy %v, want %v", v.hash, got, legacy)
		}
	}
}

func TestHashRoundTrip(t *testing.T) {
	for i, pw := range []string{"correct horse battery staple", "", "pässwörd ✓", strings.Repeat("x", 200)} {
		var lines []string
		// argon2id at its real parameters is slow under the race detector:
		// two passwords of the four are enough for it.
		if i >= 2 {
			a, err := Hash(pw)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(a, "$argon2id$v=19$m=65536,t=3,p=2$") {
				t.Errorf("argon2id hash %q", a)
			}
			lines = append(lines, "a:"+a)
		}
		if len(pw) <= 72 {
			b, err := HashBcrypt(pw, 4)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(b, "$2y$04$") {
				t.Errorf("bcrypt hash %q", b)
			}
			lines = append(lines, "b:"+b)
		} else if _, err := HashBcrypt(pw, 4); err == nil {
			t.Error("bcrypt of a password over 72 bytes: want an error, bcrypt would ignore the rest")
		}
		u, err := Parse(lines)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range u.Names() {
			if !u.Verify(name, pw) || u.Verify(name, pw+"!") {
				t.Errorf("%s: round trip of %q failed", name, pw)
			}
		}
	}
	if a, _ := Hash("x"); a == must(Hash("x")) {
		t.Error("two hashes of one password are equal: no salt")
	}
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		lines []string
		line  int
		want  string
	}{
		{[]string{"# comment", "", "alice"}, 3, "want user:hash"},
		{[]string{":$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e"}, 1, "the user name is empty"},
		{[]string{"alice:$apr1$abc$BfqKdn9xFDWJPa3kcp/PH0", "alice:$apr1$abc$BfqKdn9xFDWJPa3kcp/PH0"}, 2, `user "alice" is listed twice`},
		{[]string{"alice:secret"}, 1, "plain text and DES crypt are refused"},
		{[]string{"alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="}, 1, "{SHA} hashes are unsalted"},
		{[]string{"alice:"}, 1, "the hash is empty"},
		{[]string{"alice:$argon2i$v=19$m=16,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GDPPc"}, 1, "argon2i and argon2d"},
		{[]string{"alice:$argon2id$v=16$m=65536,t=2,p=4$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GDPPc"}, 1, "want $argon2id$v=19$"},
		{[]string{"alice:$argon2id$v=19$m=65536,t=2$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GDPPc"}, 1, "m, t and p are all required"},
		{[]string{"alice:$argon2id$v=19$m=99999999,t=2,p=4$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GDPPc"}, 1, "over usher's limit of 1 GiB"},
		{[]string{"alice:$argon2id$v=19$m=65536,t=2,p=0$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GDPPc"}, 1, "t and p must be 1 or more"},
		{[]string{"alice:$argon2id$v=19$m=65536,t=2,p=4$c2$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GDPPc"}, 1, "the salt is not base64"},
		{[]string{"alice:$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$!!"}, 1, "the hash is not base64"},
		{[]string{"alice:$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19Ruk"}, 1, "not a bcrypt hash"},
		{[]string{"alice:$2y$31$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e"}, 1, "cost 31 is over"},
		{[]string{"alice:$5$rounds=x$salt$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"}, 1, "rounds= is not a number"},
		{[]string{"alice:$5$rounds=999999999$salt$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"}, 1, "over usher's limit"},
		{[]string{"alice:$6$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"}, 1, "86 ($6$)"},
		{[]string{"alice:$apr1$toolongsalt$ARC3pREO82RIm0aQ2zszC0"}, 1, "up to 8 characters"},
		{[]string{"alice:$y$j9T$salt$hash"}, 1, "unknown hash kind"},
	} {
		_, err := Parse(tc.lines)
		var le *LineError
		if !errors.As(err, &le) || le.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want line %d: …%s…", tc.lines, err, tc.line, tc.want)
			continue
		}
		for _, l := range tc.lines {
			if _, h, _ := strings.Cut(l, ":"); len(h) > 8 && strings.Contains(err.Error(), h) {
				t.Errorf("%q: the error %q shows the hash", tc.lines, err)
			}
		}
	}
}

func TestParseFileAndMerge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users")
	os.WriteFile(path, []byte("# users\r\nalice:$apr1$r31.....$ARC3pREO82RIm0aQ2zszC0\r\n\r\nbob\n"), 0o600)
	if _, err := ParseFile(path); err == nil || !strings.HasPrefix(err.Error(), path+":4: want user:hash") {
		t.Errorf("error %v, want %s:4: …", err, path)
	}
	os.WriteFile(path, []byte("alice:$apr1$r31.....$ARC3pREO82RIm0aQ2zszC0\r\n"), 0o600)
	f, err := ParseFile(path)
	if err != nil || !f.Verify("alice", "password") {
		t.Fatalf("CRLF file: %v", err)
	}
	inline, _ := Parse([]string{"bob:$2y$05$WkuY6lIS9mK/aK/LJk6IZeTbcFJP0aMnNbcaa8HpN4fdrVH13SG9i"})
	all, err := inline.Merge(f)
	if err != nil || all.Len() != 2 || !all.Verify("alice", "password") || !all.Verify("bob", "ab") {
		t.Errorf("merge: %v", err)
	}
	if _, err := f.Merge(f); err == nil {
		t.Error("merging a user twice: want an error")
	}
	if _, err := ParseFile(filepath.Join(dir, "none")); err == nil {
		t.Error("a missing file: want an error")
	}
	empty, _ := Parse(nil)
	if empty.Verify("alice", "") {
		t.Error("no users: nobody comes in")
	}
}

func TestParseDigest(t *testing.T) {
	md5 := "939e7578ed9e3c518a452acee763bce9"
	sha := "6a1d7d0b4f73ef1eb0e0b4d4a9a8c4c1fcc0e1c0c1c1c1c1c1c1c1c1c1c1c1c1"
	d, err := ParseDigest([]string{"# x", "Mufasa:http-auth@example.org:" + md5, "Mufasa:http-auth@example.org:" + sha, "bob:other:" + md5, "eve:a:b:c:" + md5})
	if err != nil {
		t.Fatal(err)
	}
	m := d.Realm("http-auth@example.org")
	if u := m["Mufasa"]; u == nil || len(u.MD5) != 16 || len(u.SHA256) != 32 || len(m) != 1 {
		t.Errorf("realm users %+v", m)
	}
	if d.Realm("a:b:c")["eve"] == nil || strings.Join(d.Realms(), ",") != "http-auth@example.org,other,a:b:c" {
		t.Errorf("realms %q", d.Realms())
	}
	for _, tc := range []struct {
		lines []string
		want  string
	}{
		{[]string{"alice:" + md5}, "line 1: want user:realm:HA1"},
		{[]string{":r:" + md5}, "line 1: the user name is empty"},
		{[]string{"alice:r:abc"}, "HA1 must be 32 hex digits"},
		{[]string{"alice:r:" + md5, "alice:r:" + md5}, "line 2: user \"alice\" is listed twice"},
	} {
		if _, err := ParseDigest(tc.lines); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %s", tc.lines, err, tc.want)
		}
	}
}
