package config

// IPAllowList lets through only requests whose client IP is in sourceRange;
// the others get 403 and never reach the server.
type IPAllowList struct {
	SourceRange []string    `json:"sourceRange" doc:"CIDRs (10.0.0.0/8, 2001:db8::/32) or single IPs (192.0.2.7, ::1); at least one"`
	IPStrategy  *IPStrategy `json:"ipStrategy,omitempty" doc:"take the client IP from X-Forwarded-For instead of usher's client IP (which honours the entrypoint's trustedProxies)"`
}

// IPDenyList refuses (403) requests whose client IP is in sourceRange and
// lets the others through. It has IPAllowList's keys.
type IPDenyList IPAllowList

// IPStrategy picks the client IP out of X-Forwarded-For as it reached usher
// (kept only from the entrypoint's trustedProxies; usher's own entry, the
// peer, is not counted), as Traefik's ipStrategy does.
type IPStrategy struct {
	Depth       int      `json:"depth,omitempty" doc:"the Nth address from the right of X-Forwarded-For (1 = rightmost); fewer addresses than that: refused; 0 = not used"`
	ExcludedIPs []string `json:"excludedIPs,omitempty" doc:"CIDRs or IPs of proxies to skip: the client is the rightmost address of X-Forwarded-For not in them; not with depth"`
}
