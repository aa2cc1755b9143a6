package health

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/pool"
)

// Defaults of a healthCheck, the same as config.ApplyDefaults sets (repeated so
// that a config that skipped it still probes sanely).
const (
	defaultInterval       = 3 * time.Second
	defaultTimeout        = time.Second
	defaultHealthyAfter   = 2
	defaultUnhealthyAfter = 3
	defaultExpectStatus   = "200-399"
)

// maxProbeBody is how much of a probe response's body expectBody looks at.
const maxProbeBody = 64 << 10

// Agent headers of a probe response.
const (
	headerWeight = "Usher-Weight" // 0-100, percent of the configured weight ("50" or "50%")
	headerState  = "Usher-State"  // ready (or up) | drain | down
)

// checkSpec is a healthCheck ready to probe with: defaults applied, status
// range parsed, regexp compiled, TLS built. It never changes once built.
type checkSpec struct {
	cfg    config.HealthCheck // as configured, to tell a changed check
	tlsCfg config.ClientTLS   // the transport's TLS, ditto

	tcp            bool
	method         string
	path, query    string
	header         http.Header // extra headers, User-Agent included
	host           string      // Host header; "" = the server's host
	port           int         // 0 = the server's
	interval       time.Duration
	timeout        time.Duration
	lo, hi         int // status range that passes
	body           *regexp.Regexp
	healthyAfter   int
	unhealthyAfter int
	tls            *tls.Config // for https servers; ServerName filled per server
}

func newCheckSpec(hc *config.HealthCheck, tr *config.Transport) (*checkSpec, error) {
	c := &checkSpec{
		cfg:            *hc,
		tcp:            hc.Mode == "tcp",
		method:         cmp.Or(hc.Method, http.MethodGet),
		host:           hc.Hostname,
		port:           hc.Port,
		interval:       cmp.Or(hc.Interval.D(), defaultInterval),
		timeout:        cmp.Or(hc.Timeout.D(), defaultTimeout),
		healthyAfter:   cmp.Or(hc.HealthyAfter, defaultHealthyAfter),
		unhealthyAfter: cmp.Or(hc.UnhealthyAfter, defaultUnhealthyAfter),
		header:         http.Header{"User-Agent": {"usher-health-check"}},
	}
	if c.interval <= 0 || c.timeout <= 0 {
		return nil, fmt.Errorf("interval %s and timeout %s must be positive", c.interval, c.timeout)
	}
	p, err := url.Parse(cmp.Or(hc.Path, "/"))
	if err != nil {
		return nil, fmt.Errorf("path %q: %v", hc.Path, err)
	}
	c.path, c.query = p.Path, p.RawQuery
	if c.lo, c.hi, err = parseStatusRange(cmp.Or(hc.ExpectStatus, defaultExpectStatus)); err != nil {
		return nil, err
	}
	if hc.ExpectBody != "" {
		if c.body, err = regexp.Compile(hc.ExpectBody); err != nil {
			return nil, fmt.Errorf("expectBody: %v", err)
		}
	}
	for k, v := range hc.Headers {
		if strings.EqualFold(k, "Host") {
			c.host = v
			continue
		}
		c.header.Set(k, v)
	}
	c.tls = &tls.Config{NextProtos: []string{"http/1.1"}}
	if tr != nil && tr.TLS != nil {
		t := tr.TLS
		c.tlsCfg = *t
		c.tls.ServerName = t.ServerName
		c.tls.InsecureSkipVerify = t.InsecureSkipVerify
		if t.CA != "" {
			pem, err := os.ReadFile(t.CA)
			if err != nil {
				return nil, fmt.Errorf("transport.tls.ca: %w", err)
			}
			c.tls.RootCAs = x509.NewCertPool()
			if !c.tls.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("transport.tls.ca: no certificate in %s", t.CA)
			}
		}
		if t.Cert != "" || t.Key != "" {
			cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
			if err != nil {
				return nil, fmt.Errorf("transport.tls.cert/key: %w", err)
			}
			c.tls.Certificates = []tls.Certificate{cert}
		}
	}
	return c, nil
}

// equal tells whether two specs come from the same configuration.
func (c *checkSpec) equal(o *checkSpec) bool {
	return o != nil && c.tlsCfg == o.tlsCfg && reflect.DeepEqual(c.cfg, o.cfg)
}

