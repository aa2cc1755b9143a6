// Package acme obtains and renews certificates for the names routers serve,
// from an ACME CA (Let's Encrypt, Pebble, a private one), with certmagic:
// the certResolvers of the static config. It answers the HTTP-01 challenge
// on plain entrypoints and the TLS-ALPN-01 challenge on TLS entrypoints,
// picks a managed certificate during each handshake, obtains certificates
// on demand when an ask URL approves the name, and tells what it did
// (Status, for the admin API). A name without a certificate (yet, or because
// the CA refused it) gets the static certificates, or a self-signed default
// one: the handshake goes on, the client sees a certificate it does not
// trust, and the failure is logged once and shown by the admin API.
package acme

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
	"github.com/mholt/acmez/v3/acme"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/rule"
)

// Options are what a Manager needs besides the config.
type Options struct {
	Log       *slog.Logger
	DataDir   string // storage's default parent: DataDir/acme
	ConfigDir string // relative storage paths are relative to it
	// HTTPAddr and TLSAddr are where usher listens on a plain and on a TLS
	// entrypoint (host:port, port resolved): where the challenges are
	// answered. The CA asks on ports 80 and 443 of the name; these are the
	// entrypoints that should be there.
	HTTPAddr, TLSAddr string
	// Metrics is told each attempt's result and each on-demand decision;
	// nil counts nothing.
	Metrics Recorder
}

// Recorder counts what the certResolvers do (observe.ACMEMetrics).
type Recorder interface {
	// Resolver is called once per certResolver, before anything is counted.
	Resolver(name string, onDemand bool)
	// Issued counts one attempt to obtain (renewal false) or renew.
	Issued(resolver string, renewal, ok bool)
	// OnDemand counts one decision: allowed, denied, rate_limited, error.
	OnDemand(resolver, decision string)
}

type noRecorder struct{}

func (noRecorder) Resolver(string, bool)     {}
func (noRecorder) Issued(string, bool, bool) {}
func (noRecorder) OnDemand(string, string)   {}

// Manager is every certResolver of a config, sharing one certificate cache.
type Manager struct {
	log       *slog.Logger
	rec       Recorder
	cache     *certmagic.Cache
	resolvers map[string]*resolver
	order     []string          // resolver names, sorted
	epRes     map[string]string // entrypoint → its tls.certResolver
	def       tls.Certificate   // served when nothing else fits
	ctx       context.Context
	cancel    context.CancelFunc

	names atomic.Pointer[map[string]*resolver] // managed name → resolver

	mu      sync.Mutex
	managed map[string]string // name → resolver name, asked of certmagic
	state   map[string]*certState
	derived map[derivedKey]*tls.Config // handshake configs, by entrypoint and base
	alpn    *tls.Config
}

type resolver struct {
	name      string
	challenge string
	storage   string            // directory
	issuerKey string            // certmagic's storage key of the CA
	cfg       *certmagic.Config // names listed by routers
	issuer    *certmagic.ACMEIssuer
	od        *certmagic.Config // names approved by ask; nil without onDemand
	odIssuer  *certmagic.ACMEIssuer
	ask       string
	limit     *bucket
	approved  sync.Map // name → struct{}: asked and approved once
	askClient *http.Client
}

// derivedKey names a derived handshake config: an entrypoint has one base
// per set of TLS options its hosts use, and new ones with each snapshot.
type derivedKey struct {
	ep   string
	base *tls.Config
	// tickets is the generation of base's session ticket keys: a clone
	// keeps the keys base had, so a rotation needs a new one.
	tickets uint64
}

// maxDerived bounds the derived configs kept: those of past snapshots are
// dropped all at once when it is reached.
const maxDerived = 256

// certState is what is known of one name's certificate.
type certState struct {
	resolver string
	onDemand bool
	status   string // obtaining | renewing | valid | failed
	err      string
	logged   string // the last error logged, so that each reason is logged once
	renewals int
	obtained time.Time
	failedAt time.Time
}

