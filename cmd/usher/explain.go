package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/usher-lb/usher/internal/acme"
	"github.com/usher-lb/usher/internal/admin"
	"github.com/usher-lb/usher/internal/runtime"
)

// headerFlags collects repeated --header flags.
type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

// cmdExplain prints how a config routes a request, through the routing
// function that serves: entrypoint (the one listening on the URL's port,
// unless named), client, router and rule, middlewares, service, and the
// server the service would pick. For a hash or a sticky cookie that is the
// server; for the other algorithms it is one pick of a fresh usher (a running
// usher's /api/explain sees its state). Over TLS it tells the certificate:
// from a file, or what a certResolver keeps in its storage. With --host it
// tells only the certificate a host gets, on each TLS entrypoint. With
// --admin it asks a running usher instead of reading the config, and so
// sees what the running certResolvers did (last error included).
func cmdExplain(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("explain", "explain -c FILE (--url URL [--method M] [--header 'K: V']... [--entrypoint NAME] | --host HOST) [--admin ADDR [--token-file F]]", stderr)
	path := fs.String("c", "usher.yaml", "config file (.yaml, .yml or .toml)")
	method := fs.String("method", "GET", "request method")
	rawURL := fs.String("url", "", "absolute request URL, e.g. https://example.com/api/users?id=1")
	host := fs.String("host", "", "tell only which certificate a TLS handshake for this host (SNI) gets, on each TLS entrypoint")
	entrypoint := fs.String("entrypoint", "", "entrypoint the request comes in on (it decides TLS); default: the one listening on the URL's port")
	clientIP := fs.String("client-ip", "", "address the connection comes from (default 0.0.0.0, untrusted); from a trusted proxy, X-Forwarded-For names the client")
	af := adminFlags{
		admin:     fs.String("admin", "", "ask the usher running with this admin API (host:port, or an http(s) URL) instead of reading the config"),
		tokenFile: fs.String("token-file", "", "with --admin: file holding the admin token (default: $USHER_ADMIN_TOKEN)"),
		asJSON:    new(bool),
	}
	var headers headerFlags
	fs.Var(&headers, "header", "request header 'Key: Value' (repeatable); Host sets the host")
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "usher explain: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *host != "" {
		if *rawURL != "" {
			fmt.Fprintln(stderr, "usher explain: --host and --url do not go together: an https --url tells the certificate too")
			return 2
		}
		return explainHost(*path, *host, *entrypoint, af, stdout, stderr)
	}
	req, err := admin.NewExplainRequest(admin.ExplainParams{Method: *method, URL: *rawURL, Headers: headers, ClientIP: *clientIP})
	if err != nil {
		fmt.Fprintln(stderr, "usher explain:", err)
		return 2
	}
	var e admin.Explanation
	if *af.admin != "" {
		q := url.Values{"url": {*rawURL}, "method": {*method}, "header": headers}
		if *clientIP != "" {
			q.Set("clientIP", *clientIP)
		}
		if *entrypoint != "" {
			q.Set("entrypoint", *entrypoint)
		}
		b, ok := af.call("explain", http.MethodGet, "/api/explain?"+q.Encode(), nil, stderr)
		if !ok {
			return 1
		}
		if err := json.Unmarshal(b, &e); err != nil {
			fmt.Fprintf(stderr, "usher explain: admin API: %v\n", err)
			return 1
		}
	} else {
		snap, certs, code := explainConfig(*path, stderr)
		if snap == nil {
			return code
		}
		eps, err := runtime.Entrypoints(snap.Config)
		if err != nil {
			fmt.Fprintf(stderr, "usher: %s is not valid:\n%v\n", *path, err)
			return 1
		}
		if ep := *entrypoint; ep != "" && !slices.ContainsFunc(eps, func(e *runtime.Entrypoint) bool { return e.Name == ep }) {
			fmt.Fprintf(stderr, "usher explain: no HTTP entrypoint %q\n", ep)
			return 2
		}
		e = admin.ExplainRequest(snap, eps, req, *entrypoint, certs)
	}
	fmt.Fprintf(stdout, "%s %s\n", req.Method, req.URL)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(stdout, "  %-12s %s\n", k, v)
		}
	}
	line("entrypoint", e.Entrypoint)
	line("client", e.ClientIP)
	line("router", e.Router)
	line("rule", e.Rule)
	if e.Router != "" {
		mws := "(none)"
		if len(e.Middlewares) > 0 {
			named := make([]string, len(e.Middlewares))
			for i, n := range e.Middlewares {
				named[i] = n
				if i < len(e.Kinds) {
					named[i] += " (" + e.Kinds[i] + ")"
				}
			}
			mws = strings.Join(named, " -> ")
		}
		line("middlewares", mws)
		for i, g := range e.Guards {
			k := ""
			if i == 0 {
				k = "guards"
			}
			fmt.Fprintf(stdout, "  %-12s %s: %s\n", k, g.Middleware, g.Answers)
		}
	}
	line("service", e.Service)
	line("server", e.Server)
	if hc := e.TLS; hc != nil {
		printHostTLS(line, hc)
	}
	line("why", e.Reason)
	if e.Router == "" {
		return 1
	}
	return 0
}

