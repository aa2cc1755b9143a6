package bucketkey

import (
	"math"
	"net/netip"
	"strconv"
	"testing"
)

// The hash is part of what users see: a change would move every user to
// another bucket on upgrade. These values are fixed.
func TestHashIsFixed(t *testing.T) {
	for _, tt := range []struct {
		key  string
		want uint64
	}{
		{"alice", 5803779529149266183},
		{"bob", 21748447695211092},
		{"user-1", 17891572797655370708},
	} {
		if got := Hash(tt.key); got != tt.want {
			t.Errorf("Hash(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
	if got := Point(Hash("alice")); math.Abs(got-77.27254287806008) > 1e-9 {
		t.Errorf("Point(alice) = %v", got)
	}
}

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		spec string
		want Source
		err  string
	}{
		{spec: "cookie:uid", want: Source{Cookie, "uid"}},
		{spec: "header:x-user", want: Source{Header, "X-User"}},
		{spec: "claim:sub", want: Source{Claim, "sub"}},
		{spec: "claim:https://example.com/tenant", want: Source{Claim, "https://example.com/tenant"}},
		{spec: "clientIP", want: Source{Kind: ClientIP}},
		{spec: "cookie:", err: `unknown key "cookie:": cookie:NAME, header:NAME, claim:NAME or clientIP`},
		{spec: "cookie:a b", err: `"a b" is not a valid cookie name`},
		{spec: "header:X(", err: `"X(" is not a valid header name`},
		{spec: "clientip", err: `unknown key "clientip": cookie:NAME, header:NAME, claim:NAME or clientIP`},
		{spec: "query:u", err: `unknown key "query:u": cookie:NAME, header:NAME, claim:NAME or clientIP`},
	} {
		got, err := Parse(tt.spec)
		switch {
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("Parse(%q) error %v, want %s", tt.spec, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.spec, got, err, tt.want)
		case tt.err == "" && got.String() != tt.spec && tt.spec != "header:x-user":
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), tt.spec)
		}
	}
}

func TestCookieValue(t *testing.T) {
	for _, tt := range []struct {
		lines []string
		v     string
		ok    bool
	}{
		{[]string{"a=1; uid=u7; z=2"}, "u7", true},
		{[]string{"a=1", "uid=\"q\""}, "q", true},
		{[]string{"uid=; uid=second"}, "second", true},
		{[]string{"xuid=1; uidx=2"}, "", false},
		{nil, "", false},
	} {
		v, ok := CookieValue(tt.lines, "uid")
		if v != tt.v || ok != tt.ok {
			t.Errorf("CookieValue(%q) = %q %v, want %q %v", tt.lines, v, ok, tt.v, tt.ok)
		}
	}
}

func TestPointIsUniform(t *testing.T) {
	const n = 100000
	var deciles [10]int
	for i := range n {
		p := Point(Hash("user-" + strconv.Itoa(i)))
		if p < 0 || p >= 100 {
			t.Fatalf("point %v out of [0, 100)", p)
		}
		deciles[int(p/10)]++
	}
	for i, c := range deciles {
		if math.Abs(float64(c)/n-0.1) > 0.005 {
			t.Errorf("decile %d holds %.4f of the keys", i, float64(c)/n)
		}
	}
}

func TestHashIPIsHashAddr(t *testing.T) {
	for _, s := range []string{"10.0.0.1", "::1", "2001:db8::7", "fe80::1%eth0"} {
		ip := netip.MustParseAddr(s)
		if HashIP(ip) != HashAddr(s) {
			t.Errorf("HashIP(%s) != HashAddr", s)
		}
	}
	if HashIP(netip.MustParseAddr("::ffff:10.0.0.1")) != HashAddr("10.0.0.1") {
		t.Error("an IPv4-mapped address hashes apart from its IPv4")
	}
	ip := netip.MustParseAddr("2001:db8::7")
	if a := testing.AllocsPerRun(100, func() { HashIP(ip) }); a != 0 {
		t.Errorf("HashIP: %v allocs", a)
	}
}
