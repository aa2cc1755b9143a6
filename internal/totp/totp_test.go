package totp

import (
	"strings"
	"testing"
	"time"
)

// RFC 6238 appendix B, SHA-1 rows: the secret is the ASCII of
// "12345678901234567890", codes of 8 digits; the 6-digit codes apps show
// are their last six.
func TestRFC6238Vectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, tc := range []struct {
		unix int64
		code string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		at := time.Unix(tc.unix, 0)
		if got := hotp(secret, uint64(Step(at)), 8); got != tc.code {
			t.Errorf("T=%d: 8 digits %s, want %s", tc.unix, got, tc.code)
		}
		if got := CodeAt(secret, at); got != tc.code[2:] {
			t.Errorf("T=%d: %s, want %s", tc.unix, got, tc.code[2:])
		}
		if s, ok := Match(secret, tc.code[2:], at, 1); !ok || s != Step(at) {
			t.Errorf("T=%d: Match = %d, %v", tc.unix, s, ok)
		}
	}
}

// RFC 4226 appendix D: HOTP values of counters 0 to 9.
func TestRFC4226Vectors(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for i, w := range want {
		if got := Code([]byte("12345678901234567890"), int64(i)); got != w {
			t.Errorf("counter %d: %s, want %s", i, got, w)
		}
	}
}

func TestMatchSkew(t *testing.T) {
	secret := NewSecret()
	now := time.Unix(1_700_000_015, 0)
	step := Step(now)
	for _, tc := range []struct {
		name string
		code string
		ok   bool
		step int64
	}{
		{"now", Code(secret, step), true, step},
		{"one step late", Code(secret, step-1), true, step - 1},
		{"one step early", Code(secret, step+1), true, step + 1},
		{"two steps late", Code(secret, step-2), false, 0},
		{"two steps early", Code(secret, step+2), false, 0},
		{"spaces around", " " + Code(secret, step) + "\n", true, step},
		{"too short", Code(secret, step)[:5], false, 0},
		{"too long", Code(secret, step) + "0", false, 0},
		{"empty", "", false, 0},
		{"letters", "abcdef", false, 0},
	} {
		s, ok := Match(secret, tc.code, now, 1)
		if ok != tc.ok || s != tc.step {
			t.Errorf("%s: Match = %d, %v; want %d, %v", tc.name, s, ok, tc.step, tc.ok)
		}
	}
	if _, ok := Match(secret, Code(secret, step-1), now, 0); ok {
		t.Error("skew 0 takes the step before")
	}
	// A step is 30 s: the code stays the same within it.
	if CodeAt(secret, time.Unix(1_700_000_010, 0)) != CodeAt(secret, time.Unix(1_700_000_039, 0)) {
		t.Error("codes differ within one 30 s step")
	}
}

func TestSecrets(t *testing.T) {
	s := NewSecret()
	enc := Encode(s)
	if len(enc) != 32 || strings.Contains(enc, "=") {
		t.Fatalf("Encode = %q, want 32 characters without padding", enc)
	}
	for _, in := range []string{enc, strings.ToLower(enc), enc[:4] + " " + enc[4:], enc + "===="} {
		b, err := Decode(in)
		if err != nil || string(b) != string(s) {
			t.Errorf("Decode(%q) = %x, %v", in, b, err)
		}
	}
	for _, bad := range []string{"", "JBSWY3DP", "not base32!", "11111111111111111"} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(%q) takes it", bad)
		}
	}
	if _, err := Decode("JBSWY3DPEHPK3PXP"); err != nil {
		t.Errorf("an 80-bit secret is refused: %v", err)
	}
}

func TestURI(t *testing.T) {
	got := URI("usher shop", "alice@example.com", []byte("12345678901234567890"))
	want := "otpauth://totp/usher%20shop:alice@example.com?algorithm=SHA1&digits=6&issuer=usher+shop&period=30&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	if got != want {
		t.Errorf("URI =\n%s\nwant\n%s", got, want)
	}
}
