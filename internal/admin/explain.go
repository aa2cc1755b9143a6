package admin

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/usher-lb/usher/internal/runtime"
	"github.com/usher-lb/usher/internal/service"
)

// Explanation tells what usher does with a request: the entrypoint that
// takes it, the router that matches (with its rule), the middlewares it goes
// through (chains flattened, in order), the service, and, when the service
// can tell, the server and why.
type Explanation struct {
	Entrypoint  string   `json:"entrypoint"`
	ClientIP    string   `json:"clientIP"` // the client as routing sees it (after trusted proxies)
	Router      string   `json:"router"`
	Rule        string   `json:"rule"`
	Middlewares []string `json:"middlewares"`
	// Kinds is the kind of each of Middlewares.
	Kinds []string `json:"middlewareKinds"`
	// Guards are the middlewares of Middlewares that may answer the request
	// themselves instead of passing it on (auth, limits, filters), in order,
	// with what they answer.
	Guards  []Guard `json:"guards"`
	Service string  `json:"service"`
	Server  string  `json:"server"`
	Reason  string  `json:"reason"`
	// TLS is the certificate and options of the handshake, for a request
	// over TLS: those a client sending the request's host as SNI gets.
	TLS *HostTLS `json:"tls,omitempty"`
}

// ExplainRequest finds how snap routes r, through the function that serves
// (runtime.Snapshot.Route: forwarded headers kept or replaced as the
// entrypoint's trustedProxies say, the host lowercase without port, routers
// by priority). The entrypoint is the one named, or else the one of eps that
// listens on the port of r's URL (the scheme's default when it has none);
// none or several is said, and nothing is routed. r's URL scheme must agree
// with the entrypoint's TLS when the port picks it; a named entrypoint
// decides whether the request has TLS. The service says which server it
// would pick now, and why. Route sets r's forwarded headers. certs are the
// certResolvers' certificates (nil without certResolvers).
func ExplainRequest(snap *runtime.Snapshot, eps []*runtime.Entrypoint, r *http.Request, entrypoint string, certs CertLookup) Explanation {
	no := func(ep, why string) Explanation {
		return Explanation{Entrypoint: ep, Middlewares: []string{}, Kinds: []string{}, Guards: []Guard{}, Reason: why}
	}
	var ep *runtime.Entrypoint
	note := ""
	if entrypoint != "" {
		for _, e := range eps {
			if e.Name == entrypoint {
				ep = e
			}
		}
		if ep == nil {
			return no("", "no HTTP entrypoint "+entrypoint)
		}
		switch {
		case ep.TLS && r.TLS == nil:
			r.TLS = &tls.ConnectionState{ServerName: hostOnly(r.URL.Host), HandshakeComplete: true}
			note = " (over TLS, as entrypoint " + ep.Name + " serves it, whatever the URL's scheme)"
		case !ep.TLS && r.TLS != nil:
			r.TLS = nil
			note = " (in plain HTTP, as entrypoint " + ep.Name + " serves it, whatever the URL's scheme)"
		}
	} else {
		port := r.URL.Port()
		if port == "" {
			port = map[bool]string{false: "80", true: "443"}[r.URL.Scheme == "https"]
		}
		var on, all []string
		for _, e := range eps {
			all = append(all, e.Name+" on "+e.Port)
			if e.Port == port {
				on = append(on, e.Name)
				ep = e
			}
		}
		switch {
		case len(on) == 0:
			why := "no entrypoint listens on port " + port + ", the URL's"
			if len(all) > 0 {
				why += " (" + strings.Join(all, ", ") + ")"
			}
			return no("", why+": name the entrypoint")
		case len(on) > 1:
			return no("", "entrypoints "+strings.Join(on, " and ")+" all listen on port "+port+": name the entrypoint")
		case ep.TLS && r.TLS == nil:
			return no(ep.Name, "entrypoint "+ep.Name+" on port "+port+" serves TLS: an http:// request gets no answer there")
		case !ep.TLS && r.TLS != nil:
			return no(ep.Name, "entrypoint "+ep.Name+" on port "+port+" serves plain HTTP: an https:// request gets no answer there")
		}
		note = " (it listens on port " + port + ")"
	}
	if ep.RedirectTo != "" {
		return no(ep.Name, fmt.Sprintf("entrypoint %s redirects every request (308) to entrypoint %s", ep.Name, ep.RedirectTo))
	}
	var hc *HostTLS
	if r.TLS != nil && snap.TLS != nil {
		sni := r.TLS.ServerName
		if sni == "" {
			sni = hostOnly(r.Host)
		}
		h := HostTLSOf(snap.TLS, ep.Name, sni, certs)
		hc = &h
	}
	rt, client, err := snap.Route(ep, r, ep.Clean(r))
	clientIP := ""
	if client.IsValid() {
		clientIP = client.String()
	}
	if err != nil {
		e := no(ep.Name, "entrypoint "+ep.Name+" refuses the request: usher answers 400: "+err.Error())
		e.ClientIP = clientIP
		return e
	}
	if rt == nil {
		e := no(ep.Name, "no router of entrypoint "+ep.Name+note+" matches: usher answers 404")
		e.ClientIP, e.TLS = clientIP, hc
		return e
	}
	e := Explanation{
		Entrypoint:  ep.Name,
		ClientIP:    clientIP,
		Router:      rt.Name,
		Rule:        rt.Rule.String(),
		Middlewares: orEmpty(append([]string(nil), rt.Middlewares...)),
		Kinds:       orEmpty(append([]string(nil), rt.Kinds...)),
		Guards:      guards(rt.Middlewares, rt.Kinds),
		Service:     rt.Service,
		Reason:      "router " + rt.Name + " is the first of entrypoint " + ep.Name + note + " whose rule matches",
		TLS:         hc,
	}
	if snap.TLS.Misdirected(ep.Name, r) {
		e.Reason += "; but host " + hostOnly(r.Host) + " has other TLS options than the SNI " + r.TLS.ServerName + ": usher answers 421"
	}
	if x, ok := snap.Services[rt.Service].(service.Explainer); ok {
		if s, why := x.Explain(r); s != nil {
			e.Server = redactedURL(s.URL)
			e.Reason += "; server: " + why
		} else {
			e.Reason += "; " + why
		}
	}
	return e
}

