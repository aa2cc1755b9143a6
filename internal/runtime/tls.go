package runtime

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usher-lb/usher/internal/config"
)

// TLSSet is the compiled tls section: certificates chosen by SNI and the named
// option sets, and which option set each host of each entrypoint gets.
// Entrypoints ask the running snapshot's TLSSet on each handshake, so a reload
// changes certificates and options without a restart.
type TLSSet struct {
	certs    []*certEntry
	byName   map[string][]*certEntry // lowercase DNS name or "*.suffix", in config order
	defaults []*certEntry            // what a client gets whose SNI no certificate covers
	options  map[string]*tls.Config
	strict   map[string]bool // options with sniStrict

	epOptions map[string]string            // entrypoint → its tls.options ("default")
	sni       map[string]map[string]string // entrypoint → host → options of the router with that Host

	tickets   *TicketKeys
	ticketGen atomic.Uint64
	ticketMu  sync.Mutex
}

type certEntry struct {
	cert     tls.Certificate
	leaf     *x509.Certificate
	names    []string // lowercase DNS names, else the common name
	ecdsa    bool
	certFile string
	keyFile  string
	staple   *staple // its OCSP response, when it names a responder (ocsp.go)
}

// ConfigFor returns the server tls.Config of a handshake on entrypoint ep for
// the client's SNI: the options of the router whose Host rule names it, else
// the entrypoint's.
func (t *TLSSet) ConfigFor(ep, serverName string) *tls.Config {
	t.freshTickets()
	return t.options[t.OptionsFor(ep, serverName)]
}

// Config returns the server tls.Config of the named options ("" = default).
func (t *TLSSet) Config(name string) *tls.Config {
	t.freshTickets()
	if c, ok := t.options[name]; ok {
		return c
	}
	return t.options["default"]
}

// OptionsFor returns the name of the options a handshake on entrypoint ep
// for serverName is made with.
func (t *TLSSet) OptionsFor(ep, serverName string) string {
	if hosts := t.sni[ep]; hosts != nil {
		if o, ok := hosts[normSNI(serverName)]; ok {
			return o
		}
	}
	if o, ok := t.epOptions[ep]; ok {
		if _, ok := t.options[o]; ok {
			return o
		}
	}
	return "default"
}

