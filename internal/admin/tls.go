package admin

import (
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/runtime"
)

// TLSView is /api/tls: the certificates loaded, and for each host a router
// names on each TLS entrypoint, the certificate and options its handshake
// gets; refused is what the last refused reload said about the tls section
// (the certificates shown are still those serving).
type TLSView struct {
	Certificates []runtime.CertInfo `json:"certificates"`
	Hosts        []TLSHost          `json:"hosts"`
	Refused      []string           `json:"refused"`
}

// TLSHost is what a handshake on an entrypoint for a host gets.
type TLSHost struct {
	Entrypoint string `json:"entrypoint"`
	HostTLS
}

func (a *admin) tls(w http.ResponseWriter, r *http.Request) {
	v := a.view(w)
	if v == nil {
		return
	}
	writeJSON(w, http.StatusOK, TLSOf(v.snap, v.status.LastError, a.d.CertsFor, r.URL.Query().Get("host")))
}

// TLSOf is /api/tls; with host, its hosts are that one on every TLS
// entrypoint, whether a router names it or not.
func TLSOf(snap *runtime.Snapshot, lastErr error, certs CertLookup, host string) TLSView {
	out := TLSView{Certificates: snap.TLS.Certificates(), Hosts: []TLSHost{}, Refused: []string{}}
	var eps []string
	for name, ep := range snap.Config.Entrypoints {
		if ep != nil && ep.TLS != nil {
			eps = append(eps, name)
		}
	}
	sort.Strings(eps)
	for _, ep := range eps {
		seen := map[string]bool{}
		var hosts []string
		if host != "" {
			out.Hosts = append(out.Hosts, TLSHost{Entrypoint: ep, HostTLS: HostTLSOf(snap.TLS, ep, host, certs)})
			continue
		}
		for _, rt := range snap.RoutersOf(ep) {
			for _, h := range rt.Rule.Hosts() {
				if !seen[h] {
					seen[h] = true
					hosts = append(hosts, h)
				}
			}
		}
		sort.Strings(hosts)
		for _, h := range hosts {
			out.Hosts = append(out.Hosts, TLSHost{Entrypoint: ep, HostTLS: HostTLSOf(snap.TLS, ep, h, certs)})
		}
	}
	var ps config.Problems
	if errors.As(lastErr, &ps) {
		for _, p := range ps {
			if p.Path == "tls" || strings.HasPrefix(p.Path, "tls.") || strings.HasSuffix(p.Path, ".tls.options") {
				out.Refused = append(out.Refused, config.RedactURLs(p.Error()))
			}
		}
	}
	return out
}
