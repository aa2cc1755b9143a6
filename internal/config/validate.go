package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/usher-lb/usher/internal/rule"
)

// Validate checks everything about c that can be known before running it:
// enums, addresses, URLs, regexps, rules, references between routers,
// services and middlewares, cycles among them, and that files named by the
// config exist. It returns every problem, each positioned from c.Source, in
// a stable order; nil means valid. It accepts c with or without defaults.
//
// Sections this version of usher does not implement yet are refused here
// rather than silently ignored.
func Validate(c *Config) Problems {
	if c == nil {
		return nil
	}
	v := &validator{c: c}
	v.log()
	v.admin()
	v.tracing()
	v.redis()
	v.entrypoints()
	v.unsupported()
	if c.HTTP != nil {
		v.routers()
		v.services()
		v.middlewares()
	}
	v.tls()
	return v.probs
}

type validator struct {
	c     *Config
	probs Problems
}

func (v *validator) add(path, format string, args ...any) {
	v.probs = append(v.probs, v.c.Problemf(path, format, args...))
}

// addMissing adds the problem of a reference to a name that is not defined.
func (v *validator) addMissing(path, format string, args ...any) {
	p := v.c.Problemf(path, format, args...)
	p.missingName = true
	v.probs = append(v.probs, p)
}

// notSupported is the one wording for sections that are part of the config
// model but not of this version yet, so that users recognize it.
func (v *validator) notSupported(path, what string) {
	v.add(path, "%s not supported by this version of usher", what)
}

func sortedKeys[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// oneOf checks an enum; "" stands for the default and passes.
func (v *validator) oneOf(path, val string, allowed ...string) {
	if val == "" || slices.Contains(allowed, val) {
		return
	}
	v.add(path, "%q is not one of %s%s", val, strings.Join(allowed, ", "), didYouMean(val, allowed))
}

// version checks a TLS version, without suggestions: "1.1" is a choice, not
// a typo of "1.2".
func (v *validator) version(path, val string) {
	if val != "" && val != "1.2" && val != "1.3" {
		v.add(path, "%q is not one of 1.2, 1.3", val)
	}
}

func (v *validator) log() {
	if l := v.c.Log; l != nil {
		v.oneOf("log.level", l.Level, "debug", "info", "warn", "error")
		v.oneOf("log.format", l.Format, "json", "text")
	}
	if a := v.c.AccessLog; a != nil {
		v.oneOf("accessLog.format", a.Format, "json", "text")
	}
}

func (v *validator) admin() {
	a := v.c.Admin
	if a == nil || a.Address == "" {
		return
	}
	host, _, ok := v.hostPort("admin.address", a.Address)
	if ok && a.Token == "" && !isLoopback(host) {
		v.add("admin.token", "a token is required when the admin API listens beyond loopback (address %q)", a.Address)
	}
}

func (v *validator) redis() {
	r := v.c.Redis
	if r == nil {
		return
	}
	host, port, err := net.SplitHostPort(r.Address)
	switch {
	case r.Address == "":
		v.add("redis.address", "the Redis server's host:port is required (like 127.0.0.1:6379)")
	case err != nil || host == "":
		v.add("redis.address", "%q is not a host:port (like 127.0.0.1:6379)", r.Address)
	default:
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			v.add("redis.address", "port %q is not a number from 1 to 65535", port)
		}
	}
	if r.DB < 0 {
		v.add("redis.db", "%d is not a database number (0 or more)", r.DB)
	}
	if r.PoolSize < 0 {
		v.add("redis.poolSize", "%d is not a number of connections", r.PoolSize)
	}
	if r.Timeout < 0 {
		v.add("redis.timeout", "a negative timeout")
	}
	if ct := r.TLS; ct != nil {
		v.fileExists("redis.tls.ca", ct.CA)
		v.fileExists("redis.tls.cert", ct.Cert)
		v.fileExists("redis.tls.key", ct.Key)
		if (ct.Cert == "") != (ct.Key == "") {
			v.add("redis.tls", "cert and key go together: set both or neither")
		}
	}
}