// New builds the certResolvers of cfg. It starts nothing: certificates are
// asked for by Sync.
func New(cfg *config.Config, o Options) (*Manager, error) {
	m := &Manager{
		log:       o.Log.With("component", "acme"),
		resolvers: map[string]*resolver{},
		epRes:     map[string]string{},
		managed:   map[string]string{},
		state:     map[string]*certState{},
		derived:   map[derivedKey]*tls.Config{},
		rec:       o.Metrics,
	}
	if m.rec == nil {
		m.rec = noRecorder{}
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	def, err := selfSigned()
	if err != nil {
		return nil, err
	}
	m.def = def
	for name, ep := range cfg.Entrypoints {
		if ep != nil && ep.TLS != nil && ep.TLS.CertResolver != "" {
			m.epRes[name] = ep.TLS.CertResolver
		}
	}
	check := 10 * time.Minute
	for _, r := range cfg.CertResolvers {
		if r != nil && r.ACME != nil && r.ACME.RenewCheckInterval > 0 {
			check = min(check, r.ACME.RenewCheckInterval.D())
		}
	}
	zl := zapToSlog(o.Log)
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   m.configForCert,
		RenewCheckInterval: check,
		OCSPCheckInterval:  max(check, time.Hour),
		Logger:             zl,
	})
	for _, name := range sortedKeys(cfg.CertResolvers) {
		r, err := m.newResolver(name, cfg.CertResolvers[name].ACME, o)
		if err != nil {
			m.cache.Stop()
			return nil, fmt.Errorf("certResolvers.%s: %w", name, err)
		}
		m.resolvers[name] = r
		m.order = append(m.order, name)
		m.rec.Resolver(name, r.od != nil)
	}
	m.alpn = &tls.Config{
		NextProtos:     []string{acmez.ACMETLS1Protocol},
		GetCertificate: m.alpnCertificate,
		MinVersion:     tls.VersionTLS12,
	}
	empty := map[string]*resolver{}
	m.names.Store(&empty)
	return m, nil
}

func (m *Manager) newResolver(name string, a *config.ACME, o Options) (*resolver, error) {
	r := &resolver{name: name, challenge: a.Challenge}
	if r.challenge == "" {
		r.challenge = "http-01"
	}
	dir := storageDir(a, o)
	r.storage = dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	var roots *x509.CertPool
	if a.CARoots != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(a.CARoots)
		if err != nil {
			return nil, fmt.Errorf("caRoots: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("caRoots: no PEM certificate in %s", a.CARoots)
		}
		roots = pool
	}
	ca := caServer(a)
	r.issuerKey = (&certmagic.ACMEIssuer{CA: ca}).IssuerKey()
	zl := zapToSlog(o.Log)
	storage := fileStorage{&certmagic.FileStorage{Path: dir}}
	tmpl := certmagic.ACMEIssuer{
		CA:                      ca,
		Email:                   a.Email,
		Agreed:                  true,
		DisableHTTPChallenge:    r.challenge != "http-01",
		DisableTLSALPNChallenge: r.challenge != "tls-alpn-01",
		TrustedRoots:            roots,
		Logger:                  zl,
	}
	// certmagic listens on the challenge's port itself unless the port is
	// taken: pointing it at usher's own entrypoint makes it find the port
	// taken and leave the answer to usher, which answers before routing.
	if host, port, ok := splitPort(o.HTTPAddr); ok {
		tmpl.AltHTTPPort = port
		if r.challenge == "http-01" {
			tmpl.ListenHost = host
		}
	}
	if host, port, ok := splitPort(o.TLSAddr); ok {
		tmpl.AltTLSALPNPort = port
		if r.challenge == "tls-alpn-01" {
			tmpl.ListenHost = host
		}
	}
	if a.Challenge == "dns-01" && a.DNS != nil {
		ttl := a.DNS.TTL.D()
		if ttl <= 0 {
			ttl = time.Minute
		}
		tmpl.DNS01Solver = &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{
			DNSProvider:        newRFC2136(a.DNS),
			TTL:                ttl,
			PropagationTimeout: a.DNS.PropagationTimeout.D(),
			// Asked for the zone (SOA) and for the record before the CA
			// is told to look: the primary has it first.
			Resolvers: []string{newRFC2136(a.DNS).server},
			Logger:    zl,
		}}
	}
	build := func(onDemand bool) (*certmagic.Config, *certmagic.ACMEIssuer) {
		c := certmagic.New(m.cache, certmagic.Config{
			Storage: storage,
			Logger:  zl,
			OnEvent: func(ctx context.Context, event string, data map[string]any) error {
				m.onEvent(r.name, onDemand, event, data)
				return nil
			},
		})
		iss := certmagic.NewACMEIssuer(c, tmpl)
		c.Issuers = []certmagic.Issuer{iss}
		return c, iss
	}
	r.cfg, r.issuer = build(false)
	if od := a.OnDemand; od != nil {
		r.ask = od.Ask
		r.askClient = &http.Client{Timeout: 5 * time.Second}
		avg, period, burst := int64(10), time.Minute, int64(0)
		if rl := od.RateLimit; rl != nil {
			avg, burst = rl.Average, rl.Burst
			if rl.Period > 0 {
				period = rl.Period.D()
			}
		}
		if burst <= 0 {
			burst = avg
		}
		r.limit = newBucket(avg, period, burst)
		r.od, r.odIssuer = build(true)
		r.od.OnDemand = &certmagic.OnDemandConfig{DecisionFunc: m.decide(r)}
	}
	return r, nil
}

