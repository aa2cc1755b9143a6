package observe

import (
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// Metrics is usher's Prometheus instrumentation, on a registry of its own (the
// global one is never touched, so tests and embedders can make several).
//
// Every label value comes from the configuration or from a fixed set: the
// names of entrypoints, routers, services, servers and certificates, a status
// class, a reload result. Nothing the client sends (path, Host, client IP,
// headers) ever becomes a label, so the number of series is bounded by the
// config. Series of routers and services removed by a reload stay until the
// process ends, as is usual with Prometheus counters.
//
// Observe is on the request path: the label children of each (entrypoint,
// router, service, status class) are resolved once and cached in a map read
// without a lock, so that Observe does not allocate once warm.
type Metrics struct {
	reg *prometheus.Registry

	requests   *prometheus.CounterVec   // entrypoint, router, service, code
	routerDur  *prometheus.HistogramVec // router
	serviceDur *prometheus.HistogramVec // service
	retries    *prometheus.CounterVec   // service
	truncated  *prometheus.CounterVec   // service
	decisions  *prometheus.CounterVec   // kind, middleware, result
	states     *prometheus.CounterVec   // kind, middleware, state
	conns      *prometheus.GaugeVec     // entrypoint
	connsTotal *prometheus.CounterVec   // entrypoint
	certExpiry *prometheus.GaugeVec     // name
	compares   *prometheus.CounterVec   // service, mirror, field, header, result (compare.go)
	reloadOK   prometheus.Counter
	reloadFail prometheus.Counter
	lastReload prometheus.Gauge
	acme       *ACMEMetrics // acme.go

	inflight atomic.Int64
	series   cowMap[seriesKey, *reqSeries]
	retryBy  cowMap[string, prometheus.Counter]
	servers  serverCollector
	limits   limitMetrics // limits.go
	scaling  scaleMetrics // autoscale.go
}

// seriesKey names the children one finished request updates.
type seriesKey struct {
	entrypoint, router, service string
	class                       uint8 // index into classes
}

// reqSeries are the pre-resolved children of one seriesKey.
type reqSeries struct {
	requests prometheus.Counter
	router   prometheus.Observer
	service  prometheus.Observer // nil when no service answered
	retries  prometheus.Counter  // nil when no service answered
	cut      prometheus.Counter  // nil when no service answered
}

// classes are the values of the code label. A status that Recorder never saw
// set (0) is the 200 that net/http sends for a handler that wrote nothing.
// 499 (the client went away before its response, as nginx logs it) has a
// value of its own: it is no answer of usher's, and must not swell 4xx.
var classes = [...]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx", "499"}

// class499 is the index of "499" in classes.
const class499 = 6

func classOf(status int) uint8 {
	if status == 0 {
		return 2
	}
	if status == 499 {
		return class499
	}
	if status < 100 || status > 599 {
		return 0
	}
	return uint8(status / 100)
}

// noneLabel stands for an empty router or service: the request matched no
// router (404), or was answered before reaching a service (redirect).
const noneLabel = "none"

func orNone(s string) string {
	if s == "" {
		return noneLabel
	}
	return s
}

// durationBuckets are the upper bounds, in seconds, of the request duration
// histograms: from 1ms (a proxy's own latency) to 30s (a slow upload).
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// NewMetrics returns metrics on a fresh registry, which also holds the Go
// runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usher_requests_total",
		Help: "Requests answered, by entrypoint, router, service and status class (router and service \"none\" when there was none; code \"499\": the client went away before its response).",
	}, []string{"entrypoint", "router", "service", "code"})
	m.routerDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "usher_router_request_duration_seconds",
		Help:    "Time from the request's arrival to the end of its response, by router (\"none\": no router matched).",
		Buckets: durationBuckets,
	}, []string{"router"})
	m.serviceDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "usher_service_request_duration_seconds",
		Help:    "Time from the request's arrival to the end of its response, by the service that answered.",
		Buckets: durationBuckets,
	}, []string{"service"})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usher_retries_total",
		Help: "Requests sent again to another server, by service (Record.Retries of finished requests, and Retry calls).",
	}, []string{"service"})
	m.truncated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usher_upstream_truncated_total",
		Help: "Responses whose server cut the body short (EOF before Content-Length, a chunked body cut or malformed), by service: the client's connection was aborted (HTTP/2: the stream reset).",
	}, []string{"service"})
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usher_middleware_decisions_total",
		Help: "What guarding middlewares (auth, limits, filters) decided, by kind, middleware name and result: allow, deny (what the client sent), error (the middleware could not decide: a peer or a store failed).",
	}, []string{"kind", "middleware", "result"})
	m.states = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usher_middleware_state_changes_total",
		Help: "Changes of state of middlewares that have states, by kind, middleware name and the state entered (circuitBreaker: closed, open, recovering).",
	}, []string{"kind", "middleware", "state"})
	m.conns = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "usher_open_connections",
		Help: "Client connections open on an entrypoint (hijacked ones, such as WebSockets, leave the count).",
	}, []string{"entrypoint"})
	m.connsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usher_connections_total",
		Help: "Client connections accepted by an entrypoint.",
	}, []string{"entrypoint"})
	m.certExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "usher_cert_expiry_timestamp_seconds",
		Help: "When a certificate expires (its NotAfter), as a Unix time.",
	}, []string{"name"})
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usher_reloads_total",
		Help: "Configuration loads, by result (success: swapped in; failure: refused, the old one kept serving).",
	}, []string{"result"})
	m.reloadOK = reloads.WithLabelValues("success")
	m.reloadFail = reloads.WithLabelValues("failure")
	m.lastReload = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "usher_last_reload_success_timestamp_seconds",
		Help: "When a configuration was last swapped in, as a Unix time.",
	})
	inflight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "usher_requests_in_flight",
		Help: "Requests usher is answering now.",
	}, func() float64 { return float64(m.inflight.Load()) })
	m.servers.init()
	m.compares = newCompareVec()
	m.acme = newACMEMetrics()

	m.reg.MustRegister(m.requests, m.routerDur, m.serviceDur, m.retries, m.truncated, m.decisions, m.states, m.conns,
		m.connsTotal, m.certExpiry, reloads, m.lastReload, inflight, &m.servers, m.compares,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(m.acme.collectors()...)
	return m
}

