package runtime

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// forwarded headers set by usher on every request it routes
var forwardedHeaders = []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port", "X-Real-Ip", "Forwarded"}

var (
	protoHTTP  = []string{"http"}
	protoHTTPS = []string{"https"}
	port80     = []string{"80"}
	port443    = []string{"443"}
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

// peerAddr returns the IP of the connection's peer.
func peerAddr(r *http.Request) (netip.Addr, string) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, host
	}
	return ip.Unmap(), host
}

// setForwarded sanitises and sets the X-Forwarded-* and X-Real-IP headers, as
// the servers behind usher and its middlewares see them, and returns the
// client's IP. From a trusted proxy, the values it sent are kept (and
// X-Forwarded-For appended to) and the client is the rightmost untrusted
// address of X-Forwarded-For; from anyone else, they are replaced.
func (t trust) setForwarded(r *http.Request) netip.Addr {
	h := r.Header
	peer, peerStr := peerAddr(r)
	trusted := len(t) > 0 && peer.IsValid() && t.has(peer)
	client := peer
	if !trusted {
		for _, k := range forwardedHeaders {
			delete(h, k)
		}
	}
	// One backing array for the values set here: one allocation, not four.
	// Each value gets a slice of capacity one, so that an Add copies.
	vals := make([]string, 4)
	if xff := h["X-Forwarded-For"]; trusted && len(xff) > 0 {
		joined := strings.Join(xff, ", ")
		client = rightmostUntrusted(joined, t, peer)
		vals[0] = joined + ", " + peerStr
	} else {
		vals[0] = peerStr
	}
	h["X-Forwarded-For"] = vals[0:1:1]
	if _, ok := h["X-Forwarded-Proto"]; !ok {
		if r.TLS != nil {
			h["X-Forwarded-Proto"] = protoHTTPS
		} else {
			h["X-Forwarded-Proto"] = protoHTTP
		}
	}
	if _, ok := h["X-Forwarded-Host"]; !ok {
		vals[1] = r.Host
		h["X-Forwarded-Host"] = vals[1:2:2]
	}
	if _, ok := h["X-Forwarded-Port"]; !ok {
		if port := hostPort(r.Host); port != "" {
			vals[2] = port
			h["X-Forwarded-Port"] = vals[2:3:3]
		} else if r.TLS != nil {
			h["X-Forwarded-Port"] = port443
		} else {
			h["X-Forwarded-Port"] = port80
		}
	}
	if _, ok := h["X-Real-Ip"]; !ok || !trusted {
		vals[3] = peerStr
		if client != peer {
			vals[3] = client.String()
		}
		h["X-Real-Ip"] = vals[3:4:4]
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

// hostPort returns the port of a Host header, "" when it has none. (Unlike
// net.SplitHostPort, a Host without a port is not an error to allocate.)
func hostPort(h string) string {
	i := strings.LastIndexByte(h, ':')
	if i < 0 || strings.IndexByte(h[i:], ']') >= 0 {
		return ""
	}
	return h[i+1:]
}
