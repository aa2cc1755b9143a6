// Package ipfilter implements ipAllowList and ipDenyList: requests are let
// through or refused (403) by their client IP.
package ipfilter

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/ipset"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/observe"
)

type filter struct {
	next     http.Handler
	set      *ipset.Set
	allow    bool // an allow list: in the set passes; a deny list: in the set is refused
	depth    int
	excluded *ipset.Set // nil: no excludedIPs
	fromXFF  bool       // ipStrategy picks from X-Forwarded-For
	dec      *env.Decisions
}

// NewAllow returns an ipAllowList: a request passes when its client IP is in
// cfg.SourceRange; any other gets 403, as does a request whose client IP
// cannot be known (ipStrategy's depth past the addresses there are).
func NewAllow(ctx context.Context, next http.Handler, cfg *config.IPAllowList, name string) (http.Handler, error) {
	return build(ctx, next, cfg, name, "ipAllowList", true)
}

// NewDeny returns an ipDenyList: a request whose client IP is in
// cfg.SourceRange gets 403, and so does one whose client IP cannot be known
// (failing closed: a list of attackers is no use if hiding the address gets
// past it); any other passes.
func NewDeny(ctx context.Context, next http.Handler, cfg *config.IPDenyList, name string) (http.Handler, error) {
	return build(ctx, next, (*config.IPAllowList)(cfg), name, "ipDenyList", false)
}

func build(ctx context.Context, next http.Handler, cfg *config.IPAllowList, name, kind string, allow bool) (http.Handler, error) {
	if len(cfg.SourceRange) == 0 {
		return nil, fmt.Errorf("%s: sourceRange: at least one CIDR or IP address is required", kind)
	}
	set, err := ipset.Parse(cfg.SourceRange)
	if err != nil {
		return nil, fmt.Errorf("%s: sourceRange%w", kind, err)
	}
	f := &filter{next: next, set: set, allow: allow, dec: env.From(ctx).Decisions(kind, name)}
	if st := cfg.IPStrategy; st != nil {
		switch {
		case st.Depth < 0:
			return nil, fmt.Errorf("%s: ipStrategy.depth %d is negative", kind, st.Depth)
		case st.Depth > 0 && len(st.ExcludedIPs) > 0:
			return nil, fmt.Errorf("%s: ipStrategy: depth and excludedIPs exclude each other", kind)
		case st.Depth > 0:
			f.depth, f.fromXFF = st.Depth, true
		case len(st.ExcludedIPs) > 0:
			if f.excluded, err = ipset.Parse(st.ExcludedIPs); err != nil {
				return nil, fmt.Errorf("%s: ipStrategy.excludedIPs%w", kind, err)
			}
			f.fromXFF = true
		}
	}
	return f, nil
}

var forbiddenBody = []byte("Forbidden\n")

func (f *filter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ip := f.clientIP(w, r)
	// An unknown client is refused by both kinds of list.
	if ip.IsValid() && f.set.Contains(ip) == f.allow {
		f.dec.Allow()
		f.next.ServeHTTP(w, r)
		return
	}
	f.dec.Deny()
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(http.StatusForbidden)
	w.Write(forbiddenBody)
}

// clientIP is the client's address as the filter judges it; the invalid
// Addr when it cannot be known.
func (f *filter) clientIP(w http.ResponseWriter, r *http.Request) netip.Addr {
	if !f.fromXFF {
		// The entrypoint's client IP: the peer, or the address its trusted
		// proxies name. Without an entrypoint (a handler called in code),
		// the peer.
		if rec := observe.From(w); rec != nil {
			return rec.ClientIP
		}
		return peer(r)
	}
	xff := received(r)
	if f.depth > 0 {
		return nthFromRight(xff, f.depth)
	}
	return rightmostNotIn(xff, f.excluded)
}

// peer returns the IP of r.RemoteAddr.
func peer(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, _ := netip.ParseAddr(host)
	return ip.Unmap()
}

// received returns X-Forwarded-For as it reached usher: the entrypoint keeps
// it only from trusted proxies, and appends the peer, which is taken off
// here so that depth 1 is the address the last proxy saw, as in Traefik.
func received(r *http.Request) string {
	xff := strings.Join(r.Header.Values("X-Forwarded-For"), ",")
	i := strings.LastIndexByte(xff, ',')
	last := strings.TrimSpace(xff[i+1:])
	if p := peer(r); p.IsValid() {
		if ip, err := netip.ParseAddr(last); err == nil && ip.Unmap() == p {
			if i < 0 {
				return ""
			}
			return xff[:i]
		}
	}
	return xff
}

// nthFromRight returns the n-th address of xff from the right (1: the
// rightmost), the invalid Addr when there are fewer or it is not an address.
func nthFromRight(xff string, n int) netip.Addr {
	for xff != "" {
		i := strings.LastIndexByte(xff, ',')
		if n--; n == 0 {
			return parse(xff[i+1:])
		}
		if i < 0 {
			break
		}
		xff = xff[:i]
	}
	return netip.Addr{}
}

// rightmostNotIn returns the rightmost address of xff not in excluded; the
// invalid Addr when all are, or when an element that is not an address comes
// first (what is left of it cannot be trusted to be anything).
func rightmostNotIn(xff string, excluded *ipset.Set) netip.Addr {
	for xff != "" {
		i := strings.LastIndexByte(xff, ',')
		ip := parse(xff[i+1:])
		if !ip.IsValid() || !excluded.Contains(ip) {
			return ip
		}
		if i < 0 {
			break
		}
		xff = xff[:i]
	}
	return netip.Addr{}
}

// parse reads one element of X-Forwarded-For: an address, IPv6 possibly in
// brackets, possibly with a port (some proxies write them).
func parse(s string) netip.Addr {
	s = strings.TrimSpace(s)
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip.Unmap().WithZone("")
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if ip, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return ip.Unmap().WithZone("")
		}
	}
	return netip.Addr{}
}
