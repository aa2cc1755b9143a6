package acme

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"

	"github.com/usher-lb/usher/internal/config"
)

// Certificate is one name's certificate as the admin API shows it.
type Certificate struct {
	Name         string    `json:"name"`
	CertResolver string    `json:"certResolver"`
	OnDemand     bool      `json:"onDemand,omitempty"`
	Status       string    `json:"status"` // obtaining | renewing | valid | failed | stored | none
	Error        string    `json:"error,omitempty"`
	FailedAt     time.Time `json:"failedAt,omitzero"`
	Serving      string    `json:"serving"` // acme: its certificate; default: the fallback
	Subject      string    `json:"subject,omitempty"`
	SANs         []string  `json:"sans,omitempty"`
	Issuer       string    `json:"issuer,omitempty"`
	Serial       string    `json:"serial,omitempty"`
	NotBefore    time.Time `json:"notBefore,omitzero"`
	NotAfter     time.Time `json:"notAfter,omitzero"`
	// RenewAt is when renewal is due: the time chosen in the CA's ARI
	// window (RenewBy "ari"), else with a third of the lifetime left
	// (RenewBy "lifetime").
	RenewAt  time.Time `json:"renewAt,omitzero"`
	RenewBy  string    `json:"renewBy,omitempty"`
	Renewals int       `json:"renewals"`
	// File is where the certificate is stored.
	File string `json:"file,omitempty"`

	leaf *x509.Certificate
}

// Leaf is the certificate served for the name, nil when there is none.
func (c Certificate) Leaf() *x509.Certificate { return c.leaf }