// Registry is the registry the metrics are on, for a caller that adds its own
// collectors or gathers them in another format.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text (or negotiated) format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Observe counts one finished request. It does not allocate once the request's
// label combination has been seen.
func (m *Metrics) Observe(_ *http.Request, rec *Record) {
	k := seriesKey{rec.Entrypoint, rec.Router, rec.Service, classOf(rec.Status)}
	s, ok := m.series.get(k)
	if !ok {
		s = m.series.add(k, func() *reqSeries { return m.newSeries(k) }, nil)
	}
	s.requests.Inc()
	d := rec.Duration.Seconds()
	s.router.Observe(d)
	if s.service != nil {
		s.service.Observe(d)
		if rec.Retries > 0 {
			s.retries.Add(float64(rec.Retries))
		}
		if rec.Error == ErrUpstreamTruncated {
			s.cut.Inc()
		}
	}
}

func (m *Metrics) newSeries(k seriesKey) *reqSeries {
	s := &reqSeries{
		requests: m.requests.WithLabelValues(k.entrypoint, orNone(k.router), orNone(k.service), classes[k.class]),
		router:   m.routerDur.WithLabelValues(orNone(k.router)),
	}
	if k.service != "" {
		s.service = m.serviceDur.WithLabelValues(k.service)
		s.retries = m.retryCounter(k.service)
		s.cut = m.truncated.WithLabelValues(k.service)
	}
	return s
}

// RequestStarted counts a request in flight; the entrypoint calls it when a
// request arrives and RequestDone when it is over.
func (m *Metrics) RequestStarted() { m.inflight.Add(1) }

// RequestDone ends a request counted by RequestStarted.
func (m *Metrics) RequestDone() { m.inflight.Add(-1) }

// Retry counts one retry that no Record carries. Observe already counts each
// request's Record.Retries (which the load balancer fills), so retries of
// proxied requests need no call here: calling Retry for them too would count
// them twice.
func (m *Metrics) Retry(service string) { m.retryCounter(service).Inc() }