// Misdirected tells whether a request over TLS names a host whose TLS
// options differ from those its connection was made with (by its SNI): a
// client that sends the SNI of a host with lax options and then the Host of
// one that asks for client certificates must not get past them. Such a
// request gets 421 (Misdirected Request), on which browsers retry on a new
// connection. As with Traefik, hosts are compared, not routers: a catch-all
// router serves a host with options of its own under those options.
func (t *TLSSet) Misdirected(ep string, r *http.Request) bool {
	if r.TLS == nil || t == nil || len(t.sni[ep]) == 0 {
		return false
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return t.OptionsFor(ep, host) != t.OptionsFor(ep, r.TLS.ServerName)
}

func normSNI(s string) string {
	return strings.ToLower(strings.TrimSuffix(s, "."))
}

// Expiry returns when each certificate expires, by its first DNS name (or its
// subject's common name); of two for one name (RSA and ECDSA), the sooner.
func (t *TLSSet) Expiry() map[string]time.Time {
	out := make(map[string]time.Time, len(t.certs))
	for _, c := range t.certs {
		n := c.names[0]
		if at, ok := out[n]; !ok || c.leaf.NotAfter.Before(at) {
			out[n] = c.leaf.NotAfter
		}
	}
	return out
}

// HasCertificates tells whether any certificate is configured.
func (t *TLSSet) HasCertificates() bool { return len(t.certs) > 0 }

// TicketGeneration is the generation of the session ticket keys the set's
// configs hold (ConfigFor brings them up to date): a config cloned from one
// of them holds stale keys once it changes.
func (t *TLSSet) TicketGeneration() uint64 { return t.ticketGen.Load() }

// Covers tells whether a certificate names name (or its wildcard).
func (t *TLSSet) Covers(name string) bool { return t.candidates(name) != nil }

// getCertificate picks the certificate of a handshake: the certificates for
// the exact name, else for its wildcard, else the first certificate's (unless
// strict); among them the first ECDSA one the client can use (smaller and
// cheaper to sign with than RSA), else the first it can use.
func (t *TLSSet) getCertificate(hello *tls.ClientHelloInfo, strict bool) (*tls.Certificate, error) {
	cands := t.candidates(hello.ServerName)
	if cands == nil {
		if strict {
			if hello.ServerName == "" {
				return nil, errors.New("no SNI, and sniStrict is on")
			}
			return nil, fmt.Errorf("no certificate for %q, and sniStrict is on", hello.ServerName)
		}
		cands = t.defaults
	}
	if len(cands) == 0 {
		return nil, errors.New("no certificate configured")
	}
	return pick(hello, cands).serving(), nil
}

func (t *TLSSet) candidates(serverName string) []*certEntry {
	name := normSNI(serverName)
	if name == "" {
		return nil
	}
	if c := t.byName[name]; c != nil {
		return c
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		return t.byName["*"+name[i:]]
	}
	return nil
}

func pick(hello *tls.ClientHelloInfo, cands []*certEntry) *certEntry {
	var first *certEntry
	for _, c := range cands {
		if hello != nil && hello.SupportsCertificate(&c.cert) != nil {
			continue
		}
		if c.ecdsa {
			return c
		}
		if first == nil {
			first = c
		}
	}
	if first == nil {
		first = cands[0] // the handshake then fails with the reason
	}
	return first
}

// CertInfo describes a certificate for people: the admin API and usher explain.
type CertInfo struct {
	Subject   string    `json:"subject"`
	Names     []string  `json:"names"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	Key       string    `json:"key"` // "ECDSA P-256", "RSA 2048"
	CertFile  string    `json:"certFile"`
	Expired   bool      `json:"expired"`
}

func (c *certEntry) info(now time.Time) CertInfo {
	ci := InfoOf(c.leaf, c.certFile, now)
	ci.Names = slices.Clone(c.names)
	return ci
}

// InfoOf describes leaf, read from certFile, at now.
func InfoOf(l *x509.Certificate, certFile string, now time.Time) CertInfo {
	names := slices.Clone(l.DNSNames)
	for _, ip := range l.IPAddresses {
		names = append(names, ip.String())
	}
	return CertInfo{
		Subject: l.Subject.String(), Names: names, Issuer: l.Issuer.String(),
		Serial: l.SerialNumber.Text(16), NotBefore: l.NotBefore, NotAfter: l.NotAfter,
		Key: keyKind(l), CertFile: certFile, Expired: now.After(l.NotAfter),
	}
}

func keyKind(l *x509.Certificate) string {
	switch k := l.PublicKey.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return l.PublicKeyAlgorithm.String()
}

// Certificates describes every certificate, in config order.
func (t *TLSSet) Certificates() []CertInfo {
	now := time.Now()
	out := make([]CertInfo, len(t.certs))
	for i, c := range t.certs {
		out[i] = c.info(now)
	}
	return out
}

// HostCert tells which certificate a client that sends host as SNI gets on
// entrypoint ep (one that takes ECDSA, as every current client does), with
// which options, and why. cert is nil when the handshake fails.
type HostCert struct {
	Host        string    `json:"host"`
	Options     string    `json:"options"`
	Certificate *CertInfo `json:"certificate"`
	Why         string    `json:"why"`
}

// ForHost returns what a handshake on ep for host gets.
func (t *TLSSet) ForHost(ep, host string) HostCert {
	host = normSNI(host)
	hc := HostCert{Host: host, Options: t.OptionsFor(ep, host)}
	cands := t.candidates(host)
	switch {
	case cands != nil:
		hc.Why = "a certificate names " + host
	case len(t.certs) == 0:
		hc.Why = "no certificate is configured: the handshake fails"
		return hc
	case t.strict[hc.Options]:
		hc.Why = "no certificate names " + host + ", and options " + hc.Options + " have sniStrict: the handshake fails"
		return hc
	default:
		cands = t.defaults
		hc.Why = "no certificate names " + host + ": the first certificate is served"
	}
	ci := pick(nil, cands).info(time.Now())
	hc.Certificate = &ci
	if ci.Expired {
		hc.Why += "; it has expired"
	}
	return hc
}

// compileTLS loads the tls section. Each problem names the key and the file
// at fault; any problem refuses the snapshot, so that the running
// certificates keep serving.
func compileTLS(c *compiler, snap *Snapshot) *TLSSet {
	cfg := c.cfg
	set := &TLSSet{
		byName: map[string][]*certEntry{}, options: map[string]*tls.Config{}, strict: map[string]bool{},
		epOptions: map[string]string{}, sni: map[string]map[string]string{},
		tickets: c.st.ticketKeys(),
	}
	var tc config.TLS
	if cfg.TLS != nil {
		tc = *cfg.TLS
	}
	now := time.Now()
	for i, cc := range tc.Certificates {
		p := fmt.Sprintf("tls.certificates[%d]", i)
		e, field, err := loadCertificate(cc)
		if err != nil {
			c.problem(p+field, "%v", err)
			continue
		}
		if now.After(e.leaf.NotAfter) && c.st.Log != nil {
			c.st.Log.Warn("certificate has expired: clients refuse it", "certFile", cc.CertFile, "notAfter", e.leaf.NotAfter)
		}
		set.certs = append(set.certs, e)
		for _, n := range e.names {
			set.byName[n] = append(set.byName[n], e)
		}
	}
	if len(set.certs) > 0 {
		set.defaults = set.byName[set.certs[0].names[0]]
	}
	if tc.Options["default"] == nil {
		set.options["default"] = set.serverConfig(&config.TLSOptions{})
	}
	for _, name := range sortedKeys(tc.Options) {
		o := tc.Options[name]
		if o == nil {
			o = &config.TLSOptions{}
		}
		sc := set.serverConfig(o)
		if ca := o.ClientAuth; ca != nil && len(ca.CAFiles) > 0 {
			pool := x509.NewCertPool()
			for i, f := range ca.CAFiles {
				p := fmt.Sprintf("tls.options.%s.clientAuth.caFiles[%d]", name, i)
				pem, err := os.ReadFile(f)
				if err != nil {
					c.problem(p, "%v", err)
					continue
				}
				if !pool.AppendCertsFromPEM(pem) {
					c.problem(p, "no PEM certificate in %s", f)
				}
			}
			sc.ClientCAs = pool
		}
		set.options[name] = sc
		set.strict[name] = o.SNIStrict
	}
	for name, ep := range cfg.Entrypoints {
		if ep != nil && ep.TLS != nil {
			set.epOptions[name] = cmpOr(ep.TLS.Options, "default")
		}
	}
	// Per-router options: each Host of the router, on each of its TLS
	// entrypoints, gets them at the handshake.
	var routers map[string]*config.Router
	if cfg.HTTP != nil {
		routers = cfg.HTTP.Routers
	}
	from := map[string]map[string]string{} // entrypoint → host → router, for conflicts
	for _, name := range sortedKeys(routers) {
		r, rt := routers[name], snap.Routers[name]
		if r == nil || r.TLS == nil || r.TLS.Options == "" || rt == nil {
			continue
		}
		for _, ep := range rt.Entrypoints {
			if _, isTLS := set.epOptions[ep]; !isTLS {
				continue
			}
			if set.sni[ep] == nil {
				set.sni[ep], from[ep] = map[string]string{}, map[string]string{}
			}
			for _, h := range rt.Rule.Hosts() {
				if prev, ok := set.sni[ep][h]; ok && prev != r.TLS.Options {
					c.problem("http.routers."+name+".tls.options", "host %s on entrypoint %s has TLS options %q from router %s: one host has one set of options, chosen during the handshake", h, ep, prev, from[ep][h])
					continue
				}
				set.sni[ep][h], from[ep][h] = r.TLS.Options, name
			}
		}
	}
	set.ticketGen.Store(0)
	set.freshTickets()
	return set
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// loadCertificate reads a certificate and its key. The error says which file
// and why (field is the key at fault, ".certFile", ".keyFile", or "").
func loadCertificate(cc config.Certificate) (e *certEntry, field string, err error) {
	certPEM, err := os.ReadFile(cc.CertFile)
	if err != nil {
		return nil, ".certFile", err
	}
	keyPEM, err := os.ReadFile(cc.KeyFile)
	if err != nil {
		return nil, ".keyFile", err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "tls: ")
		switch {
		case strings.Contains(msg, "certificate input"):
			return nil, ".certFile", fmt.Errorf("%s: %s", cc.CertFile, msg)
		case strings.Contains(msg, "key input"):
			return nil, ".keyFile", fmt.Errorf("%s: %s", cc.KeyFile, msg)
		}
		return nil, "", fmt.Errorf("%s and %s: %s", cc.CertFile, cc.KeyFile, msg)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, ".certFile", fmt.Errorf("%s: %v", cc.CertFile, err)
		}
		cert.Leaf = leaf
	}
	e = &certEntry{cert: cert, leaf: leaf, certFile: cc.CertFile, keyFile: cc.KeyFile}
	_, e.ecdsa = cert.PrivateKey.(*ecdsa.PrivateKey)
	for _, n := range leaf.DNSNames {
		n = normSNI(n)
		if !slices.Contains(e.names, n) {
			e.names = append(e.names, n)
		}
	}
	if len(e.names) == 0 && leaf.Subject.CommonName != "" {
		e.names = []string{normSNI(leaf.Subject.CommonName)}
	}
	if len(e.names) == 0 {
		for _, ip := range leaf.IPAddresses {
			e.names = append(e.names, ip.String())
		}
	}
	if len(e.names) == 0 {
		e.names = []string{"(no name)"}
	}
	return e, "", nil
}

func (t *TLSSet) serverConfig(o *config.TLSOptions) *tls.Config {
	strict := o.SNIStrict
	c := &tls.Config{
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			return t.getCertificate(hello, strict)
		},
		MinVersion: tlsVersion(o.MinVersion, tls.VersionTLS12),
		MaxVersion: tlsVersion(o.MaxVersion, tls.VersionTLS13),
		NextProtos: []string{"h2", "http/1.1"},
		// Records of up to 16 KiB from the first byte, as nginx and HAProxy
		// send them: Go's default starts a connection with records of one
		// segment, so a small response takes two records and two writes.
		DynamicRecordSizingDisabled: true,
	}
	if len(o.ALPNProtocols) > 0 {
		c.NextProtos = slices.Clone(o.ALPNProtocols)
	}
	for _, n := range o.CipherSuites {
		if id, ok := config.TLS12CipherSuite(n); ok {
			c.CipherSuites = append(c.CipherSuites, id)
		}
	}
	for _, n := range o.CurvePreferences {
		if id, ok := config.TLSCurve(n); ok {
			c.CurvePreferences = append(c.CurvePreferences, id)
		}
	}
	if ca := o.ClientAuth; ca != nil {
		switch ca.Mode {
		case "request":
			c.ClientAuth = tls.RequestClientCert
		case "require":
			c.ClientAuth = tls.RequireAnyClientCert
		case "verifyIfGiven":
			c.ClientAuth = tls.VerifyClientCertIfGiven
		case "verify":
			c.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return c
}

func tlsVersion(s string, def uint16) uint16 {
	switch s {
	case "1.2":
		return tls.VersionTLS12
	case "1.3":
		return tls.VersionTLS13
	}
	return def
}

// freshTickets gives the set's configs the current session ticket keys when
// they rotated since it last did: one atomic load per handshake otherwise.
func (t *TLSSet) freshTickets() {
	if t == nil || t.tickets == nil {
		return
	}
	if t.ticketGen.Load() == t.tickets.generation() {
		return
	}
	t.ticketMu.Lock()
	defer t.ticketMu.Unlock()
	keys, gen := t.tickets.current()
	if t.ticketGen.Load() == gen {
		return
	}
	for _, c := range t.options {
		c.SetSessionTicketKeys(keys)
	}
	t.ticketGen.Store(gen)
}