// parseStatusRange reads "200" or "200-399".
func parseStatusRange(s string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(strings.TrimSpace(s), "-")
	if !isRange {
		b = a
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || lo < 100 || hi > 599 || hi < lo {
		return 0, 0, fmt.Errorf("expectStatus %q is not a status or a range like 200-399", s)
	}
	return lo, hi, nil
}

// jitter is the interval ±10%, so that probers started together drift apart.
func (c *checkSpec) jitter() time.Duration {
	return time.Duration(float64(c.interval) * (0.9 + 0.2*rand.Float64()))
}

// result is the outcome of one probe.
type result struct {
	ok      bool
	latency time.Duration
	at      time.Time
	reason  string       // what was seen: "status 200", "connect: ...", "timeout after 1s"
	agent   *agentReport // nil when no HTTP response came
}

// agentReport is what a probe response says of the server's own will.
type agentReport struct {
	state  string // a pool.Agent* state
	weight int    // percent
	why    string
}

// probe checks server u once, within the spec's timeout, on a connection of its
// own that it closes. It returns at once when ctx ends.
func (c *checkSpec) probe(ctx context.Context, u *url.URL, tc *tls.Config) (res result) {
	start := time.Now()
	defer func() {
		res.at = time.Now()
		res.latency = res.at.Sub(start)
	}()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	fail := func(what string, err error) result {
		var ne net.Error
		if ctx.Err() == context.DeadlineExceeded || (errors.As(err, &ne) && ne.Timeout()) {
			return result{reason: fmt.Sprintf("%s: timeout after %s", what, c.timeout)}
		}
		msg := errText(err)
		if !strings.HasPrefix(msg, what+": ") {
			msg = what + ": " + msg
		}
		return result{reason: msg}
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", c.address(u))
	if err != nil {
		return fail("connect", err)
	}
	defer raw.Close()
	if c.tcp {
		return result{ok: true, reason: "connected"}
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() }) // unblock reads and writes
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	conn := raw
	if u.Scheme == "https" {
		t := tls.Client(raw, tc)
		if err := t.HandshakeContext(ctx); err != nil {
			return fail("tls", err)
		}
		conn = t
	}
	req := c.request(u)
	bw := bufio.NewWriterSize(conn, 1024)
	if err := req.Write(bw); err != nil {
		return fail("write", err)
	}
	if err := bw.Flush(); err != nil {
		return fail("write", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return fail("read", err)
	}
	defer resp.Body.Close()
	res.agent = parseAgent(resp.Header)
	res.reason = fmt.Sprintf("status %d", resp.StatusCode)
	if resp.StatusCode < c.lo || resp.StatusCode > c.hi {
		if c.lo == c.hi {
			res.reason += fmt.Sprintf(", want %d", c.lo)
		} else {
			res.reason += fmt.Sprintf(", want %d-%d", c.lo, c.hi)
		}
		return res
	}
	if c.body != nil {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
		if err != nil {
			r := fail("read body", err)
			r.agent = res.agent
			return r
		}
		if !c.body.Match(b) {
			res.reason += fmt.Sprintf(", body does not match %q", c.body.String())
			return res
		}
	}
	res.ok = true
	return res
}

// address is the host:port probed: the server's, or its host with the check's
// port.
func (c *checkSpec) address(u *url.URL) string {
	port := u.Port()
	if c.port > 0 {
		port = strconv.Itoa(c.port)
	}
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// request is the probe request for server u: the check's path under the
// server's path prefix, Host the check's hostname or the server's host.
func (c *checkSpec) request(u *url.URL) *http.Request {
	host := c.host
	if host == "" {
		host = u.Host
	}
	return &http.Request{
		Method:     c.method,
		URL:        &url.URL{Path: strings.TrimSuffix(u.Path, "/") + c.path, RawQuery: c.query},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     c.header,
		Host:       host,
		Close:      true,
	}
}

// tlsFor is the TLS config of probes to server u.
func (c *checkSpec) tlsFor(u *url.URL) *tls.Config {
	if u.Scheme != "https" {
		return nil
	}
	t := c.tls.Clone()
	if t.ServerName == "" {
		t.ServerName = u.Hostname()
	}
	return t
}

// parseAgent reads the agent headers of a probe response. Each response states
// the agent's whole view: a header absent (or not understood) means ready and
// 100%, so that a server that restarts without them is back to normal.
func parseAgent(h http.Header) *agentReport {
	a := &agentReport{state: pool.AgentReady, weight: 100}
	var why []string
	if v := strings.TrimSpace(h.Get(headerState)); v != "" {
		switch strings.ToLower(v) {
		case "drain":
			a.state = pool.AgentDrain
		case "down":
			a.state = pool.AgentDown
		}
		why = append(why, headerState+": "+v)
	}
	if v := strings.TrimSpace(h.Get(headerWeight)); v != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(v, "%"))); err == nil && n >= 0 && n <= 100 {
			a.weight = n
		}
		why = append(why, headerWeight+": "+v)
	}
	a.why = "agent: " + strings.Join(why, ", ")
	if len(why) == 0 {
		a.why = "agent: no " + headerState + " nor " + headerWeight + " header"
	}
	return a
}

