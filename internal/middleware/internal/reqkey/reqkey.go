// Package reqkey is what the limiting middlewares (rateLimit, inFlightReq)
// count requests by: the client's IP address as usher computed it (after the
// entrypoint's trustedProxies), the host, a request header, or who an auth
// middleware found the client to be.
//
// The identity hook: an auth middleware that lets a request through records
// who it is with SetIdentity (apiKey sets KeyID, jwt and oidc set Claims and
// User); Identity reads it back. It lives on the request's observe.Record
// (the access log's `user`), and, for a request with no Record (a handler
// called in code), in the request's context.
package reqkey

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/usher-lb/usher/internal/middleware/internal/reqinfo"
	"github.com/usher-lb/usher/internal/observe"
)

type identityKey struct{}

// SetIdentity records id as who the client of r is, on r's Record (found
// through w) and in the context of the request it returns, which the caller
// passes on to the next handler.
func SetIdentity(w http.ResponseWriter, r *http.Request, id *observe.Identity) *http.Request {
	if rec := observe.From(w); rec != nil {
		rec.Identity = id
	}
	return r.WithContext(context.WithValue(r.Context(), identityKey{}, id))
}

// Identity returns who an auth middleware found the client of r to be, nil
// when none did.
func Identity(w http.ResponseWriter, r *http.Request) *observe.Identity {
	if rec := observe.From(w); rec != nil && rec.Identity != nil {
		return rec.Identity
	}
	id, _ := r.Context().Value(identityKey{}).(*observe.Identity)
	return id
}

// ClientIP returns the client's address as usher knows it: the entrypoint's
// (X-Forwarded-For believed only from trustedProxies), else the connection's
// peer; IPv4-mapped IPv6 addresses as IPv4. The zero Addr when neither is
// known.
func ClientIP(w http.ResponseWriter, r *http.Request) netip.Addr {
	if rec := observe.From(w); rec != nil && rec.ClientIP.IsValid() {
		return rec.ClientIP.Unmap()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, _ := netip.ParseAddr(host)
	return ip.WithZone("").Unmap()
}

// Func appends the key of a request to dst. The first byte tells the kinds
// of key apart, so that a header's value never collides with an address.
type Func func(dst []byte, w http.ResponseWriter, r *http.Request) []byte

// maxKeyLen bounds what a key takes: longer values are replaced by their
// SHA-256, so that a client sending huge header values cannot make usher
// keep huge keys.
const maxKeyLen = 64

// Parse returns the key function of spec: clientIP (the default, for ""),
// host, apiKey, header:NAME or claim:NAME. ipv6Subnet, when not 0, makes
// IPv6 client addresses count per prefix of that length.
//
// A request that has no value for the key (no such header, no API key or
// claim) is counted by its client IP instead: leaving it out would let a
// client escape the limit by not sending the header, and one shared key
// would let one client starve every other.
func Parse(spec string, ipv6Subnet int) (Func, error) {
	if ipv6Subnet < 0 || ipv6Subnet > 128 {
		return nil, fmt.Errorf("ipv6Subnet %d is not a prefix length (0 to 128)", ipv6Subnet)
	}
	ipKey := func(dst []byte, w http.ResponseWriter, r *http.Request) []byte {
		ip := ClientIP(w, r)
		if ip.Is6() && ipv6Subnet > 0 && ipv6Subnet < 128 {
			if p, err := ip.Prefix(ipv6Subnet); err == nil {
				ip = p.Addr()
			}
		}
		dst = append(dst, 'i')
		if ip.Is4() {
			b := ip.As4()
			return append(dst, b[:]...)
		}
		b := ip.As16()
		return append(dst, b[:]...)
	}
	name, arg, _ := strings.Cut(spec, ":")
	switch {
	case spec == "" || spec == "clientIP":
		return ipKey, nil
	case spec == "host":
		return func(dst []byte, w http.ResponseWriter, r *http.Request) []byte {
			h := reqinfo.Hostname(r.Host)
			if h == "" {
				return ipKey(dst, w, r)
			}
			dst = append(dst, 'h')
			start := len(dst)
			dst = append(dst, h...)
			lower(dst[start:])
			return bound(dst, start)
		}, nil
	case spec == "apiKey":
		return func(dst []byte, w http.ResponseWriter, r *http.Request) []byte {
			id := Identity(w, r)
			if id == nil || id.KeyID == "" {
				return ipKey(dst, w, r)
			}
			dst = append(dst, 'k')
			start := len(dst)
			return bound(append(dst, id.KeyID...), start)
		}, nil
	case name == "header" && arg != "":
		canon := http.CanonicalHeaderKey(arg)
		return func(dst []byte, w http.ResponseWriter, r *http.Request) []byte {
			v := r.Header[canon]
			if len(v) == 0 || v[0] == "" {
				return ipKey(dst, w, r)
			}
			dst = append(dst, 'v')
			start := len(dst)
			return bound(append(dst, v[0]...), start)
		}, nil
	case name == "claim" && arg != "":
		return func(dst []byte, w http.ResponseWriter, r *http.Request) []byte {
			id := Identity(w, r)
			var s string
			if id != nil {
				s = claimString(id.Claims[arg])
			}
			if s == "" {
				return ipKey(dst, w, r)
			}
			dst = append(dst, 'c')
			start := len(dst)
			return bound(append(dst, s...), start)
		}, nil
	}
	return nil, fmt.Errorf("unknown key %q: clientIP, host, apiKey, header:NAME or claim:NAME", spec)
}

// bound replaces dst[start:] by its SHA-256 when it is longer than
// maxKeyLen.
func bound(dst []byte, start int) []byte {
	if len(dst)-start <= maxKeyLen {
		return dst
	}
	sum := sha256.Sum256(dst[start:])
	return append(dst[:start], sum[:]...)
}

func lower(b []byte) {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}

// claimString is a claim's value as a key: a string as it is, a number or a
// boolean as JSON writes it, anything else as its JSON; "" for none.
func claimString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