func (v *validator) tracing() {
	t := v.c.Tracing
	if t == nil {
		return
	}
	u, err := url.Parse(t.OTLPEndpoint)
	switch {
	case t.OTLPEndpoint == "":
		v.add("tracing.otlpEndpoint", "an OTLP/HTTP endpoint is required (like http://127.0.0.1:4318)")
	case err == nil && u.User != nil:
		v.add("tracing.otlpEndpoint", "the URL must not hold credentials")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.add("tracing.otlpEndpoint", "%q is not an http:// or https:// URL with a host (like http://127.0.0.1:4318)", RedactURL(t.OTLPEndpoint))
	case portProblem(t.OTLPEndpoint) != "":
		v.add("tracing.otlpEndpoint", "%q %s", RedactURL(t.OTLPEndpoint), portProblem(t.OTLPEndpoint))
	}
	if r := t.SampleRatio; r != nil && (math.IsNaN(*r) || *r < 0 || *r > 1) {
		v.add("tracing.sampleRatio", "%v is not between 0 and 1", *r)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// hostPort checks a listen address and splits it.
func (v *validator) hostPort(path, addr string) (host, port string, ok bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(path, "%q is not host:port (like :8080 or 127.0.0.1:8080)", addr)
		return "", "", false
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add(path, "%q has no valid port (0 to 65535)", addr)
		return "", "", false
	}
	return host, port, true
}

func (v *validator) entrypoints() {
	eps := v.c.Entrypoints
	names := sortedKeys(eps)
	usedBy := map[string]string{}
	for _, name := range names {
		ep, p := eps[name], "entrypoints."+name
		if ep == nil {
			v.add(p, "the entrypoint is empty; it needs at least an address")
			continue
		}
		switch {
		case ep.Address == "":
			v.add(p+".address", "an address is required (like :8080)")
		default:
			// Port 0 asks for any free port: two of those never clash.
			if _, port, ok := v.hostPort(p+".address", ep.Address); ok && port != "0" {
				key := protocolOf(ep) + " " + ep.Address
				if other, dup := usedBy[key]; dup {
					v.add(p+".address", "address %q is already used by entrypoint %q", ep.Address, other)
				} else {
					usedBy[key] = name
				}
			}
		}
		switch ep.Protocol {
		case "", "http":
		case "tcp", "udp":
			v.notSupported(p+".protocol", "protocol "+ep.Protocol+" is")
		default:
			v.add(p+".protocol", "%q is not one of http, tcp, udp%s", ep.Protocol, didYouMean(ep.Protocol, []string{"http", "tcp", "udp"}))
		}
		v.http3(p, ep)
		if ep.H2C && ep.TLS != nil {
			v.add(p+".h2c", "h2c is HTTP/2 without TLS: a TLS entrypoint speaks HTTP/2 already (ALPN h2)")
		}
		if ep.TLS != nil {
			v.certResolverRef(p+".tls.certResolver", ep.TLS.CertResolver)
			v.tlsOptionRef(p+".tls.options", ep.TLS.Options)
		}
		if to := ep.RedirectTo; to != "" {
			target, ok := eps[to]
			switch {
			case to == name:
				v.add(p+".redirectTo", "an entrypoint cannot redirect to itself")
			case !ok:
				v.add(p+".redirectTo", "entrypoint %q does not exist%s", to, didYouMean(to, names))
			case target != nil && protocolOf(target) != "http":
				v.add(p+".redirectTo", "entrypoint %q is not an http entrypoint", to)
			}
		}
		v.entrypointLimits(p, ep)
		for i, tp := range ep.TrustedProxies {
			if _, err := netip.ParsePrefix(tp); err == nil {
				continue
			}
			if _, err := netip.ParseAddr(tp); err == nil {
				continue
			}
			v.add(fmt.Sprintf("%s.trustedProxies[%d]", p, i), "%q is neither a CIDR (like 10.0.0.0/8) nor an IP address", tp)
		}
	}
}

func protocolOf(ep *Entrypoint) string {
	if ep.Protocol == "" {
		return "http"
	}
	return ep.Protocol
}

func (v *validator) unsupported() {
	c := v.c
	if c.Providers != nil && c.Providers.Docker != nil {
		v.docker("providers.docker", c.Providers.Docker)
	}
	v.certResolvers()
	if c.Cluster != nil {
		v.notSupported("cluster", "cluster is")
	}
	if c.TCP != nil && (len(c.TCP.Routers) > 0 || len(c.TCP.Services) > 0) {
		v.notSupported("tcp", "TCP routing is")
	}
	if c.UDP != nil && (len(c.UDP.Routers) > 0 || len(c.UDP.Services) > 0) {
		v.notSupported("udp", "UDP routing is")
	}
}

func (v *validator) tlsOptionRef(path, name string) {
	if name == "" || name == "default" {
		return
	}
	var opts map[string]*TLSOptions
	if v.c.TLS != nil {
		opts = v.c.TLS.Options
	}
	if _, ok := opts[name]; !ok {
		v.addMissing(path, "TLS options %q do not exist%s", name, didYouMean(name, sortedKeys(opts)))
	}
}

func (v *validator) routers() {
	h := v.c.HTTP
	for _, name := range sortedKeys(h.Routers) {
		r, p := h.Routers[name], "http.routers."+name
		if r == nil {
			v.add(p, "the router is empty; it needs a rule and a service")
			continue
		}
		if strings.TrimSpace(r.Rule) == "" {
			v.add(p+".rule", "a rule is required, like Host(`example.com`)")
		} else if _, err := rule.ParseHTTP(r.Rule); err != nil {
			v.add(p+".rule", "%v", err)
		}
		v.serviceRef(p+".service", r.Service)
		for i, m := range r.Middlewares {
			v.middlewareRef(fmt.Sprintf("%s.middlewares[%d]", p, i), m)
		}
		for i, e := range r.Entrypoints {
			path := fmt.Sprintf("%s.entrypoints[%d]", p, i)
			ep, ok := v.c.Entrypoints[e]
			switch {
			case !ok:
				v.add(path, "entrypoint %q does not exist%s", e, didYouMean(e, sortedKeys(v.c.Entrypoints)))
			case ep != nil && protocolOf(ep) != "http":
				v.add(path, "entrypoint %q is not an http entrypoint", e)
			}
		}
		if r.TLS != nil {
			v.routerTLS(p, r)
			v.routerTLSOptions(p, r)
		}
	}
}

func (v *validator) serviceRef(path, name string) {
	services := v.c.HTTP.Services
	switch _, ok := services[name]; {
	case name == "":
		v.add(path, "a service name is required")
	case !ok:
		v.addMissing(path, "service %q does not exist%s", name, didYouMean(name, sortedKeys(services)))
	}
}

func (v *validator) middlewareRef(path, name string) {
	mws := v.c.HTTP.Middlewares
	switch _, ok := mws[name]; {
	case name == "":
		v.add(path, "a middleware name is required")
	case !ok:
		v.addMissing(path, "middleware %q does not exist%s", name, didYouMean(name, sortedKeys(mws)))
	}
}

// algorithms are the values of loadBalancer.algorithm (CONFIG.md).
var algorithms = []string{"round-robin", "random", "least-connections", "p2c", "ewma", "least-time", "ip-hash", "uri-hash", "header-hash", "cookie-hash"}

func (v *validator) services() {
	h := v.c.HTTP
	failoverMains := map[string]bool{}
	for _, s := range h.Services {
		if s != nil && s.Failover != nil {
			failoverMains[s.Failover.Service] = true
		}
	}
	for _, name := range sortedKeys(h.Services) {
		s, p := h.Services[name], "http.services."+name
		if s == nil {
			v.add(p, "the service is empty; it needs one of loadBalancer, weighted, mirror, failover")
			continue
		}
		var kinds []string
		for _, k := range []struct {
			name string
			set  bool
		}{{"loadBalancer", s.LoadBalancer != nil}, {"weighted", s.Weighted != nil}, {"mirror", s.Mirror != nil}, {"failover", s.Failover != nil}} {
			if k.set {
				kinds = append(kinds, k.name)
			}
		}
		switch len(kinds) {
		case 0:
			v.add(p, "a service needs one of loadBalancer, weighted, mirror, failover")
		case 1:
		default:
			v.add(p, "a service is exactly one of loadBalancer, weighted, mirror, failover; got %s", strings.Join(kinds, " and "))
		}
		if s.LoadBalancer != nil {
			v.loadBalancer(p+".loadBalancer", s.LoadBalancer, failoverMains[name])
		}
		if w := s.Weighted; w != nil {
			v.weighted(p+".weighted", w)
		}
		if m := s.Mirror; m != nil {
			v.mirror(p+".mirror", m)
		}
		if f := s.Failover; f != nil {
			v.serviceRef(p+".failover.service", f.Service)
			v.serviceRef(p+".failover.fallback", f.Fallback)
			if f.Service != "" && f.Service == f.Fallback {
				v.add(p+".failover.fallback", "the fallback is the main service itself")
			}
		}
	}
	v.cycles("http.services", sortedKeys(h.Services), "services refer to each other in a cycle", func(name string) []string {
		return serviceEdges(h.Services[name])
	})
}

// serviceEdges lists the services a service sends requests to.
func serviceEdges(s *Service) []string {
	var out []string
	if s == nil {
		return nil
	}
	if w := s.Weighted; w != nil {
		for _, ws := range w.Services {
			out = append(out, ws.Name)
		}
	}
	if m := s.Mirror; m != nil {
		out = append(out, m.Service)
		for _, t := range m.Mirrors {
			out = append(out, t.Name)
		}
	}
	if f := s.Failover; f != nil {
		out = append(out, f.Service, f.Fallback)
	}
	return out
}

// loadBalancer checks a load balancer; drainable says that all its servers
// may have weight 0, because it is the main service of a failover, where a
// drained pool is how traffic is sent to the fallback.
func (v *validator) loadBalancer(p string, lb *LoadBalancer, drainable bool) {
	if len(lb.Servers) == 0 && lb.Autoscale == nil {
		v.add(p+".servers", "a load balancer needs at least one server")
	}
	zero := 0
	for i, s := range lb.Servers {
		sp := fmt.Sprintf("%s.servers[%d]", p, i)
		v.serverURL(sp+".url", s.URL)
		if s.Weight != nil && *s.Weight < 0 {
			v.add(sp+".weight", "weight must be 0 or more, got %d", *s.Weight)
		}
		if s.Weight != nil && *s.Weight == 0 {
			zero++
		}
	}
	if len(lb.Servers) > 0 && zero == len(lb.Servers) && !drainable {
		v.add(p+".servers", "every server has weight 0, so none would get traffic (a drained pool is allowed as the main service of a failover)")
	}
	v.oneOf(p+".algorithm", lb.Algorithm, algorithms...)
	if (lb.Algorithm == "header-hash" || lb.Algorithm == "cookie-hash") && lb.HashKey == "" {
		what := "header"
		if lb.Algorithm == "cookie-hash" {
			what = "cookie"
		}
		v.add(p+".hashKey", "algorithm %s needs hashKey, the name of the %s to hash", lb.Algorithm, what)
	}
	if f := lb.HashBalanceFactor; f != 0 && (math.IsNaN(f) || math.IsInf(f, 0) || f < 1) {
		v.add(p+".hashBalanceFactor", "hashBalanceFactor must be 1 or more, got %v", f)
	}
	if lb.Sticky != nil {
		v.cookie(p+".sticky.cookie", lb.Sticky.Cookie)
	}
	if hc := lb.HealthCheck; hc != nil {
		v.healthCheck(p+".healthCheck", hc)
	}
	if ph := lb.PassiveHealthCheck; ph != nil {
		v.nonNegative(p+".passiveHealthCheck.maxFailures", ph.MaxFailures)
		v.percent(p+".passiveHealthCheck.maxEjectedPercent", ph.MaxEjectedPercent)
	}
	if r := lb.Retry; r != nil {
		if r.Attempts != nil {
			v.nonNegative(p+".retry.attempts", *r.Attempts)
		}
		for i, st := range r.OnStatus {
			if st < 100 || st > 599 {
				v.add(fmt.Sprintf("%s.retry.onStatus[%d]", p, i), "%d is not an HTTP status (100 to 599)", st)
			}
		}
		for i, m := range r.Methods {
			switch m {
			case "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST", "PATCH", "TRACE":
			default:
				v.add(fmt.Sprintf("%s.retry.methods[%d]", p, i), "%q is not a method usher retries (GET, HEAD, OPTIONS, PUT, DELETE, POST, PATCH, TRACE, in capitals)", m)
			}
		}
	}
	v.oneOf(p+".whenNoHealthy", lb.WhenNoHealthy, "503", "panic")
	v.connLimits(p, lb)
	if lb.Autoscale != nil {
		v.autoscale(p+".autoscale", lb)
	}
	if t := lb.Transport; t != nil {
		v.nonNegative(p+".transport.maxIdleConnsPerHost", t.MaxIdleConnsPerHost)
		v.oneOf(p+".transport.protocol", t.Protocol, "http1", "h2", "h2c", "auto")
		for i, srv := range lb.Servers {
			u, err := url.Parse(srv.URL)
			if err != nil {
				continue // serverURL says why
			}
			switch {
			case t.Protocol == "h2" && u.Scheme != "https":
				v.add(fmt.Sprintf("%s.servers[%d].url", p, i), "transport.protocol h2 is HTTP/2 over TLS: the url must be https:// (h2c is HTTP/2 in the clear)")
			case t.Protocol == "h2c" && u.Scheme != "http":
				v.add(fmt.Sprintf("%s.servers[%d].url", p, i), "transport.protocol h2c is HTTP/2 in the clear: the url must be http:// (h2 is HTTP/2 over TLS)")
			}
		}
		if ct := t.TLS; ct != nil {
			tp := p + ".transport.tls"
			v.fileExists(tp+".ca", ct.CA)
			v.fileExists(tp+".cert", ct.Cert)
			v.fileExists(tp+".key", ct.Key)
			if (ct.Cert == "") != (ct.Key == "") {
				v.add(tp, "cert and key go together: set both or neither")
			}
		}
	}
}

func (v *validator) serverURL(path, raw string) {
	if raw == "" {
		v.add(path, "a url is required, like http://10.0.0.1:8080")
		return
	}
	shown := RedactURL(raw) // a problem is logged and shown in the admin API
	if msg := portProblem(raw); msg != "" {
		v.add(path, "%q %s", shown, msg)
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		v.add(path, "%q is not a URL: %v", shown, redactedCause(err, raw))
	case u.Scheme != "http" && u.Scheme != "https":
		v.add(path, "%q must start with http:// or https://", shown)
	case u.Host == "" || u.Hostname() == "":
		v.add(path, "%q has no host", shown)
	case u.RawQuery != "" || u.Fragment != "":
		v.add(path, "%q cannot have a query or a fragment", shown)
	}
}

// urlCause drops url.Error's repetition of the URL, which the message already quotes.
func urlCause(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// redactedCause is urlCause with the userinfo of raw hidden, should the
// cause quote a part of the URL that holds it.
func redactedCause(err error, raw string) string {
	msg := urlCause(err).Error()
	if start, end := userinfo(raw); start >= 0 && end > start {
		msg = strings.ReplaceAll(msg, raw[start:end], Redaction)
	}
	return msg
}

var statusRange = regexp.MustCompile(`^([1-5][0-9][0-9])(?:-([1-5][0-9][0-9]))?$`)

func (v *validator) healthCheck(p string, hc *HealthCheck) {
	// mode is kind under Traefik's name: defaults copy it to kind, so each
	// value is judged once, under the key the user wrote.
	v.oneOf(p+".mode", hc.Mode, "http", "tcp", "grpc")
	switch {
	case hc.Mode != "" && hc.Kind != "" && hc.Kind != hc.Mode:
		v.add(p+".mode", "mode %q and kind %q disagree: they are one key under two names, set one", hc.Mode, hc.Kind)
	case hc.Mode == "":
		v.oneOf(p+".kind", hc.Kind, "http", "tcp", "grpc")
	}
	if hc.GRPCService != "" && hc.Kind != "grpc" {
		v.add(p+".grpcService", "grpcService is for kind: grpc")
	}
	if hc.Path != "" {
		u, err := url.Parse(hc.Path)
		switch {
		case !strings.HasPrefix(hc.Path, "/"):
			v.add(p+".path", "%q must start with /", hc.Path)
		case err != nil:
			v.add(p+".path", "%q is not a path: %v", hc.Path, urlCause(err))
		case u.Host != "" || u.Fragment != "" || strings.HasSuffix(hc.Path, "#"):
			v.add(p+".path", "%q must be a path and an optional query, with no host nor fragment", hc.Path)
		}
	}
	if hc.Hostname != "" && !isHostHeader(hc.Hostname) {
		v.add(p+".hostname", "%q is not a host name (a Host header: letters, digits, -._~ and the like, an optional :port)", hc.Hostname)
	}
	if hc.Method != "" && !isToken(hc.Method) {
		v.add(p+".method", "%q is not an HTTP method", hc.Method)
	}
	if hc.Port < 0 || hc.Port > 65535 {
		v.add(p+".port", "port must be 1 to 65535, got %d", hc.Port)
	}
	if hc.ExpectStatus != "" {
		m := statusRange.FindStringSubmatch(strings.TrimSpace(hc.ExpectStatus))
		switch {
		case m == nil:
			v.add(p+".expectStatus", "%q is not a status or a range of statuses (like 200 or 200-399)", hc.ExpectStatus)
		case m[2] != "" && m[2] < m[1]:
			v.add(p+".expectStatus", "range %q ends before it starts", hc.ExpectStatus)
		}
	}
	if hc.ExpectBody != "" {
		if _, err := regexp.Compile(hc.ExpectBody); err != nil {
			v.add(p+".expectBody", "bad regexp: %v", err)
		}
	}
	// A default timeout is 4/5 of a short interval: at least 1ms each keeps
	// both positive.
	if hc.Interval != 0 && hc.Interval.D() < time.Millisecond {
		v.add(p+".interval", "interval %s is below 1ms", hc.Interval.D())
	}
	if hc.Timeout != 0 && hc.Timeout.D() < time.Millisecond {
		v.add(p+".timeout", "timeout %s is below 1ms", hc.Timeout.D())
	}
	if hc.Interval.D() >= time.Millisecond && hc.Timeout > hc.Interval {
		v.add(p+".timeout", "timeout %s is longer than the interval %s between probes", hc.Timeout.D(), hc.Interval.D())
	}
	v.nonNegative(p+".healthyAfter", hc.HealthyAfter)
	v.nonNegative(p+".unhealthyAfter", hc.UnhealthyAfter)
	for _, k := range sortedKeys(hc.Headers) {
		switch val := hc.Headers[k]; {
		case !isToken(k):
			v.add(p+".headers."+k, "%q is not a valid header name", k)
		case strings.EqualFold(k, "Host") && !isHostHeader(val):
			v.add(p+".headers."+k, "%q is not a host name", val)
		case !isFieldValue(val):
			v.add(p+".headers."+k, "the value holds a control character (CR, LF, NUL...)")
		}
	}
}

// isHostHeader tells whether s can be sent as a Host header: a reg-name, an
// IPv4 address or a bracketed IPv6 literal, and an optional port.
func isHostHeader(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~!$&'()*+,;=:[]%", c) >= 0) {
			return false
		}
	}
	return true
}

