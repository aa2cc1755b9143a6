// Package admin is usher's admin listener: a JSON API over the running
// configuration and the live state of its servers, operator actions (drain,
// undrain), a request explainer, a Server-Sent Events stream of what happens,
// /metrics, and the live dashboard (static files embedded in the binary).
//
// The admin reads everything from Deps at request time and keeps no state of
// its own: the running snapshot, the reload status, the server registry, the
// traffic statistics and the event bus all belong to the rest of usher.
//
// Who may call it: with a token, whoever has it; without one (the admin then
// listens on loopback), requests whose Host is a loopback name or address.
// Either way, a state-changing request from a page of another origin
// (Sec-Fetch-Site, Origin) is refused with 403.
//
// Endpoints (JSON, errors as {"error": "..."}):
//
//	GET  /api/overview                 version, uptime, counts, last reload, traffic totals
//	GET  /api/entrypoints              entrypoints of the running config, with status
//	GET  /api/http/routers             routers, with status
//	GET  /api/http/services[?series=N] services with their live servers; N seconds of history
//	GET  /api/http/middlewares         middlewares, with status
//	POST /api/http/services/{name}/servers/{url}/drain    url path-escaped
//	POST /api/http/services/{name}/servers/{url}/undrain
//	GET  /api/explain?method=&url=&header=K:V&entrypoint=&clientIP=
//	GET  /api/events                   Server-Sent Events of the event bus
//	GET  /api/cache[?middleware=NAME]  figures of the cache middlewares
//	POST /api/cache/purge              {"url"|"prefix"|"tag"|"all", "middleware"?} → {"purged": N}
//	GET  /api/autoscale                autoscaled services: desired, ready, mode, decisions and their reasons
//	GET  /api/autoscale/{name}
//	GET  /api/http/deployments         weighted services: live weights, canary, history
//	GET  /api/http/deployments/{name}
//	POST /api/http/deployments/{name}/canary/promote   {"full": true}? → the state after
//	POST /api/http/deployments/{name}/canary/abort
//	POST /api/http/deployments/{name}/switch           {"to": "SERVICE"}
//	POST /api/http/deployments/{name}/switch/back
//	GET  /metrics                      Deps.Metrics
//	GET  /ping                         200 "OK" once a snapshot serves, 503 before; no token needed
//	GET  /dashboard/                   the dashboard, when Deps.Dashboard
package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/usher-lb/usher/internal/autoscale"
	"github.com/usher-lb/usher/internal/deploy"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/pool"
	"github.com/usher-lb/usher/internal/runtime"
)

// Deps is everything the admin needs from the running usher. Snapshot and
// Status are required; any other field may be left zero, which turns off what
// depends on it (no Stats: traffic figures are zero; no Events: the event
// stream only pings; no Metrics: /metrics is a 404).
type Deps struct {
	Snapshot func() *runtime.Snapshot // the running snapshot
	Status   func() runtime.Status    // outcome of reloads
	Servers  *pool.Registry           // servers by pool.Key(service, url), for drain and undrain
	Stats    *observe.Stats           // traffic figures per service and server
	Events   *observe.Bus             // health transitions, reloads, drains
	Metrics  http.Handler             // served at /metrics
	// Decisions are the guarding middlewares' decision counts by name
	// (observe.Metrics.DecisionCounts), shown with each middleware.
	Decisions func() map[string]observe.Decisions
	// Certificates are the certificates of the certResolvers, by name, with
	// their state (acme.Manager.Status); nil when there are none.
	Certificates func() any
	// CertsFor tells what the certResolvers serve a host, for explain and
	// /api/tls (acme.Manager.ForHost); nil when there are none.
	CertsFor CertLookup
	// Deployments are the live weights of weighted services, for the
	// canary and switch endpoints.
	Deployments *deploy.Registry
	// Autoscale are the autoscalers of load balancers: their decisions.
	Autoscale *autoscale.Registry

	// Entrypoints are the entrypoints as routing sees them, on the ports they
	// listen on, for explain; when nil, those of the running config's
	// addresses.
	Entrypoints func() []*runtime.Entrypoint

	// Token, when set, is required on every request: "Authorization: Bearer
	// <token>", or basic auth with any user name and the token as password
	// (which lets a browser open the dashboard). Without it, only requests
	// whose Host names loopback are answered (421 otherwise).
	Token     string
	Dashboard bool // serve the dashboard at /dashboard/ and redirect / to it

	Version string    // shown in the overview; "dev" when empty
	Started time.Time // start of the process, for the uptime; New's time when zero
	Log     *slog.Logger
}