func storageDir(a *config.ACME, o Options) string {
	dir := a.Storage
	switch {
	case dir == "":
		dir = filepath.Join(o.DataDir, "acme")
	case !filepath.IsAbs(dir):
		dir = filepath.Join(o.ConfigDir, dir)
	}
	return dir
}

func caServer(a *config.ACME) string {
	if a.CAServer == "" {
		return certmagic.LetsEncryptProductionCA
	}
	return a.CAServer
}

// Close stops renewals and the cache's maintenance.
func (m *Manager) Close() {
	m.cancel()
	m.cache.Stop()
}

// configForCert tells certmagic's maintenance which resolver a cached
// certificate belongs to.
func (m *Manager) configForCert(c certmagic.Certificate) (*certmagic.Config, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range c.Names {
		if st := m.state[n]; st != nil {
			if r := m.resolvers[st.resolver]; r != nil {
				if st.onDemand && r.od != nil {
					return r.od, nil
				}
				return r.cfg, nil
			}
		}
	}
	if len(m.order) == 0 {
		return nil, errors.New("no certResolver")
	}
	return m.resolvers[m.order[0]].cfg, nil
}

// Sync asks for certificates for the names cfg's routers serve: the Host
// names of the rule, and tls.domains, of each router with tls.certResolver
// or on an entrypoint with one. It is called with every configuration
// applied; names seen before are left to renewal.
func (m *Manager) Sync(cfg *config.Config) {
	want := Names(cfg)
	names := make(map[string]*resolver, len(want))
	fresh := map[string][]string{}
	m.mu.Lock()
	for name, rn := range want {
		r := m.resolvers[rn]
		if r == nil {
			continue
		}
		names[name] = r
		if m.managed[name] == rn {
			continue
		}
		m.managed[name] = rn
		fresh[rn] = append(fresh[rn], name)
		if st := m.state[name]; st == nil || st.resolver != rn {
			m.state[name] = &certState{resolver: rn, status: "obtaining"}
		}
	}
	m.mu.Unlock()
	m.names.Store(&names)
	for _, rn := range sortedKeys(fresh) {
		list := fresh[rn]
		sort.Strings(list)
		m.log.Info("managing certificates", "certResolver", rn, "names", list)
		if err := m.resolvers[rn].cfg.ManageAsync(m.ctx, list); err != nil {
			m.log.Error("cannot manage certificates", "certResolver", rn, "names", list, "error", err.Error())
		}
	}
}

// Names returns the names a config's routers need certificates for, each
// with its certResolver's name.
func Names(cfg *config.Config) map[string]string {
	out := map[string]string{}
	if cfg == nil || cfg.HTTP == nil {
		return out
	}
	var tlsEPs []string
	for _, name := range sortedKeys(cfg.Entrypoints) {
		if ep := cfg.Entrypoints[name]; ep != nil && ep.TLS != nil && (ep.Protocol == "" || ep.Protocol == "http") {
			tlsEPs = append(tlsEPs, name)
		}
	}
	for _, name := range sortedKeys(cfg.HTTP.Routers) {
		rt := cfg.HTTP.Routers[name]
		if rt == nil {
			continue
		}
		res := ""
		if rt.TLS != nil {
			res = rt.TLS.CertResolver
		}
		if res == "" {
			eps := rt.Entrypoints
			if len(eps) == 0 {
				eps = tlsEPs
			}
			for _, e := range eps {
				if ep := cfg.Entrypoints[e]; ep != nil && ep.TLS != nil && ep.TLS.CertResolver != "" {
					res = ep.TLS.CertResolver
					break
				}
			}
		}
		if res == "" {
			continue
		}
		var hosts []string
		if hr, err := rule.ParseHTTP(rt.Rule); err == nil {
			hosts = hr.Hosts()
		}
		if rt.TLS != nil {
			for _, d := range rt.TLS.Domains {
				hosts = append(hosts, d.Main)
				hosts = append(hosts, d.SANs...)
			}
		}
		for _, h := range hosts {
			h = normalize(h)
			if h == "" || (strings.Contains(h, "*") && !strings.HasPrefix(h, "*.")) {
				continue
			}
			if _, taken := out[h]; !taken {
				out[h] = res
			}
		}
	}
	return out
}

