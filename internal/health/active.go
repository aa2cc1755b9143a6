package health

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/usher-lb/usher/internal/pool"
)

// maxProbeBody is how much of a probe response's body expectBody looks at.
const maxProbeBody = 64 << 10

// userAgent is sent by probes whose headers name none.
const userAgent = "usher-health-check"

// Agent headers of a probe response.
const (
	headerWeight = "Usher-Weight" // 0-100, percent of the configured weight ("50" or "50%")
	headerState  = "Usher-State"  // ready (or up) | drain | down
)

// Check is an active health check ready to probe with, as internal/runtime
// compiles a healthCheck: every value decided (the config's defaults
// applied), the status range parsed, the body regexp compiled, the TLS of the
// service's transport built. A Check is never changed once given to the
// Manager; a reload that brings an Equal one keeps the probers running.
type Check struct {
	TCP         bool   // a connect is the whole probe
	GRPC        bool   // grpc.health.v1.Health/Check over HTTP/2 (h2c, or h2 for https servers)
	GRPCService string // GRPC: the service asked about; "" for the server as a whole
	Method      string // HTTP: the probe's method
	Path, Query string // HTTP: the target, under the server URL's path
	// Host is the probe's Host header; "" sends the server URL's host.
	Host string
	// Port is probed instead of the server URL's; 0 for the server's.
	Port int
	// Header is sent with every probe (User-Agent: usher-health-check unless
	// it names one).
	Header   http.Header
	Interval time.Duration // between probes, ±10%; positive
	Timeout  time.Duration // of one probe, connect included; positive
	// StatusMin and StatusMax bound the statuses that pass (HTTP).
	StatusMin, StatusMax int
	Body                 *regexp.Regexp // nil: any body; else the first 64KiB must match
	HealthyAfter         int            // passes in a row that bring a server up; 1 or more
	UnhealthyAfter       int            // failures in a row that take it down; 1 or more
	// TLS is the client config toward https servers (nil: system roots). Its
	// ServerName, when empty, is each server's host. Runtime hands the same
	// *tls.Config to every snapshot while the TLS material is unchanged, so
	// Equal compares it by pointer.
	TLS *tls.Config
}

// Validate tells what is wrong with c, nil when it can probe.
func (c *Check) Validate() error {
	switch {
	case c.Interval <= 0:
		return fmt.Errorf("interval must be positive, got %s", c.Interval)
	case c.Timeout <= 0:
		return fmt.Errorf("timeout must be positive, got %s", c.Timeout)
	case c.HealthyAfter < 1 || c.UnhealthyAfter < 1:
		return fmt.Errorf("healthyAfter and unhealthyAfter must be 1 or more, got %d and %d", c.HealthyAfter, c.UnhealthyAfter)
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("port must be 1 to 65535, got %d", c.Port)
	case c.TCP, c.GRPC:
		return nil
	case c.StatusMin < 100 || c.StatusMax > 599 || c.StatusMax < c.StatusMin:
		return fmt.Errorf("status range %d-%d is not within 100-599", c.StatusMin, c.StatusMax)
	case c.Method == "" || !strings.HasPrefix(c.Path, "/"):
		return fmt.Errorf("a probe needs a method and a path starting with /, got %q %q", c.Method, c.Path)
	}
	return nil
}

// Equal tells whether two checks probe the same way.
func (c *Check) Equal(o *Check) bool {
	if c == nil || o == nil {
		return c == o
	}
	return c.TCP == o.TCP && c.GRPC == o.GRPC && c.GRPCService == o.GRPCService && c.Method == o.Method && c.Path == o.Path && c.Query == o.Query &&
		c.Host == o.Host && c.Port == o.Port && c.Interval == o.Interval && c.Timeout == o.Timeout &&
		c.StatusMin == o.StatusMin && c.StatusMax == o.StatusMax &&
		c.HealthyAfter == o.HealthyAfter && c.UnhealthyAfter == o.UnhealthyAfter && c.TLS == o.TLS &&
		maps.EqualFunc(c.Header, o.Header, slices.Equal) &&
		(c.Body == nil) == (o.Body == nil) && (c.Body == nil || c.Body.String() == o.Body.String())
}