// isFieldValue tells whether s can be a header value: no control character
// but horizontal tab.
func isFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func (v *validator) cookie(p string, c *StickyCookie) {
	if c == nil {
		v.add(p, "sticky needs a cookie")
		return
	}
	if c.Name != "" && !isToken(c.Name) {
		v.add(p+".name", "%q is not a valid cookie name", c.Name)
	}
	v.oneOf(p+".sameSite", c.SameSite, "lax", "strict", "none")
	if c.SameSite == "none" && !c.Secure {
		v.add(p+".sameSite", "sameSite none needs secure: true (browsers drop such cookies otherwise)")
	}
	v.nonNegative(p+".maxAge", c.MaxAge)
}

func (v *validator) weighted(p string, w *Weighted) {
	if len(w.Services) == 0 {
		v.add(p+".services", "a weighted service needs at least one service")
	}
	zero := 0
	for i, ws := range w.Services {
		sp := fmt.Sprintf("%s.services[%d]", p, i)
		v.serviceRef(sp+".name", ws.Name)
		if ws.Weight != nil && *ws.Weight < 0 {
			v.add(sp+".weight", "weight must be 0 or more, got %d", *ws.Weight)
		}
		if ws.Weight != nil && *ws.Weight == 0 {
			zero++
		}
	}
	if len(w.Services) > 0 && zero == len(w.Services) {
		v.add(p+".services", "every service has weight 0, so none would get traffic")
	}
	if w.Sticky != nil {
		v.cookie(p+".sticky.cookie", w.Sticky.Cookie)
	}
	v.deployment(p, w)
}