// errText is err without the noise of wrapped operation names where the cause
// says it all.
func errText(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

// initial is the state a prober starts from.
type initial int

const (
	assumed initial = iota // up until the first probe, which decides
	unknown                // down until the first passing probe
	current                // the server's state as it is, counted as usual
)

// prober runs the active check of one server. Its goroutine is the only writer
// of the server's health bit, probe and agent fields while it runs.
type prober struct {
	m       *Manager
	service string
	s       *pool.Server
	spec    *checkSpec
	tls     *tls.Config
	cancel  context.CancelFunc
	done    chan struct{}
	probes  atomic.Uint64 // probes recorded

	// Owned by the goroutine.
	state         string // StateUp, StateDown or StateUnknown
	assumed       bool   // up until the first probe decides
	passes, fails int    // consecutive
}

// startProber starts the prober of s; the caller holds m.mu and checked that
// m is not stopped.
func (m *Manager) startProber(svc string, s *pool.Server, spec *checkSpec, st initial) *prober {
	ctx, cancel := context.WithCancel(m.root)
	p := &prober{m: m, service: svc, s: s, spec: spec, tls: spec.tlsFor(s.URL), cancel: cancel, done: make(chan struct{})}
	first := time.Duration(rand.Int64N(int64(spec.interval)/10 + 1))
	switch st {
	case assumed:
		p.state, p.assumed = StateUp, true
	case unknown:
		p.state, first = StateUnknown, 0
		s.SetHealthy(false)
	case current:
		p.state = StateUp
		if !s.Healthy() {
			p.state = StateDown
		}
	}
	m.wg.Add(1)
	go p.run(ctx, first)
	return p
}

func (p *prober) run(ctx context.Context, first time.Duration) {
	defer p.m.wg.Done()
	defer close(p.done)
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res := p.safeProbe(ctx)
		if ctx.Err() != nil {
			return // stopped mid-probe: the result says nothing of the server
		}
		p.record(res)
		t.Reset(p.spec.jitter())
	}
}

// safeProbe is probe that turns a panic into a failed probe, logged, rather than
// the end of the process.
func (p *prober) safeProbe(ctx context.Context) (res result) {
	defer func() {
		if v := recover(); v != nil {
			p.m.log.Error("health probe panicked", "service", p.service, "server", p.s.URL.Redacted(), "panic", fmt.Sprint(v))
			res = result{at: time.Now(), reason: fmt.Sprintf("probe panicked: %v", v)}
		}
	}()
	return p.spec.probe(ctx, p.s.URL, p.tls)
}

// record applies a probe's result: the server's last probe, its agent's word,
// then the count toward up or down.
func (p *prober) record(res result) {
	p.s.SetProbe(res.ok, res.latency, res.at)
	p.probes.Add(1)
	if res.agent != nil {
		p.m.setAgent(p.service, p.s, *res.agent, res.agent.why)
	}
	if res.ok {
		p.passes, p.fails = p.passes+1, 0
	} else {
		p.passes, p.fails = 0, p.fails+1
	}
	assumed := p.assumed
	p.assumed = false
	switch {
	case p.state == StateUnknown && res.ok:
		p.set(StateUp, "first probe passed: "+res.reason)
	case p.state == StateUnknown:
		p.set(StateDown, "first probe failed: "+res.reason)
	case p.state == StateUp && !res.ok && assumed:
		p.set(StateDown, "first probe failed: "+res.reason)
	case p.state == StateUp && !res.ok && p.fails >= p.spec.unhealthyAfter:
		p.set(StateDown, fmt.Sprintf("%d probes failed in a row, last: %s", p.fails, res.reason))
	case p.state == StateDown && res.ok && p.passes >= p.spec.healthyAfter:
		p.set(StateUp, fmt.Sprintf("%d probes passed in a row: %s", p.passes, res.reason))
	}
}

func (p *prober) set(state, reason string) {
	from := p.state
	p.state = state
	p.s.SetHealthy(state == StateUp)
	p.m.emit(transition(p.service, p.s, from, state, reason))
}