type admin struct {
	d Deps
}

// New returns the admin's handler.
func New(d Deps) http.Handler {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Started.IsZero() {
		d.Started = time.Now()
	}
	if d.Version == "" {
		d.Version = "dev"
	}
	a := &admin{d: d}
	mux := http.NewServeMux()
	mux.Handle("/api/overview", only(http.MethodGet, a.overview))
	mux.Handle("/api/entrypoints", only(http.MethodGet, a.entrypoints))
	mux.Handle("/api/http/routers", only(http.MethodGet, a.routers))
	mux.Handle("/api/http/services", only(http.MethodGet, a.services))
	mux.Handle("/api/http/middlewares", only(http.MethodGet, a.middlewares))
	mux.Handle("/api/http/services/{name}/servers/{url}/drain", only(http.MethodPost, a.drain(true)))
	mux.Handle("/api/http/services/{name}/servers/{url}/undrain", only(http.MethodPost, a.drain(false)))
	mux.Handle("/api/explain", only(http.MethodGet, a.explain))
	mux.Handle("/api/tls", only(http.MethodGet, a.tls))
	mux.Handle("/api/events", only(http.MethodGet, a.events))
	mux.Handle("/api/autoscale", only(http.MethodGet, a.autoscaleAll))
	mux.Handle("/api/autoscale/{name}", only(http.MethodGet, a.autoscaleOne))
	mux.Handle("/api/http/deployments", only(http.MethodGet, a.deployments))
	mux.Handle("/api/http/deployments/{name}", only(http.MethodGet, a.deployment))
	mux.Handle("/api/http/deployments/{name}/canary/promote", only(http.MethodPost, a.deployAction("promote")))
	mux.Handle("/api/http/deployments/{name}/canary/abort", only(http.MethodPost, a.deployAction("abort")))
	mux.Handle("/api/http/deployments/{name}/switch", only(http.MethodPost, a.deployAction("switch")))
	mux.Handle("/api/http/deployments/{name}/switch/back", only(http.MethodPost, a.deployAction("back")))
	mux.Handle("/api/cache", only(http.MethodGet, a.cacheStats))
	mux.Handle("/api/certificates", only(http.MethodGet, a.certificates))
	mux.Handle("/api/cache/purge", only(http.MethodPost, a.cachePurge))
	if d.Metrics != nil {
		mux.Handle("/metrics", d.Metrics)
	}
	if d.Dashboard {
		mux.Handle("/dashboard/", dashboard())
		mux.Handle("/{$}", http.RedirectHandler("/dashboard/", http.StatusFound))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
	var h http.Handler = mux
	h = sameOrigin(h)
	if d.Token != "" {
		h = requireToken(d.Token, h)
	} else {
		h = loopbackHost(h)
	}
	return pingFirst(only(http.MethodGet, a.ping), h, d.Token != "")
}

// pingFirst answers /ping with ping and everything else with rest. With a
// token, /ping needs none: a liveness probe (Docker's HEALTHCHECK, a
// Kubernetes probe, `usher healthcheck`) should not have to hold the
// admin's secret, and "OK" tells nothing. Without a token the loopback
// Host rule still holds for it, as for every other endpoint.
func pingFirst(ping, rest http.Handler, token bool) http.Handler {
	if !token {
		ping = loopbackHost(ping)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ping" {
			ping.ServeHTTP(w, r)
			return
		}
		rest.ServeHTTP(w, r)
	})
}

// ping tells a liveness probe whether usher serves: a snapshot is running.
func (a *admin) ping(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if a.d.Snapshot() == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("no configuration is serving yet\n"))
		return
	}
	w.Write([]byte("OK\n"))
}