func (v *validator) mirror(p string, m *Mirror) {
	v.serviceRef(p+".service", m.Service)
	if len(m.Mirrors) == 0 {
		v.add(p+".mirrors", "a mirror needs at least one service to copy requests to")
	}
	for i, t := range m.Mirrors {
		tp := fmt.Sprintf("%s.mirrors[%d]", p, i)
		v.serviceRef(tp+".name", t.Name)
		if t.Percent != nil {
			v.percent(tp+".percent", *t.Percent)
		}
	}
	if m.Compare != nil {
		v.mirrorCompare(p+".compare", m.Compare)
	}
}

func (v *validator) middlewares() {
	mws := v.c.HTTP.Middlewares
	for _, name := range sortedKeys(mws) {
		m, p := mws[name], "http.middlewares."+name
		if m == nil || m.Spec == nil {
			v.add(p, "the middleware is empty; it needs one key naming its kind")
			continue
		}
		typ, ok := MiddlewareKinds[m.Kind]
		if !ok {
			v.add(p, "unknown middleware kind %q%s", m.Kind, didYouMean(m.Kind, middlewareKindNames()))
			continue
		}
		if reflect.TypeOf(m.Spec) != reflect.PointerTo(typ) {
			v.add(p, "middleware of kind %q holds a %T, not a *%s", m.Kind, m.Spec, typ.Name())
			continue
		}
		v.middleware(p+"."+m.Kind, m.Spec)
	}
	v.cycles("http.middlewares", sortedKeys(mws), "chains include each other in a cycle", func(name string) []string {
		if ch, ok := mws[name].spec().(*Chain); ok && ch != nil {
			return ch.Middlewares
		}
		return nil
	})
}

