package runtime

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sort"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/rule"
	"github.com/usher-lb/usher/internal/urlpath"
)

// Entrypoint is an HTTP entrypoint as routing sees it: its name, the port it
// listens on, whether it speaks TLS, where it redirects, and the proxies it
// trusts. Its values are those of the static configuration usher started
// with (a reload does not change them). internal/server makes one per
// listener; what does not listen (usher explain) makes them from the config.
type Entrypoint struct {
	Name string
	// Port is the port it listens on: the listener's, once it listens (port 0
	// in the config is the kernel's choice).
	Port string
	TLS  bool
	// RedirectTo names the entrypoint every request is redirected to (308), ""
	// when the entrypoint routes.
	RedirectTo string
	// Sanitize puts request paths in normal form before routing (see
	// urlpath); AllowEncodedSlash then lets %2F and %5C through.
	Sanitize, AllowEncodedSlash bool
	// AllowUnderscores keeps request fields with '_' in their names.
	AllowUnderscores bool

	trust trust
	port  []string // X-Forwarded-Port: Port, read-only, capacity one
}

// NewEntrypoint returns the entrypoint name of config c, listening on addr
// (host:port).
func NewEntrypoint(name string, c *config.Entrypoint, addr string) (*Entrypoint, error) {
	t, err := parseTrust(c.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("trustedProxies: %w", err)
	}
	_, port, _ := net.SplitHostPort(addr)
	ep := &Entrypoint{Name: name, TLS: c.TLS != nil, RedirectTo: c.RedirectTo, trust: t,
		Sanitize: c.SanitizePath == nil || *c.SanitizePath, AllowEncodedSlash: c.AllowEncodedSlash,
		AllowUnderscores: c.AllowUnderscoresInHeaders}
	ep.SetPort(port)
	return ep, nil
}

// SetPort sets the port the entrypoint listens on, once it listens.
func (ep *Entrypoint) SetPort(port string) {
	ep.Port = port
	ep.port = []string{port}[:1:1]
}

// Entrypoints returns the HTTP entrypoints of cfg on their configured
// addresses, by name.
func Entrypoints(cfg *config.Config) ([]*Entrypoint, error) {
	names := make([]string, 0, len(cfg.Entrypoints))
	for name, ep := range cfg.Entrypoints {
		if ep != nil && (ep.Protocol == "" || ep.Protocol == "http") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := make([]*Entrypoint, 0, len(names))
	for _, name := range names {
		ep, err := NewEntrypoint(name, cfg.Entrypoints[name], cfg.Entrypoints[name].Address)
		if err != nil {
			return nil, fmt.Errorf("entrypoint %s: %w", name, err)
		}
		out = append(out, ep)
	}
	return out, nil
}

// Route is the one routing function: the entrypoints serve with it, and
// explain asks it. r must have been through ep.Clean, which returned p,
// before usher or a middleware set any field of its own. Route prepares r as
// entrypoint ep serves it, as the servers behind usher and the rules see it:
// its path in normal form (when ep sanitizes paths: a path that cannot be
// made safe is refused with the error, usher answers 400), then
// X-Forwarded-For, -Proto, -Host, -Port and X-Real-Ip set, or kept from a
// trusted proxy (see setForwarded). Then it returns the router of ep that
// takes r, by priority (nil: none, usher answers 404), matching the host of
// r.Host lowercase without port, and the client's address (the peer's, or the
// one trusted proxies name). A nil snapshot routes nothing. ep must not
// redirect (see RedirectTo).
func (s *Snapshot) Route(ep *Entrypoint, r *http.Request, p Peer) (*Router, netip.Addr, error) {
	if ep.Sanitize {
		if err := urlpath.NormalizeRequest(r, ep.AllowEncodedSlash); err != nil {
			return nil, p.ip, err
		}
	}
	client := ep.trust.setForwarded(r, p, ep.port)
	if s == nil {
		return nil, client, nil
	}
	req := rule.Request{R: r, Host: hostOnly(r.Host), ClientIP: client}
	return s.Match(ep.Name, &req), client, nil
}
