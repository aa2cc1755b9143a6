package config

import (
	"fmt"

	"github.com/usher-lb/usher/internal/ipset"
)

// ipList checks an ipAllowList or ipDenyList: at least one range, each a
// CIDR or an IP, and an ipStrategy that picks one way.
func (v *validator) ipList(p string, s *IPAllowList) {
	if len(s.SourceRange) == 0 {
		v.add(p+".sourceRange", "at least one CIDR or IP address is required (like 10.0.0.0/8)")
	}
	for i, r := range s.SourceRange {
		if _, err := ipset.ParseRange(r); err != nil {
			v.add(fmt.Sprintf("%s.sourceRange[%d]", p, i), "%v", err)
		}
	}
	st := s.IPStrategy
	if st == nil {
		return
	}
	if st.Depth < 0 {
		v.add(p+".ipStrategy.depth", "%d is not a depth: 1 is the rightmost address of X-Forwarded-For", st.Depth)
	}
	if st.Depth != 0 && len(st.ExcludedIPs) > 0 {
		v.add(p+".ipStrategy", "depth and excludedIPs are two ways of picking the client from X-Forwarded-For: set one")
	}
	if (st.Depth > 0 || len(st.ExcludedIPs) > 0) && len(v.c.Entrypoints) > 0 && !anyTrustedProxies(v.c) {
		v.add(p+".ipStrategy", "it reads X-Forwarded-For, which usher keeps only from an entrypoint's trustedProxies, and no entrypoint has any: every request would be refused; list your proxies in trustedProxies (and then usher's client IP, without ipStrategy, is likely what you want)")
	}
	for i, r := range st.ExcludedIPs {
		if _, err := ipset.ParseRange(r); err != nil {
			v.add(fmt.Sprintf("%s.ipStrategy.excludedIPs[%d]", p, i), "%v", err)
		}
	}
}

func anyTrustedProxies(c *Config) bool {
	for _, ep := range c.Entrypoints {
		if ep != nil && len(ep.TrustedProxies) > 0 {
			return true
		}
	}
	return false
}