func (v *validator) middleware(p string, spec any) {
	switch s := spec.(type) {
	case *StripPrefix:
		if len(s.Prefixes) == 0 {
			v.add(p+".prefixes", "at least one prefix is required")
		}
		for i, pre := range s.Prefixes {
			v.absPath(fmt.Sprintf("%s.prefixes[%d]", p, i), pre)
		}
	case *AddPrefix:
		v.absPath(p+".prefix", s.Prefix)
	case *ReplacePath:
		v.absPath(p+".path", s.Path)
	case *RedirectScheme:
		if s.Scheme == "" {
			v.add(p+".scheme", "a scheme is required (http or https)")
		}
		v.oneOf(p+".scheme", s.Scheme, "http", "https")
		if s.Port != "" {
			if n, err := strconv.Atoi(s.Port); err != nil || n < 1 || n > 65535 {
				v.add(p+".port", "%q is not a port (1 to 65535)", s.Port)
			}
		}
	case *RedirectRegex:
		if s.Regex == "" {
			v.add(p+".regex", "a regex is required")
		} else if _, err := regexp.Compile(s.Regex); err != nil {
			v.add(p+".regex", "bad regexp: %v", err)
		}
		if s.Replacement == "" {
			v.add(p+".replacement", "a replacement is required")
		}
	case *Headers:
		for _, set := range []struct {
			key string
			m   map[string]string
		}{{"customRequestHeaders", s.CustomRequestHeaders}, {"customResponseHeaders", s.CustomResponseHeaders}} {
			for _, k := range sortedKeys(set.m) {
				if !isToken(k) {
					v.add(p+"."+set.key+"."+k, "%q is not a valid header name", k)
				}
			}
		}
		v.nonNegative(p+".stsSeconds", s.STSSeconds)
		v.headerPolicies(p, s)
	case *Buffering:
		if s.MaxRequestBodyBytes < 0 || s.MemRequestBodyBytes < 0 {
			v.add(p, "sizes cannot be negative")
		}
	case *ForwardAuth:
		v.forwardAuth(p, s)
	case *WAF:
		v.waf(p, s)
	case *Compress:
		v.compress(p, s)
	case *Cache:
		v.cache(p, s)
	case *IPAllowList:
		v.ipList(p, s)
	case *IPDenyList:
		v.ipList(p, (*IPAllowList)(s))
	case *CORS:
		v.cors(p, s)
	case *CSRF:
		v.csrf(p, s)
	case *RateLimit:
		v.rateLimit(p, s)
	case *InFlightReq:
		v.inFlightReq(p, s)
	case *Errors:
		v.errors(p, s)
	case *CircuitBreaker:
		v.circuitBreaker(p, s)
	case *RetryMiddleware:
		v.retry(p, s)
	case *JWT:
		v.jwt(p, s)
	case *APIKey:
		v.apiKey(p, s)
	case *BasicAuth:
		v.basicAuth(p, s)
	case *DigestAuth:
		v.digestAuth(p, s)
	case *Portal:
		v.portal(p, s)
	case *OIDC:
		v.oidc(p, s)
	case *PassTLSClientCert:
		v.passTLSClientCert(p, s)
	case *Chain:
		if len(s.Middlewares) == 0 {
			v.add(p+".middlewares", "a chain needs at least one middleware")
		}
		for i, name := range s.Middlewares {
			v.middlewareRef(fmt.Sprintf("%s.middlewares[%d]", p, i), name)
		}
	}
}

