package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

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
// usher's /api/explain sees its state).
func cmdExplain(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("explain", "explain -c FILE --url URL [--method M] [--header 'K: V']... [--entrypoint NAME]", stderr)
	path := fs.String("c", "usher.yaml", "config file (.yaml, .yml or .toml)")
	method := fs.String("method", "GET", "request method")
	rawURL := fs.String("url", "", "absolute request URL, e.g. https://example.com/api/users?id=1")
	entrypoint := fs.String("entrypoint", "", "entrypoint the request comes in on (it decides TLS); default: the one listening on the URL's port")
	clientIP := fs.String("client-ip", "", "address the connection comes from (default 0.0.0.0, untrusted); from a trusted proxy, X-Forwarded-For names the client")
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
	req, err := admin.NewExplainRequest(admin.ExplainParams{Method: *method, URL: *rawURL, Headers: headers, ClientIP: *clientIP})
	if err != nil {
		fmt.Fprintln(stderr, "usher explain:", err)
		return 2
	}
	snap, err := compileFile(*path)
	if err != nil {
		fmt.Fprintf(stderr, "usher: %s is not valid:\n%v\n", *path, err)
		return 1
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
	e := admin.ExplainRequest(snap, eps, req, *entrypoint)
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
		line("tls options", hc.Options)
		if c := hc.Certificate; c != nil {
			line("certificate", fmt.Sprintf("%s (%s; %s), %s", c.Subject, strings.Join(c.Names, ", "), c.Key, c.CertFile))
			line("issuer", c.Issuer)
			expires := c.NotAfter.UTC().Format(time.RFC3339)
			if c.Expired {
				expires += " (expired)"
			} else {
				expires += fmt.Sprintf(" (in %d days)", int(time.Until(c.NotAfter).Hours()/24))
			}
			line("expires", expires)
		}
		line("tls why", hc.Why)
	}
	line("why", e.Reason)
	if e.Router == "" {
		return 1
	}
	return 0
}