func (m *Metrics) retryCounter(service string) prometheus.Counter {
	c, ok := m.retryBy.get(service)
	if !ok {
		c = m.retryBy.add(service, func() prometheus.Counter { return m.retries.WithLabelValues(orNone(service)) }, nil)
	}
	return c
}

// ReloadResult counts a configuration load (the first one included): ok when
// it was swapped in, false when it was refused.
func (m *Metrics) ReloadResult(ok bool) {
	if !ok {
		m.reloadFail.Inc()
		return
	}
	m.reloadOK.Inc()
	m.lastReload.Set(float64(time.Now().UnixNano()) / 1e9)
}

// ConnState returns a function for http.Server.ConnState that keeps the count
// of open connections of entrypoint. A hijacked connection (a WebSocket or
// other upgrade) leaves the count when net/http hands it over.
func (m *Metrics) ConnState(entrypoint string) func(net.Conn, http.ConnState) {
	open := m.conns.WithLabelValues(entrypoint)
	total := m.connsTotal.WithLabelValues(entrypoint)
	return func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			open.Inc()
			total.Inc()
		case http.StateClosed, http.StateHijacked:
			open.Dec()
		}
	}
}

// ConnHandedOff counts again, as open, a connection that ConnState saw
// hijacked but that usher still serves (an h2c connection, served by the
// HTTP/2 server after the HTTP/1.1 one); the returned func counts it closed.
func (m *Metrics) ConnHandedOff(entrypoint string) (closed func()) {
	if m == nil {
		return func() {}
	}
	open := m.conns.WithLabelValues(entrypoint)
	open.Inc()
	return open.Dec
}

// Counter is a counter resolved once, safe to increment on the request path.
// The zero Counter counts nothing.
type Counter struct{ c prometheus.Counter }

// Counter returns the underlying counter (nil for the zero Counter), for tests.
func (c Counter) Counter() prometheus.Counter { return c.c }

// Inc adds one.
func (c Counter) Inc() {
	if c.c != nil {
		c.c.Inc()
	}
}

// Decision returns the counter of one result (allow, deny, error) of the
// middleware name, of kind. Its labels come from the configuration only.
func (m *Metrics) Decision(kind, name, result string) Counter {
	if m == nil {
		return Counter{}
	}
	return Counter{m.decisions.WithLabelValues(kind, name, result)}
}

// Decisions is what one middleware decided since usher started.
type Decisions struct {
	Kind  string `json:"kind"`
	Allow uint64 `json:"allow"`
	Deny  uint64 `json:"deny"`
	Error uint64 `json:"error"`
}

// DecisionCounts returns the decisions counted so far, by middleware name
// (the same counters as usher_middleware_decisions_total). It walks the
// counters: for the admin API, not for the request path.
func (m *Metrics) DecisionCounts() map[string]Decisions {
	out := map[string]Decisions{}
	if m == nil {
		return out
	}
	ch := make(chan prometheus.Metric, 64)
	go func() { m.decisions.Collect(ch); close(ch) }()
	for pm := range ch {
		var d dto.Metric
		if pm.Write(&d) != nil || d.Counter == nil {
			continue
		}
		var kind, name, result string
		for _, l := range d.Label {
			switch l.GetName() {
			case "kind":
				kind = l.GetValue()
			case "middleware":
				name = l.GetValue()
			case "result":
				result = l.GetValue()
			}
		}
		c := out[name]
		c.Kind = kind
		n := uint64(d.Counter.GetValue())
		switch result {
		case "allow":
			c.Allow += n
		case "deny":
			c.Deny += n
		case "error":
			c.Error += n
		}
		out[name] = c
	}
	return out
}

// StateChange returns the counter of the middleware name (of kind) entering
// state. Its labels come from the configuration and the middleware's own
// fixed set of states.
func (m *Metrics) StateChange(kind, name, state string) Counter {
	if m == nil {
		return Counter{}
	}
	return Counter{m.states.WithLabelValues(kind, name, state)}
}

// SetCertExpiry publishes when the certificate called name expires. A zero
// notAfter removes it (the certificate left the configuration).
func (m *Metrics) SetCertExpiry(name string, notAfter time.Time) {
	if notAfter.IsZero() {
		m.certExpiry.DeleteLabelValues(name)
		return
	}
	m.certExpiry.WithLabelValues(name).Set(float64(notAfter.Unix()))
}