// Status returns every name's certificate, sorted by name.
func (m *Manager) Status() []Certificate {
	m.mu.Lock()
	out := make([]Certificate, 0, len(m.state))
	for name, st := range m.state {
		out = append(out, st.entry(name))
	}
	m.mu.Unlock()
	for i := range out {
		m.fill(&out[i])
	}
	slices.SortFunc(out, func(a, b Certificate) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (st *certState) entry(name string) Certificate {
	return Certificate{Name: name, CertResolver: st.resolver, OnDemand: st.onDemand, Status: st.status, Error: st.err,
		FailedAt: st.failedAt, Renewals: st.renewals, Serving: "default"}
}

// fill adds what the cache serves for c.Name, and when it is due for
// renewal (from the ARI stored with it).
func (m *Manager) fill(c *Certificate) {
	var best *x509.Certificate
	for _, cc := range m.cache.AllMatchingCertificates(c.Name) {
		if cc.Leaf != nil && (best == nil || cc.Leaf.NotAfter.After(best.NotAfter)) {
			best = cc.Leaf
		}
	}
	if best == nil || !time.Now().Before(best.NotAfter) {
		return
	}
	setLeaf(c, best)
	if c.Status == "obtaining" {
		c.Status = "valid"
	}
	if r := m.resolvers[c.CertResolver]; r != nil {
		file, meta := r.storedFiles(c.Name)
		c.File = file
		if leaf, info, err := readStored(file, meta); err == nil && leaf.SerialNumber.Cmp(best.SerialNumber) == 0 {
			c.RenewAt, c.RenewBy = renewAt(best, info)
		} else {
			c.RenewAt, c.RenewBy = renewAt(best, acme.RenewalInfo{})
		}
	}
}

func setLeaf(c *Certificate, l *x509.Certificate) {
	c.leaf = l
	c.Serving = "acme"
	c.Subject = l.Subject.String()
	c.SANs = slices.Clone(l.DNSNames)
	c.Issuer = l.Issuer.CommonName
	c.Serial = l.SerialNumber.Text(16)
	c.NotBefore, c.NotAfter = l.NotBefore, l.NotAfter
}

// storedFiles returns the paths of name's certificate and metadata in r's
// storage (certmagic's layout).
func (r *resolver) storedFiles(name string) (cert, meta string) {
	return storedFiles(r.storage, r.issuerKey, name)
}

func storedFiles(dir, issuerKey, name string) (cert, meta string) {
	return filepath.Join(dir, filepath.FromSlash(certmagic.StorageKeys.SiteCert(issuerKey, name))),
		filepath.Join(dir, filepath.FromSlash(certmagic.StorageKeys.SiteMeta(issuerKey, name)))
}

// readStored reads a stored certificate (its leaf) and the renewal
// information kept beside it.
func readStored(certFile, metaFile string) (*x509.Certificate, acme.RenewalInfo, error) {
	var ari acme.RenewalInfo
	b, err := os.ReadFile(certFile)
	if err != nil {
		return nil, ari, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, ari, fmt.Errorf("%s: no PEM certificate", certFile)
	}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, ari, fmt.Errorf("%s: %w", certFile, err)
	}
	if mb, err := os.ReadFile(metaFile); err == nil {
		var meta struct {
			IssuerData struct {
				RenewalInfo *acme.RenewalInfo `json:"renewal_info"`
			} `json:"issuer_data"`
		}
		if json.Unmarshal(mb, &meta) == nil && meta.IssuerData.RenewalInfo != nil {
			ari = *meta.IssuerData.RenewalInfo
		}
	}
	return leaf, ari, nil
}

// renewAt is when certmagic renews leaf: at the time it chose in the ARI
// window, else at the window's start, else with a third of the lifetime
// left (certmagic's default ratio).
func renewAt(leaf *x509.Certificate, ari acme.RenewalInfo) (time.Time, string) {
	switch {
	case !ari.SelectedTime.IsZero():
		return ari.SelectedTime, "ari"
	case !ari.SuggestedWindow.Start.IsZero():
		return ari.SuggestedWindow.Start, "ari"
	}
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	return leaf.NotAfter.Add(-time.Duration(float64(life) * certmagic.DefaultRenewalWindowRatio)), "lifetime"
}

// HostCert is what the certResolvers serve a handshake for a host.
type HostCert struct {
	// Source is acme (a router lists the name) or onDemand (obtained during
	// a handshake, when ask approves it).
	Source string `json:"source"`
	Certificate
}

// ForHost tells what the certResolvers serve a handshake for host on
// entrypoint ep, live; ok is false when they leave host to the static
// certificates. A HostCert without a Leaf is a managed name with no
// certificate yet: static serves it if it names it, else the default.
func (m *Manager) ForHost(ep, host string, static Static) (HostCert, bool) {
	host = normalize(host)
	if name, r := m.managedName(host); r != nil {
		m.mu.Lock()
		st := m.state[name]
		c := Certificate{Name: name, CertResolver: r.name, Status: "obtaining", Serving: "default"}
		if st != nil {
			c = st.entry(name)
		}
		m.mu.Unlock()
		m.fill(&c)
		return HostCert{Source: "acme", Certificate: c}, true
	}
	od := m.resolvers[m.epRes[ep]]
	if od == nil || od.od == nil || host == "" || (static != nil && static.Covers(host)) {
		return HostCert{}, false
	}
	m.mu.Lock()
	st := m.state[host]
	c := Certificate{Name: host, CertResolver: od.name, OnDemand: true, Status: "none", Serving: "default"}
	if st != nil {
		c = st.entry(host)
	}
	m.mu.Unlock()
	m.fill(&c)
	return HostCert{Source: "onDemand", Certificate: c}, true
}

// Offline tells what a config's certResolvers would serve from what their
// storage holds, without a CA or a running usher: usher explain.
type Offline struct {
	names map[string]string // managed name → resolver
	epRes map[string]string // entrypoint → its certResolver
	res   map[string]offlineResolver
}

type offlineResolver struct {
	storage, issuerKey string
	onDemand           bool
}

// Stored reads cfg's certResolvers for Offline.ForHost.
func Stored(cfg *config.Config, o Options) *Offline {
	off := &Offline{names: Names(cfg), epRes: map[string]string{}, res: map[string]offlineResolver{}}
	for name, ep := range cfg.Entrypoints {
		if ep != nil && ep.TLS != nil && ep.TLS.CertResolver != "" {
			off.epRes[name] = ep.TLS.CertResolver
		}
	}
	for name, r := range cfg.CertResolvers {
		if r == nil || r.ACME == nil {
			continue
		}
		off.res[name] = offlineResolver{
			storage:   storageDir(r.ACME, o),
			issuerKey: (&certmagic.ACMEIssuer{CA: caServer(r.ACME)}).IssuerKey(),
			onDemand:  r.ACME.OnDemand != nil,
		}
	}
	return off
}

// ForHost is Manager.ForHost from storage: Status is "stored" when a
// certificate is stored for the name, "none" when none is (usher obtains
// it at start), with the reason it cannot be read in Error.
func (o *Offline) ForHost(ep, host string, static Static) (HostCert, bool) {
	host = normalize(host)
	name, rn := host, o.names[host]
	if rn == "" {
		if i := strings.IndexByte(host, '.'); i > 0 {
			name, rn = "*"+host[i:], o.names["*"+host[i:]]
		}
	}
	source := "acme"
	if rn == "" {
		rn, name, source = o.epRes[ep], host, "onDemand"
		if r, ok := o.res[rn]; !ok || !r.onDemand || host == "" || (static != nil && static.Covers(host)) {
			return HostCert{}, false
		}
	}
	r, ok := o.res[rn]
	if !ok {
		return HostCert{}, false
	}
	c := Certificate{Name: name, CertResolver: rn, OnDemand: source == "onDemand", Status: "none", Serving: "default"}
	certFile, metaFile := storedFiles(r.storage, r.issuerKey, name)
	leaf, ari, err := readStored(certFile, metaFile)
	switch {
	case err == nil:
		setLeaf(&c, leaf)
		c.File, c.Status = certFile, "stored"
		c.RenewAt, c.RenewBy = renewAt(leaf, ari)
		if !time.Now().Before(leaf.NotAfter) {
			c.Status, c.Serving = "expired", "default"
		}
	case errors.Is(err, os.ErrNotExist):
	default:
		c.Error = err.Error()
	}
	return HostCert{Source: source, Certificate: c}, true
}
