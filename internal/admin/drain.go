package admin

import (
	"net/http"
	"net/url"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/pool"
)

// drain drains (on) or undrains a server of a load-balancer service at once:
// a drained server takes no new request, those in flight finish. It answers
// with the server as GET /api/http/services shows it. Draining lasts as long
// as the server keeps its URL in the service, across reloads.
func (a *admin) drain(on bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name, raw := r.PathValue("name"), r.PathValue("url")
		snap := a.snapshot(w)
		if snap == nil {
			return
		}
		if snap.Services[name] == nil {
			writeError(w, http.StatusNotFound, "no service "+name)
			return
		}
		s := a.findServer(name, raw)
		if s == nil {
			writeError(w, http.StatusNotFound, "service "+name+" has no server "+raw)
			return
		}
		from := health(s)
		s.SetDraining(on)
		to := health(s)
		url := redactedURL(s.URL)
		msg := "server undrained from the admin API"
		if on {
			msg = "server drained from the admin API"
		}
		a.d.Log.Info(msg, "service", name, "server", url, "inflight", s.InFlight())
		if a.d.Events != nil {
			a.d.Events.Publish(observe.Event{Type: "drain", Service: name, Server: url, From: from, To: to, Reason: "admin API"})
		}
		writeJSON(w, http.StatusOK, a.serverView(name, s))
	}
}

// findServer finds a server of a service by its URL as configured, as
// normalized, or as the API shows it (password hidden).
func (a *admin) findServer(service, raw string) *pool.Server {
	if a.d.Servers != nil {
		if s, ok := a.d.Servers.Lookup(pool.Key(service, raw)); ok {
			return s
		}
		if u, err := url.Parse(raw); err == nil {
			if s, ok := a.d.Servers.Lookup(pool.Key(service, u.String())); ok {
				return s
			}
		}
	}
	for _, s := range serversOf(a.d.Snapshot(), service) {
		if s.URL.String() == raw || redactedURL(s.URL) == raw {
			return s
		}
	}
	return nil
}

// redactedURL is u as the API shows it: any user:password@ (a user name
// alone may be a token) replaced by config.Redaction.
func redactedURL(u *url.URL) string { return config.RedactURL(u.String()) }
