// Package demo is what `usher demo` runs: small backends on loopback, each
// answering with its name, and the config that puts usher in front of them.
package demo

import (
	"context"
	_ "embed"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

//go:embed usher.yaml
var configTemplate string

// Config returns the demo config with usher on listen, the admin API and
// dashboard on admin ("" = none) and the backends' addresses.
func Config(listen, admin string, backends []string) string {
	var servers strings.Builder
	for _, b := range backends {
		fmt.Fprintf(&servers, "          - url: http://%s\n", b)
	}
	s := strings.ReplaceAll(configTemplate, "{{listen}}", listen)
	adminSection := ""
	if admin != "" {
		adminSection = fmt.Sprintf("admin: { address: %q, dashboard: true }\n", admin)
	}
	s = strings.ReplaceAll(s, "{{admin}}\n", adminSection)
	return strings.ReplaceAll(s, "{{servers}}\n", servers.String())
}

// Traffic sends about perSecond GET requests a second to url until ctx ends,
// so that the dashboard of the demo has something to show.
func Traffic(ctx context.Context, url string, perSecond int) {
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return
			}
			if resp, err := client.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}
}

// Backend is one demo backend.
type Backend struct {
	Name  string
	Addr  string
	srv   *http.Server
	count atomic.Int64
}

// Start starts n backends named app-1, app-2 … on loopback ports chosen by the system.
func Start(n int) ([]*Backend, error) {
	var bs []*Backend
	for i := 1; i <= n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			Stop(bs)
			return nil, err
		}
		b := &Backend{Name: fmt.Sprintf("app-%d", i), Addr: ln.Addr().String()}
		b.srv = &http.Server{Handler: b, ReadHeaderTimeout: 5 * time.Second}
		go b.srv.Serve(ln)
		bs = append(bs, b)
	}
	return bs, nil
}

// Stop stops backends.
func Stop(bs []*Backend) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, b := range bs {
		b.srv.Shutdown(ctx)
	}
}

// ServeHTTP answers with the backend's name: plain text for curl, a small page
// for browsers.
func (b *Backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := b.count.Add(1)
	w.Header().Set("X-Backend", b.Name)
	if r.URL.Path == "/healthz" {
		fmt.Fprintln(w, "ok")
		return
	}
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		fmt.Fprintf(w, "hello from %s (request %d to me, path %s)\n", b.Name, n, r.URL.Path)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><title>%[1]s</title>
<style>body{font:18px system-ui,sans-serif;margin:3em;color:#222}b{color:#0a6}</style></head>
<body><h1>Hello from <b>%[1]s</b></h1>
<p>This is request %[2]d to this backend. Reload the page: usher sends each request to the next backend in turn.</p>
<p>Your request came through usher with X-Forwarded-For <code>%[3]s</code> and X-Forwarded-Host <code>%[4]s</code>.</p>
</body></html>
`, html.EscapeString(b.Name), n, html.EscapeString(r.Header.Get("X-Forwarded-For")), html.EscapeString(r.Header.Get("X-Forwarded-Host")))
}