// explainConfig compiles the config at path as usher run would, with its
// certResolvers' storage for the certificates they keep; nil and an exit
// code when it is not valid.
func explainConfig(path string, stderr io.Writer) (*runtime.Snapshot, admin.CertLookup, int) {
	snap, err := compileFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "usher: %s is not valid:\n%v\n", path, err)
		return nil, nil, 1
	}
	var certs admin.CertLookup
	if len(snap.Config.CertResolvers) > 0 {
		certs = acme.Stored(snap.Config, acme.Options{DataDir: dataDir(snap.Config, path), ConfigDir: filepath.Dir(path)}).ForHost
	}
	return snap, certs, 0
}

// explainHost prints which certificate a handshake for host gets on each
// TLS entrypoint (or the one named).
func explainHost(path, host, entrypoint string, af adminFlags, stdout, stderr io.Writer) int {
	var hosts []admin.TLSHost
	if *af.admin != "" {
		b, ok := af.call("explain", http.MethodGet, "/api/tls?"+url.Values{"host": {host}}.Encode(), nil, stderr)
		if !ok {
			return 1
		}
		var v struct{ Hosts []admin.TLSHost }
		if err := json.Unmarshal(b, &v); err != nil {
			fmt.Fprintf(stderr, "usher explain: admin API: %v\n", err)
			return 1
		}
		hosts = v.Hosts
	} else {
		snap, certs, code := explainConfig(path, stderr)
		if snap == nil {
			return code
		}
		hosts = admin.TLSOf(snap, nil, certs, host).Hosts
	}
	if entrypoint != "" {
		hosts = slices.DeleteFunc(hosts, func(h admin.TLSHost) bool { return h.Entrypoint != entrypoint })
	}
	if len(hosts) == 0 {
		fmt.Fprintf(stderr, "usher explain: no TLS entrypoint%s\n", map[bool]string{true: " " + entrypoint, false: ""}[entrypoint != ""])
		return 1
	}
	fmt.Fprintf(stdout, "TLS handshake for %s\n", host)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(stdout, "  %-12s %s\n", k, v)
		}
	}
	code := 0
	for _, h := range hosts {
		line("entrypoint", h.Entrypoint)
		printHostTLS(line, &h.HostTLS)
		if h.Source == "none" {
			code = 1
		}
	}
	return code
}

// printHostTLS prints the certificate and options a handshake gets.
func printHostTLS(line func(k, v string), hc *admin.HostTLS) {
	line("tls options", hc.Options)
	if c := hc.Certificate; c != nil {
		subject := c.Subject
		if subject == "" {
			subject = "no subject" // as ACME CAs issue them now: the names are the SANs
		}
		line("certificate", fmt.Sprintf("%s (%s; %s), %s", subject, strings.Join(c.Names, ", "), c.Key, c.CertFile))
	}
	source := hc.Source
	switch {
	case source == "default":
		source += " (usher's self-signed certificate; clients do not trust it)"
	case hc.CertResolver != "":
		source += " (certResolver " + hc.CertResolver + ")"
	case source == "none":
		source += " (the handshake fails)"
	}
	line("source", source)
	if c := hc.Certificate; c != nil {
		line("issuer", c.Issuer)
		expires := c.NotAfter.UTC().Format(time.RFC3339)
		if c.Expired {
			expires += " (expired)"
		} else {
			expires += fmt.Sprintf(" (in %d days)", int(time.Until(c.NotAfter).Hours()/24))
		}
		line("expires", expires)
	}
	if a := hc.ACME; a != nil {
		r := a.Status
		if !a.RenewAt.IsZero() {
			r += ", due " + a.RenewAt.UTC().Format(time.RFC3339)
			if a.RenewBy == "ari" {
				r += " (the CA's ARI window)"
			} else {
				r += " (a third of the lifetime left)"
			}
		}
		if a.Renewals > 0 {
			r += fmt.Sprintf(", %d renewals", a.Renewals)
		}
		line("renewal", r)
		if a.Error != "" {
			last := a.Error
			if !a.FailedAt.IsZero() {
				last = a.FailedAt.UTC().Format(time.RFC3339) + ": " + last
			}
			line("last error", last)
		}
	}
	line("tls why", hc.Why)
}