// loopbackHost answers only requests whose Host names loopback: localhost,
// a name under .localhost, an address of 127.0.0.0/8 or ::1. It guards an
// admin without a token, which listens on loopback only, against DNS
// rebinding: a page of evil.example whose name is made to resolve to
// 127.0.0.1 reaches the admin from the operator's browser as its own origin
// (so the cross-origin checks pass), but with "Host: evil.example". With a
// token, the token is the guard, and any name the admin is reached by works.
func loopbackHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackName(r.Host) {
			host := r.Host
			if len(host) > 100 {
				host = host[:100] + "…"
			}
			writeError(w, http.StatusMisdirectedRequest, fmt.Sprintf("the admin API without a token answers only requests for localhost, 127.0.0.1 or [::1], not Host %q "+
				"(this refuses pages that reach it through DNS rebinding); connect to it by a loopback name, or set admin.token", host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackName reports whether a Host header (with or without port) names
// loopback. Names under .localhost are loopback by RFC 6761, and resolvers
// and browsers keep them there.
func loopbackName(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Zone() == "" && ip.Unmap().IsLoopback()
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == "localhost" || (strings.HasSuffix(host, ".localhost") && validName(host))
}

// validName reports whether s is made of DNS labels: letters, digits and
// hyphens between dots, none empty.
func validName(s string) bool {
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// only serves h for method (and HEAD with GET), and answers 405 otherwise.
func only(method string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == method || (method == http.MethodGet && r.Method == http.MethodHead) {
			h(w, r)
			return
		}
		allow := method
		if method == http.MethodGet {
			allow += ", HEAD"
		}
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed here; use "+method)
	})
}

// requireToken lets a request through only with the token, as a bearer token
// or as the password of basic auth. Both sides are hashed before the
// constant-time comparison, so that neither the token nor its length leaks
// through timing.
func requireToken(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var got string
		auth := r.Header.Get("Authorization")
		if len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
			got = strings.TrimSpace(auth[7:])
		} else if _, pw, ok := r.BasicAuth(); ok {
			got = pw
		}
		sum := sha256.Sum256([]byte(got))
		if got == "" || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Add("WWW-Authenticate", `Basic realm="usher admin", charset="UTF-8"`)
			w.Header().Add("WWW-Authenticate", `Bearer realm="usher admin"`)
			writeError(w, http.StatusUnauthorized, "a valid token is required (Authorization: Bearer <token>)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sameOrigin refuses state-changing requests sent by a page of another
// origin (a form or fetch from a site the operator visits), which a browser
// would otherwise send to a loopback admin with the operator's credentials.
func sameOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
				writeError(w, http.StatusForbidden, "cross-origin request refused: a page of another site (Sec-Fetch-Site: "+clipHeader(site)+") cannot change usher")
				return
			}
			if o := r.Header.Get("Origin"); o != "" {
				if u, err := url.Parse(o); err != nil || !strings.EqualFold(u.Host, r.Host) {
					writeError(w, http.StatusForbidden, "cross-origin request refused: a page of "+clipHeader(o)+" cannot change usher")
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// clipHeader keeps a header value quoted in an error short.
func clipHeader(s string) string {
	if len(s) > 100 {
		return strconv.Quote(s[:100]) + "…"
	}
	return strconv.Quote(s)
}

// writeJSON writes v as indented JSON with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: "encoding the answer: " + err.Error()})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

// snapshot returns the running snapshot, or answers 503 and returns nil.
func (a *admin) snapshot(w http.ResponseWriter) *runtime.Snapshot {
	var s *runtime.Snapshot
	if a.d.Snapshot != nil {
		s = a.d.Snapshot()
	}
	if s == nil {
		writeError(w, http.StatusServiceUnavailable, "no configuration is running yet")
	}
	return s
}

// certificates lists the certificates usher obtains (certResolvers): each
// name, its state, the last failure's reason, and what is served for it.
func (a *admin) certificates(w http.ResponseWriter, r *http.Request) {
	if a.d.Certificates == nil {
		writeJSON(w, http.StatusOK, []any{})
		return
	}
	writeJSON(w, http.StatusOK, a.d.Certificates())
}
