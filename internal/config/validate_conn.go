package config

import "fmt"

// entrypointLimits checks an entrypoint's connection limits.
func (v *validator) entrypointLimits(p string, ep *Entrypoint) {
	v.nonNegative(p+".maxConnections", ep.MaxConnections)
	v.nonNegative(p+".maxConnectionsPerIP", ep.MaxConnectionsPerIP)
	if ep.MaxConnections > 0 && ep.MaxConnectionsPerIP > ep.MaxConnections {
		v.add(p+".maxConnectionsPerIP", "maxConnectionsPerIP (%d) is above maxConnections (%d): it would never apply", ep.MaxConnectionsPerIP, ep.MaxConnections)
	}
}

// connLimits checks a load balancer's per-server limits and its queue.
func (v *validator) connLimits(p string, lb *LoadBalancer) {
	v.nonNegative(p+".maxConnsPerServer", lb.MaxConnsPerServer)
	limited := lb.MaxConnsPerServer > 0
	for i, s := range lb.Servers {
		v.nonNegative(fmt.Sprintf("%s.servers[%d].maxConns", p, i), s.MaxConns)
		limited = limited || s.MaxConns > 0
	}
	q := lb.Queue
	if q == nil {
		return
	}
	if !limited {
		v.add(p+".queue", "a queue needs a limit to wait for: set maxConnsPerServer (or servers[].maxConns)")
	}
	if q.MaxSize < 0 {
		v.add(p+".queue.maxSize", "maxSize must be 1 or more, got %d", q.MaxSize)
	}
}