// HandleHTTPChallenge answers an ACME HTTP-01 challenge request and tells
// whether r was one. Plain entrypoints call it before routing.
func (m *Manager) HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	if !certmagic.LooksLikeHTTPChallenge(r) {
		return false
	}
	for _, rn := range m.order {
		res := m.resolvers[rn]
		if res.challenge != "http-01" {
			continue
		}
		if res.issuer.HandleHTTPChallenge(w, r) {
			return true
		}
		if res.odIssuer != nil && res.odIssuer.HandleHTTPChallenge(w, r) {
			return true
		}
	}
	return false
}

// Static are the certificates of the tls section (runtime.TLSSet), which
// serve the names no certResolver has a certificate for.
// Covers tells whether a certificate of the tls section names a name;
// HasCertificates whether it has any. An alias, so that the server's
// CertSource can name the same type without importing this package.
type Static = interface {
	Covers(name string) bool
	HasCertificates() bool
}

// ConfigForClient returns the tls.Config of a handshake on entrypoint ep:
// the TLS-ALPN-01 challenge's for the CA's validation, otherwise base (the
// running snapshot's options for ep) with managed certificates chosen by
// SNI before the static ones (those of base.GetCertificate, described by
// static), and the default certificate last.
func (m *Manager) ConfigForClient(ep string, hello *tls.ClientHelloInfo, base *tls.Config, static Static) *tls.Config {
	if len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acmez.ACMETLS1Protocol {
		return m.alpn
	}
	m.mu.Lock()
	k := derivedKey{ep: ep, base: base}
	if g, ok := static.(interface{ TicketGeneration() uint64 }); ok {
		k.tickets = g.TicketGeneration()
	}
	out, ok := m.derived[k]
	if !ok {
		if len(m.derived) >= maxDerived {
			clear(m.derived)
		}
		out = base.Clone()
		fallback := base.GetCertificate
		out.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			return m.certificate(ep, h, static, fallback)
		}
		m.derived[k] = out
	}
	m.mu.Unlock()
	return out
}

// certificate picks the certificate of a handshake: a managed one for the
// hello's name, else a static one that names it, else an on-demand one
// (when the name is approved), else the static default (the first
// certificate of the tls section), else the self-signed default.
func (m *Manager) certificate(ep string, h *tls.ClientHelloInfo, static Static, fallback func(*tls.ClientHelloInfo) (*tls.Certificate, error)) (*tls.Certificate, error) {
	name := normalize(h.ServerName)
	orStatic := func(covered bool) (*tls.Certificate, error) {
		if fallback != nil && static != nil && (covered || static.HasCertificates()) {
			return fallback(h)
		}
		return &m.def, nil
	}
	if name == "" {
		return orStatic(false)
	}
	covered := static != nil && static.Covers(name)
	if r := m.managedBy(name); r != nil {
		if c, err := r.cfg.GetCertificate(h); err == nil && c != nil && len(c.Certificate) > 0 {
			return c, nil
		}
		if covered {
			return orStatic(true)
		}
		return &m.def, nil
	}
	od := m.resolvers[m.epRes[ep]]
	if od == nil || od.od == nil || covered {
		return orStatic(covered)
	}
	c, err := od.od.GetCertificate(h)
	if err != nil || c == nil || len(c.Certificate) == 0 {
		if err != nil {
			m.log.Debug("no on-demand certificate", "name", name, "error", err.Error())
		}
		return &m.def, nil
	}
	return c, nil
}

// managedBy returns the resolver that manages name, or its wildcard.
func (m *Manager) managedBy(name string) *resolver {
	_, r := m.managedName(name)
	return r
}

func (m *Manager) managedName(name string) (string, *resolver) {
	names := *m.names.Load()
	if r := names[name]; r != nil {
		return name, r
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if r := names["*"+name[i:]]; r != nil {
			return "*" + name[i:], r
		}
	}
	return "", nil
}

func (m *Manager) alpnCertificate(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
	for _, rn := range m.order {
		r := m.resolvers[rn]
		if r.challenge != "tls-alpn-01" {
			continue
		}
		if c, err := r.cfg.GetCertificate(h); err == nil {
			return c, nil
		}
		if r.od != nil {
			if c, err := r.od.GetCertificate(h); err == nil {
				return c, nil
			}
		}
	}
	return nil, fmt.Errorf("no TLS-ALPN-01 challenge for %q", h.ServerName)
}