// compress checks a compress middleware: known encodings, each once; a
// minimum size the middleware can buffer; media type patterns it can match;
// levels in range.
func (v *validator) compress(p string, s *Compress) {
	seen := map[string]bool{}
	for i, e := range s.Encodings {
		ep := fmt.Sprintf("%s.encodings[%d]", p, i)
		switch {
		case e != "zstd" && e != "br" && e != "gzip":
			v.add(ep, "%q is not one of zstd, br, gzip%s", e, didYouMean(e, []string{"zstd", "br", "gzip"}))
		case seen[e]:
			v.add(ep, "%q is listed twice", e)
		}
		seen[e] = true
	}
	if m := s.MinResponseBodyBytes; m != nil && (*m < 0 || *m > 64<<10) {
		v.add(p+".minResponseBodyBytes", "must be 0 to 64KiB, got %d bytes", int64(*m))
	}
	for _, list := range []struct {
		key  string
		pats []string
	}{{"includedContentTypes", s.IncludedContentTypes}, {"excludedContentTypes", s.ExcludedContentTypes}} {
		for i, pat := range list.pats {
			if !isMediaPattern(pat) {
				v.add(fmt.Sprintf("%s.%s[%d]", p, list.key, i), "%q is not a media type: write type/subtype, type/* or type/*+suffix (text/html, text/*, application/*+json), without parameters", pat)
			}
		}
	}
	if l := s.Level; l != nil {
		if l.Gzip < 0 || l.Gzip > 9 {
			v.add(p+".level.gzip", "gzip levels are 1 to 9, got %d", l.Gzip)
		}
		if l.Br < 0 || l.Br > 9 {
			v.add(p+".level.br", "br levels are 1 to 9 when compressing on the fly (10 and 11 take a hundred times the CPU), got %d", l.Br)
		}
		if l.Zstd < 0 || l.Zstd > 22 {
			v.add(p+".level.zstd", "zstd levels are 1 to 22, got %d", l.Zstd)
		}
	}
}