// WatchAccessLog publishes the lines a lets drop (usher_accesslog_dropped_total).
// Call it at most once.
func (m *Metrics) WatchAccessLog(a *AccessLog) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "usher_accesslog_dropped_total",
		Help: "Access log lines dropped because the writer fell behind.",
	}, func() float64 { return float64(a.Dropped()) }))
}

// ServerState is what the metrics publish of one server, read at scrape time.
type ServerState struct {
	Service, URL               string
	Healthy, Ejected, Draining bool
	InFlight                   int64
	Requests, Failures         uint64
	Ejections, Retries         uint64
	ProbeLatency               time.Duration // of the last active health check; 0: none yet
}

// SetServerSource makes each scrape publish the servers src returns (each
// service and URL at most once). src runs on the scraping goroutine and must be
// safe to call concurrently with requests; nil stops publishing servers.
func (m *Metrics) SetServerSource(src func() []ServerState) {
	if src == nil {
		m.servers.src.Store(nil)
		return
	}
	m.servers.src.Store(&src)
}

// serverCollector turns ServerStates into metrics at scrape time, so that the
// per-server counters are read where they live (internal/pool) and never
// copied on the request path.
type serverCollector struct {
	src                                  atomic.Pointer[func() []ServerState]
	healthy, ejected, draining, inflight *prometheus.Desc
	requests, failures, ejections, retry *prometheus.Desc
	probe                                *prometheus.Desc
}

func (c *serverCollector) init() {
	l := []string{"service", "server"}
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, l, nil) }
	c.healthy = d("usher_server_healthy", "1 when the server passes its active health checks (or has none).")
	c.ejected = d("usher_server_ejected", "1 when passive health checks ejected the server.")
	c.draining = d("usher_server_draining", "1 when the server is drained.")
	c.inflight = d("usher_server_in_flight", "Requests the server is answering now.")
	c.requests = d("usher_server_requests_total", "Requests sent to the server.")
	c.failures = d("usher_server_failures_total", "Requests to the server that got no response (connect error, reset, timeout).")
	c.ejections = d("usher_server_ejections_total", "Times passive health checks ejected the server.")
	c.retry = d("usher_server_retries_total", "Requests sent again to another server after this one failed.")
	c.probe = d("usher_server_probe_latency_seconds", "Duration of the server's last active health check.")
}

// Describe implements prometheus.Collector.
func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.healthy, c.ejected, c.draining, c.inflight,
		c.requests, c.failures, c.ejections, c.retry, c.probe} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.src.Load()
	if src == nil {
		return
	}
	for _, s := range (*src)() {
		svc, srv := s.Service, redactURL(s.URL)
		g := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, svc, srv)
		}
		n := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), svc, srv)
		}
		g(c.healthy, b2f(s.Healthy))
		g(c.ejected, b2f(s.Ejected))
		g(c.draining, b2f(s.Draining))
		g(c.inflight, float64(s.InFlight))
		n(c.requests, s.Requests)
		n(c.failures, s.Failures)
		n(c.ejections, s.Ejections)
		n(c.retry, s.Retries)
		if s.ProbeLatency > 0 {
			g(c.probe, s.ProbeLatency.Seconds())
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// redactURL drops the user:password@ of a server URL, which must never reach
// a label, a log line or a span.
func redactURL(s string) string {
	if i, j := userinfoSpan(s); i >= 0 {
		return s[:i] + s[j:]
	}
	return s
}

// userinfoSpan finds the "user:password@" part of a URL: s[i:j] is it, or
// i is -1 when there is none. It looks only between "://" and the first '/'
// after it (the authority).
func userinfoSpan(s string) (i, j int) {
	p := strings.Index(s, "://")
	if p < 0 {
		return -1, -1
	}
	p += 3
	end := len(s)
	if k := strings.IndexAny(s[p:], "/?#"); k >= 0 {
		end = p + k
	}
	if at := strings.LastIndexByte(s[p:end], '@'); at >= 0 {
		return p, p + at + 1
	}
	return -1, -1
}
