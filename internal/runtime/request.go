package runtime

import (
	"net/http"
	"net/textproto"
	"strings"

	"github.com/usher-lb/usher/internal/wire"
)

// connUpgrade is the Connection of an upgrade request once the entrypoint has
// cleaned it: shared by every such request, read-only, capacity one.
var connUpgrade = []string{"Upgrade"}[:1:1]

// dropConnectionFields removes the fields a client names in Connection, then
// Connection itself, before usher and its middlewares add theirs: a client
// that sends `Connection: X-Forwarded-For` makes the field hop-by-hop, which
// must strip its own copy, never the one usher sets afterwards (the Traefik
// CVE-2024-45410 class). An upgrade request keeps `Connection: Upgrade` and
// its Upgrade field, which the proxy needs to switch protocols; the other
// names in its Connection go as for any request.
//
// It allocates only for a name that is not in canonical form; "close" and
// "keep-alive", which browsers send, never.
func dropConnectionFields(h http.Header) {
	conn, ok := h["Connection"]
	if !ok {
		return
	}
	up := h["Upgrade"]
	upgrade := len(up) > 0 && up[0] != "" && wire.HasToken(conn, "upgrade") && !onlyH2C(up)
	for _, v := range conn {
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, ",")
			tok = wire.TrimOWSString(tok)
			switch {
			case tok == "", strings.EqualFold(tok, "close"):
			case strings.EqualFold(tok, "keep-alive"):
				delete(h, "Keep-Alive")
			case strings.EqualFold(tok, "upgrade"):
				if !upgrade {
					delete(h, "Upgrade")
				}
			case wire.ValidName(tok):
				delete(h, textproto.CanonicalMIMEHeaderKey(tok))
			}
		}
	}
	if upgrade {
		h["Connection"] = connUpgrade
	} else {
		delete(h, "Connection")
	}
}

// onlyH2C reports whether an Upgrade field asks for h2c alone: that is an
// upgrade of the client's connection to usher (served by an entrypoint with
// h2c, or ignored), never one to pass on to a server, which would make the
// connection a tunnel that usher no longer routes.
func onlyH2C(up []string) bool {
	for _, v := range up {
		for tok := range strings.SplitSeq(v, ",") {
			if tok = wire.TrimOWSString(tok); tok != "" && !strings.EqualFold(tok, "h2c") {
				return false
			}
		}
	}
	return true
}

// Clean readies r's header for usher's own fields, before usher or a
// middleware sets any: it drops the fields named in Connection, the fields
// whose names have an underscore (unless the entrypoint allows them), and,
// from a peer that is not a trusted proxy, the fields only a proxy may assert
// (proxyAsserted). It returns the peer, for Route.
//
// Underscores: CGI, PHP, WSGI and Rack servers turn '-' into '_' when they
// make HTTP_X_FORWARDED_FOR of a field name, so X_Forwarded_For would reach
// them as the X-Forwarded-For that usher set; nginx drops such fields too
// (underscores_in_headers off).
//
// One pass over the fields, without allocating when nothing is removed.
func (ep *Entrypoint) Clean(r *http.Request) Peer {
	p := ep.trust.peerOf(r)
	h := r.Header
	if h == nil {
		r.Header = http.Header{}
		return p
	}
	dropConnectionFields(h)
	underscores := ep.AllowUnderscores
	if underscores && p.trusted {
		return p
	}
	for k := range h {
		if (!underscores && strings.IndexByte(k, '_') >= 0) || (!p.trusted && proxyAsserted(k)) {
			delete(h, k)
		}
	}
	return p
}

// proxyAsserted tells whether the canonical field name k is one that servers
// believe because a proxy in front of them sets it (proxyAssertedNames). Only
// a trusted proxy may send them; from anyone else they are removed, and usher
// sets its own forwarded fields afterwards.
//
// It runs for every field of every request: a table of the (length, first
// letter) pairs of the names answers no for nearly every other field (User-Agent,
// Accept, Cookie, Sec-Fetch-Mode…) before any string is compared.
func proxyAsserted(k string) bool {
	if len(k) >= len(assertedShape) || k[0] < 'A' || k[0] > 'Z' || assertedShape[len(k)]&(1<<(k[0]-'A')) == 0 {
		return false
	}
	_, ok := assertedSet[k]
	return ok
}

// proxyAssertedNames are the fields servers believe because a proxy sets
// them: where the client is (its IP), what it asked for (original URL, host,
// scheme, prefix, port), how it authenticated (a TLS client certificate) and
// who it is (the user an auth proxy logged in). X-HTTP-Method-Override and
// the like are not here: they are what the client asks for, not what a proxy
// vouches for.
var proxyAssertedNames = []string{
	// forwarded: RFC 7239 and the X-Forwarded family
	"Forwarded", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
	"X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Server", "X-Forwarded-Uri",
	"X-Forwarded-Path", "X-Forwarded-Scheme", "X-Forwarded-Ssl", "X-Forwarded-Protocol",
	"X-Forwarded-By", "X-Forwarded-Method", "X-Url-Scheme", "Front-End-Https", "X-Host",
	// the client's address, as CDNs, load balancers and proxies pass it
	"X-Real-Ip", "True-Client-Ip", "X-Client-Ip", "Client-Ip", "Cf-Connecting-Ip",
	"Cf-Connecting-Ipv6", "Fastly-Client-Ip", "X-Cluster-Client-Ip", "X-Original-Forwarded-For",
	"X-Originating-Ip", "X-Remote-Ip", "X-Remote-Addr", "X-Envoy-External-Address",
	"X-Azure-Clientip", "X-Appengine-User-Ip",
	// the URL before a rewrite (IIS, Symfony, Laminas, nginx auth_request)
	"X-Original-Url", "X-Rewrite-Url", "X-Original-Uri", "X-Original-Host", "X-Original-Method",
	// a TLS client certificate checked by the proxy
	"X-Forwarded-Tls-Client-Cert", "X-Forwarded-Tls-Client-Cert-Info", "X-Ssl-Client-Cert",
	"X-Ssl-Client-Verify", "X-Ssl-Client-S-Dn", "X-Ssl-Client-I-Dn", "X-Client-Cert",
	"X-Client-Verify", "Ssl-Client-Cert", "Ssl-Client-Verify",
	// the user an auth proxy logged in (oauth2-proxy, Authelia, Grafana's auth proxy…)
	"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Groups",
	"X-Forwarded-Preferred-Username", "X-Forwarded-Access-Token", "X-Auth-Request-User",
	"X-Auth-Request-Email", "X-Auth-Request-Groups", "X-Auth-Request-Preferred-Username",
	"X-Auth-Request-Access-Token", "Remote-User", "Remote-Email", "Remote-Groups",
	"Remote-Name", "X-Remote-User", "X-Webauth-User", "X-Authenticated-User",
}

var (
	assertedSet   = map[string]struct{}{}
	assertedShape [48]uint32 // by length: a bit for each first letter A-Z
)

func init() {
	for _, k := range proxyAssertedNames {
		if k != textproto.CanonicalMIMEHeaderKey(k) || len(k) >= len(assertedShape) {
			panic("proxyAssertedNames: " + k)
		}
		assertedSet[k] = struct{}{}
		assertedShape[len(k)] |= 1 << (k[0] - 'A')
	}
}