// isMediaPattern tells whether s is type/subtype, type/* or type/*+suffix.
func isMediaPattern(s string) bool {
	typ, sub, ok := strings.Cut(s, "/")
	if !ok || !isToken(typ) || sub == "" {
		return false
	}
	if sub == "*" {
		return true
	}
	if suffix, ok := strings.CutPrefix(sub, "*+"); ok {
		return isToken(suffix) && !strings.Contains(suffix, "*")
	}
	return isToken(sub) && !strings.Contains(s, "*")
}

func (v *validator) absPath(path, val string) {
	switch {
	case val == "":
		v.add(path, "a path is required, starting with /")
	case !strings.HasPrefix(val, "/"):
		v.add(path, "%q must start with /", val)
	}
}

func (v *validator) tls() {
	t := v.c.TLS
	if t == nil {
		return
	}
	for i, c := range t.Certificates {
		p := fmt.Sprintf("tls.certificates[%d]", i)
		if c.CertFile == "" {
			v.add(p+".certFile", "certFile is required")
		}
		if c.KeyFile == "" {
			v.add(p+".keyFile", "keyFile is required")
		}
		v.fileExists(p+".certFile", c.CertFile)
		v.fileExists(p+".keyFile", c.KeyFile)
	}
	for _, name := range sortedKeys(t.Options) {
		o, p := t.Options[name], "tls.options."+name
		if o == nil {
			continue
		}
		v.version(p+".minVersion", o.MinVersion)
		v.version(p+".maxVersion", o.MaxVersion)
		if o.MinVersion == "1.3" && o.MaxVersion == "1.2" {
			v.add(p+".maxVersion", "maxVersion 1.2 is below minVersion 1.3")
		}
		v.tlsOptions(p, o)
	}
}

func (v *validator) fileExists(path, name string) {
	if name == "" {
		return
	}
	if err := checkReadable(name); err != nil {
		v.add(path, "%v", err)
	}
}

func (v *validator) nonNegative(path string, n int) {
	if n < 0 {
		v.add(path, "must be 0 or more, got %d", n)
	}
}

func (v *validator) percent(path string, n int) {
	if n < 0 || n > 100 {
		v.add(path, "a percentage is 0 to 100, got %d", n)
	}
}