// jitter is the interval ±10%, so that probers started together drift apart.
func (c *Check) jitter() time.Duration {
	return time.Duration(float64(c.Interval) * (0.9 + 0.2*rand.Float64()))
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
func (c *Check) probe(ctx context.Context, u *url.URL, tc *tls.Config, header http.Header) (res result) {
	start := time.Now()
	defer func() {
		res.at = time.Now()
		res.latency = res.at.Sub(start)
	}()
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	fail := func(what string, err error) result {
		var ne net.Error
		if ctx.Err() == context.DeadlineExceeded || (errors.As(err, &ne) && ne.Timeout()) {
			return result{reason: fmt.Sprintf("%s: timeout after %s", what, c.Timeout)}
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
	if c.TCP {
		return result{ok: true, reason: "connected"}
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() }) // unblock reads and writes
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	conn := raw
	if c.GRPC {
		return c.probeGRPC(ctx, raw, u, tc, header, fail)
	}
	if u.Scheme == "https" {
		t := tls.Client(raw, tc)
		if err := t.HandshakeContext(ctx); err != nil {
			return fail("tls", err)
		}
		conn = t
	}
	req := c.request(u, header)
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
	if resp.StatusCode < c.StatusMin || resp.StatusCode > c.StatusMax {
		if c.StatusMin == c.StatusMax {
			res.reason += fmt.Sprintf(", want %d", c.StatusMin)
		} else {
			res.reason += fmt.Sprintf(", want %d-%d", c.StatusMin, c.StatusMax)
		}
		return res
	}
	if c.Body != nil {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
		if err != nil {
			r := fail("read body", err)
			r.agent = res.agent
			return r
		}
		if !c.Body.Match(b) {
			res.reason += fmt.Sprintf(", body does not match %q", c.Body.String())
			return res
		}
	}
	res.ok = true
	return res
}

// address is the host:port probed: the server's, or its host with the check's
// port.
func (c *Check) address(u *url.URL) string {
	port := u.Port()
	if c.Port > 0 {
		port = strconv.Itoa(c.Port)
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
func (c *Check) request(u *url.URL, header http.Header) *http.Request {
	host := c.Host
	if host == "" {
		host = u.Host
	}
	return &http.Request{
		Method:     c.Method,
		URL:        &url.URL{Path: strings.TrimSuffix(u.Path, "/") + c.Path, RawQuery: c.Query},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     header,
		Host:       host,
		Close:      true,
	}
}

// tlsFor is the TLS config of probes to server u.
func (c *Check) tlsFor(u *url.URL) *tls.Config {
	if u.Scheme != "https" {
		return nil
	}
	t := &tls.Config{}
	if c.TLS != nil {
		t = c.TLS.Clone()
	}
	if t.ServerName == "" {
		t.ServerName = u.Hostname()
	}
	t.NextProtos = []string{"http/1.1"} // probes speak nothing else
	return t
}

// headerOf is the header of probes: the check's, with usher's User-Agent
// unless it names one. It is made once per prober and only read after.
func (c *Check) headerOf() http.Header {
	h := c.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{userAgent}
	}
	return h
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
	check   *Check
	tls     *tls.Config
	header  http.Header
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
func (m *Manager) startProber(svc string, s *pool.Server, c *Check, st initial) *prober {
	ctx, cancel := context.WithCancel(m.root)
	p := &prober{m: m, service: svc, s: s, check: c, tls: c.tlsFor(s.URL), header: c.headerOf(), cancel: cancel, done: make(chan struct{})}
	first := time.Duration(rand.Int64N(int64(c.Interval)/10 + 1))
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
		t.Reset(p.check.jitter())
	}
}

// safeProbe is probe that turns a panic into a failed probe, logged, rather than
// the end of the process.
func (p *prober) safeProbe(ctx context.Context) (res result) {
	defer func() {
		if v := recover(); v != nil {
			p.m.log.Error("health probe panicked", "service", p.service, "server", p.s.Shown, "panic", fmt.Sprint(v))
			res = result{at: time.Now(), reason: fmt.Sprintf("probe panicked: %v", v)}
		}
	}()
	return p.check.probe(ctx, p.s.URL, p.tls, p.header)
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
	case p.state == StateUp && !res.ok && p.fails >= p.check.UnhealthyAfter:
		p.set(StateDown, fmt.Sprintf("%d probes failed in a row, last: %s", p.fails, res.reason))
	case p.state == StateDown && res.ok && p.passes >= p.check.HealthyAfter:
		p.set(StateUp, fmt.Sprintf("%d probes passed in a row: %s", p.passes, res.reason))
	}
}

func (p *prober) set(state, reason string) {
	from := p.state
	p.state = state
	p.s.SetHealthy(state == StateUp)
	p.m.emit(transition(p.service, p.s, from, state, reason))
}
