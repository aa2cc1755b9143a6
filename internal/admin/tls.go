package admin

import (
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/runtime"
)

// tlsView is /api/tls: the certificates loaded, and for each host a router
// names on each TLS entrypoint, the certificate and options its handshake
// gets; refused is what the last refused reload said about the tls section
// (the certificates shown are still those serving).
type tlsView struct {
	Certificates []runtime.CertInfo `json:"certificates"`
	Hosts        []tlsHost          `json:"hosts"`
	Refused      []string           `json:"refused"`
}

type tlsHost struct {
	Entrypoint string `json:"entrypoint"`
	runtime.HostCert
}

func (a *admin) tls(w http.ResponseWriter, r *http.Request) {
	v := a.view(w)
	if v == nil {
		return
	}
	writeJSON(w, http.StatusOK, tlsOf(v.snap, v.status.LastError))
}

func tlsOf(snap *runtime.Snapshot, lastErr error) tlsView {
	out := tlsView{Certificates: snap.TLS.Certificates(), Hosts: []tlsHost{}, Refused: []string{}}
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
			out.Hosts = append(out.Hosts, tlsHost{Entrypoint: ep, HostCert: snap.TLS.ForHost(ep, h)})
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
