// Package ipset is a set of IP ranges, IPv4 and IPv6, read from CIDRs and
// single addresses, that answers membership with a binary search: lists of
// thousands of ranges (a country's, a cloud's) cost a few comparisons per
// request, not one per range.
package ipset

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// ParseRange reads one CIDR ("10.0.0.0/8", "2001:db8::/32") or one address
// ("192.0.2.7", "::1"; a zone is refused). Host bits set in a CIDR are
// cleared (10.1.2.3/8 is 10.0.0.0/8, as Traefik reads it). An IPv4-mapped
// IPv6 address or range (::ffff:10.0.0.0/104) is its IPv4 one: clients are
// compared unmapped.
func ParseRange(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (like 10.0.0.0/8 or 2001:db8::/32)", s)
		}
		a := p.Addr()
		if a.Is4In6() {
			if p.Bits() < 96 {
				return netip.Prefix{}, fmt.Errorf("%q is an IPv4-mapped range shorter than /96: it spans IPv6 addresses that are not IPv4 ones", s)
			}
			return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked(), nil
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is neither a CIDR (like 10.0.0.0/8) nor an IP address", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Set is an immutable set of addresses, safe for concurrent use. The zero
// Set is empty.
type Set struct {
	// Disjoint, non-adjacent ranges in ascending order (IPv4 before IPv6, as
	// netip.Addr.Compare orders them).
	lo, hi []netip.Addr
}

// Parse reads a list of ranges (see ParseRange); the error names the first
// bad one by its index.
func Parse(list []string) (*Set, error) {
	ps := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		p, err := ParseRange(s)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		ps = append(ps, p)
	}
	return FromPrefixes(ps), nil
}

// FromPrefixes returns the set of the addresses in ps.
func FromPrefixes(ps []netip.Prefix) *Set {
	type rng struct{ lo, hi netip.Addr }
	rs := make([]rng, 0, len(ps))
	for _, p := range ps {
		p = p.Masked()
		rs = append(rs, rng{p.Addr(), last(p)})
	}
	slices.SortFunc(rs, func(a, b rng) int { return a.lo.Compare(b.lo) })
	s := &Set{}
	for _, r := range rs {
		if n := len(s.hi); n > 0 && s.hi[n-1].Is4() == r.lo.Is4() {
			// Merge ranges that overlap or touch: hi+1 >= lo.
			if next := s.hi[n-1].Next(); !next.IsValid() || next.Compare(r.lo) >= 0 {
				if r.hi.Compare(s.hi[n-1]) > 0 {
					s.hi[n-1] = r.hi
				}
				continue
			}
		}
		s.lo = append(s.lo, r.lo)
		s.hi = append(s.hi, r.hi)
	}
	return s
}

// last returns the highest address of p (masked).
func last(p netip.Prefix) netip.Addr {
	a := p.Addr()
	if a.Is4() {
		b := a.As4()
		setHostBits(b[:], p.Bits())
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	setHostBits(b[:], p.Bits())
	return netip.AddrFrom16(b)
}

func setHostBits(b []byte, bits int) {
	for i := range b {
		switch {
		case bits >= 8:
			bits -= 8
		case bits > 0:
			b[i] |= 0xff >> bits
			bits = 0
		default:
			b[i] = 0xff
		}
	}
}

// Contains tells whether a is in the set; an IPv4-mapped IPv6 address is
// looked up as its IPv4 one, a zone is ignored, the invalid Addr is in no
// set.
func (s *Set) Contains(a netip.Addr) bool {
	if s == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	// The first range whose hi >= a holds a when its lo <= a.
	i, _ := slices.BinarySearchFunc(s.hi, a, func(hi, a netip.Addr) int { return hi.Compare(a) })
	return i < len(s.hi) && s.lo[i].Compare(a) <= 0
}

// Len is the number of disjoint ranges the set holds.
func (s *Set) Len() int { return len(s.lo) }
