package runtime

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

var (
	protoHTTP  = []string{"http"}
	protoHTTPS = []string{"https"}
)

// trust is the set of proxies whose forwarded headers are believed.
type trust []netip.Prefix

func (t trust) has(ip netip.Addr) bool {
	for _, p := range t {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Peer is the connection's peer as the entrypoint sees it.
type Peer struct {
	ip      netip.Addr // invalid when RemoteAddr is not an IP
	str     string     // the IP as in RemoteAddr
	trusted bool       // in trustedProxies: its forwarded headers are believed
}

// peerOf returns r's peer and whether it is trusted.
func (t trust) peerOf(r *http.Request) Peer {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	p := Peer{str: host}
	if ip, err := netip.ParseAddr(host); err == nil {
		p.ip = ip.Unmap()
		p.trusted = len(t) > 0 && t.has(p.ip)
	}
	return p
}

// setForwarded sets the X-Forwarded-* and X-Real-IP headers, as the servers
// behind usher and its middlewares see them, and returns the client's IP.
// From a trusted proxy, the values it sent are kept (and X-Forwarded-For
// appended to) and the client is the rightmost untrusted address of
// X-Forwarded-For; from anyone else, they are replaced. X-Forwarded-Port is
// port, the entrypoint's: the port the client connected to, whatever its Host
// says. (The fields that only a proxy may assert, Forwarded among them, are
// removed from untrusted peers beforehand: see proxyAsserted.)
func (t trust) setForwarded(r *http.Request, p Peer, port []string) netip.Addr {
	h := r.Header
	client := p.ip
	// One backing array for the values set here: one allocation, not three.
	// Each value gets a slice of capacity one, so that an Add copies.
	vals := make([]string, 3)
	if xff := h["X-Forwarded-For"]; p.trusted && len(xff) > 0 {
		joined := strings.Join(xff, ", ")
		client = rightmostUntrusted(joined, t, p.ip)
		vals[0] = joined + ", " + p.str
	} else {
		vals[0] = p.str
	}
	h["X-Forwarded-For"] = vals[0:1:1]
	if _, ok := h["X-Forwarded-Proto"]; !ok || !p.trusted {
		if r.TLS != nil {
			h["X-Forwarded-Proto"] = protoHTTPS
		} else {
			h["X-Forwarded-Proto"] = protoHTTP
		}
	}
	if _, ok := h["X-Forwarded-Host"]; !ok || !p.trusted {
		vals[1] = r.Host
		h["X-Forwarded-Host"] = vals[1:2:2]
	}
	if _, ok := h["X-Forwarded-Port"]; !ok || !p.trusted {
		h["X-Forwarded-Port"] = port
	}
	if _, ok := h["X-Real-Ip"]; !ok || !p.trusted {
		vals[2] = p.str
		if client != p.ip {
			vals[2] = client.String()
		}
		h["X-Real-Ip"] = vals[2:3:3]
	}
	return client
}

// rightmostUntrusted walks X-Forwarded-For from the right, past trusted
// proxies, to the first address that is not one: the real client.
func rightmostUntrusted(xff string, t trust, peer netip.Addr) netip.Addr {
	client := peer
	for xff != "" {
		i := strings.LastIndexByte(xff, ',')
		part := strings.TrimSpace(xff[i+1:])
		ip, err := netip.ParseAddr(part)
		if err != nil {
			return client
		}
		client = ip.Unmap()
		if !t.has(client) {
			return client
		}
		if i < 0 {
			break
		}
		xff = xff[:i]
	}
	return client
}

// parseTrust reads CIDRs or single IPs.
func parseTrust(list []string) (trust, error) {
	var t trust
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			t = append(t, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		t = append(t, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
	}
	return t, nil
}

// hostOnly returns the lowercase host of a Host header, without port.
func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}
