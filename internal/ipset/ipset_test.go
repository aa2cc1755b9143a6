package ipset

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"10.0.0.0/8", "10.0.0.0/8", ""},
		{"10.1.2.3/8", "10.0.0.0/8", ""},
		{" 192.0.2.7 ", "192.0.2.7/32", ""},
		{"::1", "::1/128", ""},
		{"2001:DB8::/32", "2001:db8::/32", ""},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8", ""},
		{"::ffff:192.0.2.7", "192.0.2.7/32", ""},
		{"0.0.0.0/0", "0.0.0.0/0", ""},
		{"::/0", "::/0", ""},
		{"::ffff:0.0.0.0/90", "", "shorter than /96"},
		{"10.0.0.0/33", "", "is not a CIDR"},
		{"10.0.0/8", "", "is not a CIDR"},
		{"fe80::1%eth0", "", "neither a CIDR"},
		{"example.com", "", "neither a CIDR"},
		{"", "", "neither a CIDR"},
		{"1.2.3.4.5", "", "neither a CIDR"},
	} {
		p, err := ParseRange(c.in)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %v, %v; want an error with %q", c.in, p, err, c.err)
			}
		case err != nil || p.String() != c.want:
			t.Errorf("%q: %v, %v; want %s", c.in, p, err, c.want)
		}
	}
}

func TestContains(t *testing.T) {
	s, err := Parse([]string{"10.0.0.0/8", "192.0.2.7", "192.0.2.8/31", "2001:db8::/32", "::1", "203.0.113.0/24", "203.0.113.128/25"})
	if err != nil {
		t.Fatal(err)
	}
	// 192.0.2.7 and 192.0.2.8/31 touch; the /25 is inside the /24.
	if s.Len() != 5 {
		t.Errorf("%d ranges, want 5 after merging", s.Len())
	}
	for _, c := range []struct {
		ip   string
		want bool
	}{
		{"10.0.0.0", true}, {"10.255.255.255", true}, {"9.255.255.255", false}, {"11.0.0.0", false},
		{"192.0.2.6", false}, {"192.0.2.7", true}, {"192.0.2.8", true}, {"192.0.2.9", true}, {"192.0.2.10", false},
		{"203.0.113.200", true}, {"203.0.114.0", false},
		{"::ffff:10.1.1.1", true}, {"::ffff:11.1.1.1", false},
		{"2001:db8::1", true}, {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true}, {"2001:db9::", false},
		{"::1", true}, {"::2", false}, {"::", false},
		{"fe80::1%eth0", false},
		// An IPv4 address is not the IPv6 address with the same bits.
		{"::a00:1", false},
	} {
		if got := s.Contains(netip.MustParseAddr(c.ip)); got != c.want {
			t.Errorf("%s: %v, want %v", c.ip, got, c.want)
		}
	}
	if s.Contains(netip.Addr{}) {
		t.Error("the invalid address is in the set")
	}
	var nilSet *Set
	if nilSet.Contains(netip.MustParseAddr("10.0.0.1")) {
		t.Error("a nil set holds an address")
	}
	if _, err := Parse([]string{"10.0.0.0/8", "nope"}); err == nil || !strings.HasPrefix(err.Error(), `[1]: "nope"`) {
		t.Errorf("bad entry: %v", err)
	}
}

func TestWholeSpaces(t *testing.T) {
	s, _ := Parse([]string{"0.0.0.0/0", "::/0", "128.0.0.0/1"})
	for _, ip := range []string{"0.0.0.0", "255.255.255.255", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::ffff:1.2.3.4"} {
		if !s.Contains(netip.MustParseAddr(ip)) {
			t.Errorf("%s not in the whole space", ip)
		}
	}
	if s.Len() != 2 {
		t.Errorf("%d ranges, want 2", s.Len())
	}
}

// TestAgainstLinearScan compares the binary search with the obvious loop
// over random lists.
func TestAgainstLinearScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 50; round++ {
		var ps []netip.Prefix
		for i := 0; i < 1+r.IntN(40); i++ {
			if r.IntN(2) == 0 {
				a := netip.AddrFrom4([4]byte{byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
				ps = append(ps, netip.PrefixFrom(a, 6+r.IntN(27)).Masked())
			} else {
				var b [16]byte
				b[0], b[1], b[2] = 0x20, byte(r.IntN(4)), byte(r.IntN(256))
				ps = append(ps, netip.PrefixFrom(netip.AddrFrom16(b), 14+r.IntN(40)).Masked())
			}
		}
		s := FromPrefixes(ps)
		for i := 0; i < 2000; i++ {
			var a netip.Addr
			if r.IntN(2) == 0 {
				a = netip.AddrFrom4([4]byte{byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
			} else {
				var b [16]byte
				b[0], b[1], b[2], b[3] = 0x20, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))
				a = netip.AddrFrom16(b)
			}
			want := false
			for _, p := range ps {
				want = want || p.Contains(a)
			}
			if got := s.Contains(a); got != want {
				t.Fatalf("round %d: %s in %v: %v, want %v", round, a, ps, got, want)
			}
		}
	}
}

func BenchmarkContains(b *testing.B) {
	var list []string
	for i := 0; i < 5000; i++ {
		list = append(list, fmt.Sprintf("%d.%d.%d.0/24", 1+i/65536, i/256%256, i%256))
	}
	s, _ := Parse(list)
	a := netip.MustParseAddr("1.10.200.7")
	b.ReportAllocs()
	for b.Loop() {
		s.Contains(a)
	}
}