// decide is on-demand's gate: a name is obtained when the ask URL answers
// 200 for it, and the rate limit has room. A name approved once is not
// asked again (renewals and restarts of this process excepted).
func (m *Manager) decide(r *resolver) func(ctx context.Context, name string) error {
	return func(ctx context.Context, name string) error {
		if _, ok := r.approved.Load(name); ok {
			m.rec.OnDemand(r.name, "allowed")
			return nil
		}
		if !validName(name) {
			m.rec.OnDemand(r.name, "denied")
			return fmt.Errorf("%q is not a DNS name", name)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.ask, nil)
		if err != nil {
			m.rec.OnDemand(r.name, "error")
			return fmt.Errorf("ask: %w", err)
		}
		q := req.URL.Query()
		q.Set("domain", name)
		req.URL.RawQuery = q.Encode()
		resp, err := r.askClient.Do(req)
		if err != nil {
			m.rec.OnDemand(r.name, "error")
			return fmt.Errorf("ask %s: %w", config.RedactURL(r.ask), errors.Unwrap(err))
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			m.rec.OnDemand(r.name, "denied")
			return fmt.Errorf("ask refused %q (status %d)", name, resp.StatusCode)
		}
		if !r.limit.take() {
			m.rec.OnDemand(r.name, "rate_limited")
			m.log.Warn("on-demand certificate refused: rate limit reached", "certResolver", r.name, "name", name)
			return fmt.Errorf("on-demand rate limit reached; %q not obtained", name)
		}
		r.approved.Store(name, struct{}{})
		m.rec.OnDemand(r.name, "allowed")
		m.mu.Lock()
		if m.state[name] == nil {
			m.state[name] = &certState{resolver: r.name, onDemand: true, status: "obtaining"}
		}
		m.mu.Unlock()
		return nil
	}
}

// onEvent follows certmagic's work on each name: the admin API shows it,
// and the log tells each failure once with its reason.
func (m *Manager) onEvent(resolver string, onDemand bool, event string, data map[string]any) {
	name, _ := data["identifier"].(string)
	if name == "" {
		return
	}
	renewal, _ := data["renewal"].(bool)
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state[name]
	if st == nil {
		st = &certState{resolver: resolver, onDemand: onDemand}
		m.state[name] = st
	}
	switch event {
	case "cert_obtaining":
		if renewal {
			st.status = "renewing"
		} else if st.status != "failed" {
			st.status = "obtaining"
		}
	case "cert_obtained":
		m.rec.Issued(resolver, renewal, true)
		st.status, st.err, st.logged = "valid", "", ""
		st.obtained = time.Now()
		if renewal {
			st.renewals++
		}
		m.log.Info("certificate obtained", "certResolver", resolver, "name", name, "renewal", renewal, "onDemand", onDemand)
	case "cert_failed":
		m.rec.Issued(resolver, renewal, false)
		msg := "unknown error"
		if err, ok := data["error"].(error); ok {
			msg = reason(err)
		}
		st.status, st.err, st.failedAt = "failed", msg, time.Now()
		if msg != st.logged {
			st.logged = msg
			m.log.Error("cannot obtain certificate; serving the default certificate for it meanwhile (retried with backoff)",
				"certResolver", resolver, "name", name, "renewal", renewal, "error", msg)
		}
	}
}

// reason is an error's text without certmagic's "[name] Obtain:" wrapping,
// and with the ACME problem when the CA sent one.
func reason(err error) string {
	var p acme.Problem
	if errors.As(err, &p) {
		s := p.Type
		if p.Detail != "" {
			s += ": " + p.Detail
		}
		for _, sub := range p.Subproblems {
			s += "; " + sub.Detail
		}
		return s
	}
	// The order's URL differs with each attempt: without it, a failure
	// that repeats reads the same, and is logged once.
	return attemptDetail.ReplaceAllString(err.Error(), "")
}

var attemptDetail = regexp.MustCompile(` \((order|ca)=[^)]*\)`)

func normalize(name string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
}

func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func splitPort(addr string) (string, int, bool) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, false
	}
	port, err := strconv.Atoi(p)
	if err != nil || port == 0 {
		return "", 0, false
	}
	return host, port, true
}

func sortedKeys[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// selfSigned makes the default certificate: served for a name that has no
// certificate of its own (yet), so that the handshake goes on and the client
// sees an untrusted certificate rather than a handshake failure.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("default certificate: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("default certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "usher default certificate"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"usher.invalid"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("default certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("default certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// bucket is a token bucket: burst at once, average per period sustained.
type bucket struct {
	mu     sync.Mutex
	tokens float64
	burst  float64
	rate   float64 // tokens per second
	last   time.Time
}

func newBucket(avg int64, period time.Duration, burst int64) *bucket {
	return &bucket{tokens: float64(burst), burst: float64(burst), rate: float64(avg) / period.Seconds(), last: time.Now()}
}

func (b *bucket) take() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