// ExplainParams are the parts of a request to explain.
type ExplainParams struct {
	Method  string   // default GET
	URL     string   // absolute: scheme, host, path and query
	Headers []string // "Key: Value"; a Host header sets the request's host
	// ClientIP is the address the connection comes from (default 0.0.0.0, a
	// client usher does not trust); from a trusted proxy, X-Forwarded-For
	// tells the client.
	ClientIP string
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
		r.TLS = &tls.ConnectionState{ServerName: hostOnly(u.Host), HandshakeComplete: true}
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
	var eps []*runtime.Entrypoint
	if a.d.Entrypoints != nil {
		eps = a.d.Entrypoints()
	} else if eps, err = runtime.Entrypoints(snap.Config); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	ep := q.Get("entrypoint")
	if ep != "" && !slices.ContainsFunc(eps, func(e *runtime.Entrypoint) bool { return e.Name == ep }) {
		writeError(w, http.StatusNotFound, "no HTTP entrypoint "+ep)
		return
	}
	writeJSON(w, http.StatusOK, ExplainRequest(snap, eps, req, ep, a.d.CertsFor))
}

// Guard is a middleware that may answer a request itself.
type Guard struct {
	Middleware string `json:"middleware"`
	Kind       string `json:"kind"`
	// Answers is what the client gets when the guard refuses the request.
	Answers string `json:"answers"`
}

// guardAnswers says, for each kind that may refuse a request, what it
// answers then. Its decisions are counted in
// usher_middleware_decisions_total{middleware, kind, result}.
var guardAnswers = map[string]string{
	"basicAuth":      "401 without valid credentials",
	"digestAuth":     "401 without valid credentials",
	"jwt":            "401 without a valid token",
	"apiKey":         "401 without a known key",
	"forwardAuth":    "the auth server's answer when it is not 2xx; 503 when it fails",
	"oidc":           "a redirect to the identity provider (401 to API clients) without a session",
	"portal":         "a redirect to the login page (401 to API clients) without a session",
	"rateLimit":      "429 over its rate",
	"inFlightReq":    "429 when its requests in flight are at the limit",
	"ipAllowList":    "403 to clients outside its ranges",
	"ipDenyList":     "403 to clients inside its ranges",
	"cors":           "preflights itself, without the server",
	"csrf":           "403 to cross-origin unsafe requests",
	"waf":            "403 to requests its rules block",
	"circuitBreaker": "503 while its circuit is open",
	"buffering":      "413 to bodies over its limit",
}

func guards(names, kinds []string) []Guard {
	g := []Guard{}
	for i, n := range names {
		if i < len(kinds) {
			if a, ok := guardAnswers[kinds[i]]; ok {
				g = append(g, Guard{Middleware: n, Kind: kinds[i], Answers: a})
			}
		}
	}
	return g
}