// cycles reports each cycle of the graph given by edges over names once, at
// the first name of the cycle, as "a -> b -> a". Edges to unknown names are
// ignored: the reference check reports them.
func (v *validator) cycles(prefix string, names []string, msg string, edges func(string) []string) {
	const (
		unseen = iota
		onStack
		done
	)
	state := make(map[string]int, len(names))
	exists := make(map[string]bool, len(names))
	for _, n := range names {
		exists[n] = true
	}
	var stack []string
	reported := map[string]bool{}
	var visit func(n string)
	visit = func(n string) {
		state[n] = onStack
		stack = append(stack, n)
		for _, next := range edges(n) {
			if !exists[next] {
				continue
			}
			switch state[next] {
			case unseen:
				visit(next)
			case onStack:
				i := slices.Index(stack, next)
				cycle := strings.Join(append(slices.Clone(stack[i:]), next), " -> ")
				if !reported[cycle] {
					reported[cycle] = true
					v.add(prefix+"."+next, "%s: %s", msg, cycle)
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
	}
	for _, n := range names {
		if state[n] == unseen {
			visit(n)
		}
	}
}

// isToken reports whether s is an HTTP token (RFC 9110): header names,
// methods and cookie names are.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || c <= ' ' || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 || c == 0x7f {
			return false
		}
	}
	return true
}

// forwardAuth checks a forwardAuth middleware: an auth server's URL, header
// and cookie names, a regexp, sizes and TLS files.
func (v *validator) forwardAuth(p string, f *ForwardAuth) {
	v.authServerURL(p+".address", f.Address)
	names := func(key string, list []string, what string) {
		for i, k := range list {
			if !isToken(k) {
				v.add(fmt.Sprintf("%s.%s[%d]", p, key, i), "%q is not a valid %s name", k, what)
			}
		}
	}
	names("authRequestHeaders", f.AuthRequestHeaders, "header")
	names("authResponseHeaders", f.AuthResponseHeaders, "header")
	names("addAuthCookiesToResponse", f.AddAuthCookiesToResponse, "cookie")
	for i, k := range f.AuthResponseHeaders {
		if isFramingField(k) {
			v.add(fmt.Sprintf("%s.authResponseHeaders[%d]", p, i), "%q belongs to one connection and cannot be copied from the auth server's answer", k)
		}
	}
	if f.AuthResponseHeadersRegex != "" {
		if _, err := regexp.Compile(f.AuthResponseHeadersRegex); err != nil {
			v.add(p+".authResponseHeadersRegex", "bad regexp: %v", err)
		}
	}
	if f.HeaderField != "" && !isToken(f.HeaderField) {
		v.add(p+".headerField", "%q is not a valid header name", f.HeaderField)
	}
	if f.MaxBodySize < 0 {
		v.add(p+".maxBodySize", "a size cannot be negative")
	}
	v.nonNegative(p+".maxConns", f.MaxConns)
	if ct := f.TLS; ct != nil {
		v.fileExists(p+".tls.ca", ct.CA)
		v.fileExists(p+".tls.cert", ct.Cert)
		v.fileExists(p+".tls.key", ct.Key)
		if (ct.Cert == "") != (ct.Key == "") {
			v.add(p+".tls", "cert and key go together: set both or neither")
		}
	}
	if c := f.Cache; c != nil {
		if c.MaxBytes < 0 {
			v.add(p+".cache.maxBytes", "a size cannot be negative")
		}
		names("cache.vary", c.Vary, "header")
	}
}

// authServerURL checks the URL of a service a middleware asks: http or
// https, a host, no fragment, and no user:password@ (the client's own
// Authorization is what goes there).
func (v *validator) authServerURL(path, raw string) {
	if raw == "" {
		v.add(path, "an address is required, like http://127.0.0.1:9000/auth")
		return
	}
	shown := RedactURL(raw)
	if msg := portProblem(raw); msg != "" {
		v.add(path, "%q %s", shown, msg)
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		v.add(path, "%q is not a URL: %v", shown, redactedCause(err, raw))
	case u.Scheme != "http" && u.Scheme != "https":
		v.add(path, "%q must start with http:// or https://", shown)
	case u.Host == "" || u.Hostname() == "":
		v.add(path, "%q has no host", shown)
	case u.User != nil:
		v.add(path, "%q has a user:password@, which is not sent; the auth server gets the client's Authorization (use tls.cert and tls.key for usher to prove itself)", shown)
	case u.Fragment != "":
		v.add(path, "%q cannot have a fragment", shown)
	}
}

// isFramingField tells whether the header name k describes one connection
// or one message's framing, and so is never copied from one message to
// another.
func isFramingField(k string) bool {
	switch strings.ToLower(k) {
	case "connection", "proxy-connection", "keep-alive", "te", "trailer", "transfer-encoding",
		"upgrade", "content-length", "expect", "host":
		return true
	}
	return false
}
