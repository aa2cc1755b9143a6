package admin

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/usher-lb/usher/internal/pool"
	"github.com/usher-lb/usher/internal/rule"
	"github.com/usher-lb/usher/internal/runtime"
)

// Explanation tells what usher does with a request: the entrypoint that
// takes it, the router that matches (with its rule), the middlewares it goes
// through (chains flattened, in order), the service, and, when the service
// can tell, the server and why.
type Explanation struct {
	Entrypoint  string   `json:"entrypoint"`
	Router      string   `json:"router"`
	Rule        string   `json:"rule"`
	Middlewares []string `json:"middlewares"`
	Service     string   `json:"service"`
	Server      string   `json:"server"`
	Reason      string   `json:"reason"`
}

// ExplainRequest finds how snap routes r on entrypoint, as the entrypoint
// would: routers in the order they are tried, TLS-only routers only for a
// request with r.TLS set, the host lowercase without port, the client address
// from r.RemoteAddr. With entrypoint "", the first entrypoint (by name) that
// has a matching router is taken, skipping those that redirect everything.
// A load balancer says which server it would pick now, and why.
func ExplainRequest(snap *runtime.Snapshot, r *http.Request, entrypoint string) Explanation {
	req := &rule.Request{R: r, Host: hostOnly(r.Host), ClientIP: remoteIP(r.RemoteAddr)}
	eps := []string{entrypoint}
	if entrypoint == "" {
		eps = eps[:0]
		for _, name := range keys(snap.Config.Entrypoints) {
			if ep := snap.Config.Entrypoints[name]; (ep.Protocol == "" || ep.Protocol == "http") && ep.RedirectTo == "" {
				eps = append(eps, name)
			}
		}
		if len(eps) == 0 {
			return Explanation{Middlewares: []string{}, Reason: "the configuration has no HTTP entrypoint that routes"}
		}
	} else if ep := snap.Config.Entrypoints[entrypoint]; ep != nil && ep.RedirectTo != "" {
		return Explanation{Entrypoint: entrypoint, Middlewares: []string{},
			Reason: fmt.Sprintf("entrypoint %s redirects every request (308) to entrypoint %s", entrypoint, ep.RedirectTo)}
	}
	for _, ep := range eps {
		for _, rt := range snap.RoutersOf(ep) {
			if rt.TLSOnly && r.TLS == nil {
				continue
			}
			if rt.Rule.Match(req) {
				e := Explanation{
					Entrypoint:  ep,
					Router:      rt.Name,
					Rule:        rt.Rule.String(),
					Middlewares: orEmpty(append([]string(nil), rt.Middlewares...)),
					Service:     rt.Service,
					Reason:      "router " + rt.Name + " is the first of entrypoint " + ep + " whose rule matches",
				}
				if x, ok := snap.Services[rt.Service].(serverExplainer); ok {
					if s, why := x.Explain(r); s != nil {
						e.Server = redactedURL(s.URL)
						e.Reason += "; server: " + why
					} else {
						e.Reason += "; " + why
					}
				}
				return e
			}
		}
	}
	if entrypoint == "" {
		return Explanation{Middlewares: []string{}, Reason: "no router of any entrypoint matches: usher answers 404"}
	}
	return Explanation{Entrypoint: entrypoint, Middlewares: []string{}, Reason: "no router of entrypoint " + entrypoint + " matches: usher answers 404"}
}

func remoteIP(addr string) netip.Addr {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	ip, _ := netip.ParseAddr(addr)
	return ip.Unmap()
}

// ExplainParams are the parts of a request to explain.
type ExplainParams struct {
	Method   string   // default GET
	URL      string   // absolute: scheme, host, path and query
	Headers  []string // "Key: Value"; a Host header sets the request's host
	ClientIP string   // optional: the client's address after trusted proxies
}

// NewExplainRequest builds the request ExplainRequest looks at. An https URL
// gives a request with TLS set, so that TLS-only routers match it.
func NewExplainRequest(p ExplainParams) (*http.Request, error) {
	if p.URL == "" {
		return nil, fmt.Errorf("url is required (an absolute URL such as https://example.com/path)")
	}
	u, err := url.Parse(p.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %v", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("url %q: want an absolute http:// or https:// URL with a host", p.URL)
	}
	method := strings.ToUpper(strings.TrimSpace(p.Method))
	if method == "" {
		method = http.MethodGet
	}
	r, err := http.NewRequest(method, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("request: %v", err)
	}
	r.RemoteAddr = "0.0.0.0:0"
	for _, h := range p.Headers {
		k, val, ok := strings.Cut(h, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("header %q: want Key: Value", h)
		}
		val = strings.TrimSpace(val)
		if strings.EqualFold(k, "Host") {
			r.Host = val
			continue
		}
		r.Header.Add(k, val)
	}
	if p.ClientIP != "" {
		ip, err := netip.ParseAddr(p.ClientIP)
		if err != nil {
			return nil, fmt.Errorf("clientIP %q is not an IP address", p.ClientIP)
		}
		r.RemoteAddr = netip.AddrPortFrom(ip, 0).String()
	}
	if u.Scheme == "https" {
		r.TLS = &tls.ConnectionState{ServerName: hostOnly(r.Host), HandshakeComplete: true}
	}
	return r, nil
}

func (a *admin) explain(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req, err := NewExplainRequest(ExplainParams{
		Method:   q.Get("method"),
		URL:      q.Get("url"),
		Headers:  q["header"],
		ClientIP: q.Get("clientIP"),
	})
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	snap := a.snapshot(w)
	if snap == nil {
		return
	}
	ep := q.Get("entrypoint")
	if ep != "" {
		if c := snap.Config.Entrypoints[ep]; c == nil || (c.Protocol != "" && c.Protocol != "http") {
			writeError(w, http.StatusNotFound, "no HTTP entrypoint "+ep)
			return
		}
	}
	e := ExplainRequest(snap, req, ep)
	if a.d.Explain != nil && e.Router != "" {
		x := a.d.Explain(req, e.Entrypoint)
		if x.Server != "" {
			e.Server = x.Server
		}
		if x.Reason != "" {
			e.Reason += "; " + x.Reason
		}
	}
	writeJSON(w, http.StatusOK, e)
}

// serverExplainer is a service that can tell which server it would pick.
type serverExplainer interface {
	Explain(r *http.Request) (*pool.Server, string)
}
