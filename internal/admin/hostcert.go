package admin

import (
	"fmt"
	"time"

	"github.com/usher-lb/usher/internal/acme"
	"github.com/usher-lb/usher/internal/runtime"
)

// HostTLS is what a handshake for a host gets: the certificate and options
// (runtime.HostCert), where the certificate comes from, and for one a
// certResolver obtains, its state and renewal.
type HostTLS struct {
	runtime.HostCert
	// Source is file (the tls section), acme (a certResolver, for a name a
	// router lists), onDemand (obtained during a handshake when ask
	// approves the name), default (usher's self-signed certificate) or
	// none (the handshake fails).
	Source       string `json:"source"`
	CertResolver string `json:"certResolver,omitempty"`
	// ACME is the state of the managed name, when a certResolver takes the
	// host: status, last error, renewal time.
	ACME *acme.Certificate `json:"acme,omitempty"`
}

// CertLookup tells what the certResolvers serve for a host on an
// entrypoint (acme.Manager.ForHost live, acme.Offline.ForHost from storage).
type CertLookup func(ep, host string, static acme.Static) (acme.HostCert, bool)

// HostTLSOf says what a handshake on ep for host gets from set (the tls
// section) and certs (the certResolvers; nil when there are none).
func HostTLSOf(set *runtime.TLSSet, ep, host string, certs CertLookup) HostTLS {
	out := HostTLS{HostCert: set.ForHost(ep, host), Source: "none"}
	if out.Certificate != nil {
		out.Source = "file"
	}
	if certs == nil {
		return out
	}
	host = out.Host
	ac, ok := certs(ep, host, set)
	if !ok {
		if !set.HasCertificates() {
			// With certResolvers, a handshake no certificate fits gets
			// the self-signed default instead of failing.
			out.Source = "default"
			out.Why = "no certificate names " + host + " and no certResolver takes it: usher's self-signed default certificate is served"
		}
		return out
	}
	out.CertResolver, out.ACME = ac.CertResolver, &ac.Certificate
	state := ac.Status
	if ac.Error != "" {
		state += ": " + ac.Error
	}
	switch leaf := ac.Leaf(); {
	case leaf != nil:
		ci := runtime.InfoOf(leaf, ac.File, time.Now())
		out.Certificate, out.Source = &ci, ac.Source
		if ac.Source == "onDemand" {
			out.Why = fmt.Sprintf("certResolver %s obtained it on demand (ask approved %s)", ac.CertResolver, host)
		} else {
			out.Why = fmt.Sprintf("certResolver %s manages %s", ac.CertResolver, ac.Name)
		}
		out.Why += fmt.Sprintf(" (%s); renewal due %s", state, ac.RenewAt.UTC().Format(time.RFC3339))
		if ac.RenewBy == "ari" {
			out.Why += " (the CA's ARI window)"
		} else {
			out.Why += " (a third of its lifetime left)"
		}
	case ac.Source == "onDemand":
		out.Certificate, out.Source = nil, "default"
		out.Why = fmt.Sprintf("certResolver %s obtains a certificate for %s on demand, during its first handshake, if ask approves it (%s); until then usher's self-signed default certificate is served", ac.CertResolver, host, state)
	case set.Covers(host):
		out.Source = "file"
		out.Why = fmt.Sprintf("certResolver %s manages %s but has no certificate for it yet (%s); a certificate file names %s and serves meanwhile", ac.CertResolver, ac.Name, state, host)
	default:
		out.Certificate, out.Source = nil, "default"
		out.Why = fmt.Sprintf("certResolver %s manages %s but has no certificate for it yet (%s): usher's self-signed default certificate is served meanwhile", ac.CertResolver, ac.Name, state)
	}
	return out
}
