package observe

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ACMEMetrics are the certResolvers' figures: what each attempt to obtain or
// renew a certificate gave, what on-demand issuance decided, and when each
// managed certificate expires and is due for renewal. Labels are resolver
// names (the config's) and the names certificates are managed for: those
// routers list, and those an on-demand ask endpoint approved (rate-limited),
// never an SNI nobody approved.
type ACMEMetrics struct {
	obtain    *prometheus.CounterVec // resolver, result
	renew     *prometheus.CounterVec // resolver, result
	decisions *prometheus.CounterVec // resolver, decision
	certs     acmeCertCollector
}

// ACMECert is one managed certificate as a scrape publishes it.
type ACMECert struct {
	Resolver string
	Name     string
	NotAfter time.Time
	RenewAt  time.Time // zero when unknown
}

// OnDemandDecisions are the values of the decision label of
// usher_acme_on_demand_decisions_total.
var OnDemandDecisions = []string{"allowed", "denied", "rate_limited", "error"}

func newACMEMetrics() *ACMEMetrics {
	a := &ACMEMetrics{
		obtain: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usher_acme_certificate_obtain_total",
			Help: "Attempts to obtain a new certificate from an ACME CA, by certResolver and result (success, failure); each retry of a failing name counts.",
		}, []string{"resolver", "result"}),
		renew: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usher_acme_certificate_renew_total",
			Help: "Attempts to renew a certificate, by certResolver and result (success, failure); the old certificate serves meanwhile.",
		}, []string{"resolver", "result"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usher_acme_on_demand_decisions_total",
			Help: "On-demand issuance decisions for a name without a certificate, by certResolver and decision: allowed (ask answered 200, within the rate limit), denied (ask refused it, or not a DNS name), rate_limited (approved but over the rate limit), error (ask could not be reached).",
		}, []string{"resolver", "decision"}),
	}
	a.certs.notAfter = prometheus.NewDesc("usher_acme_certificate_expiry_timestamp_seconds",
		"When a certificate obtained by a certResolver expires (its NotAfter), as a Unix time, by certResolver and managed name.",
		[]string{"resolver", "name"}, nil)
	a.certs.renewAt = prometheus.NewDesc("usher_acme_certificate_renewal_timestamp_seconds",
		"When a certificate obtained by a certResolver is due for renewal (the ARI window's selected time, else with a third of its lifetime left), as a Unix time.",
		[]string{"resolver", "name"}, nil)
	return a
}

func (a *ACMEMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{a.obtain, a.renew, a.decisions, &a.certs}
}

// ACME returns the certResolvers' metrics.
func (m *Metrics) ACME() *ACMEMetrics { return m.acme }

// Resolver makes the series of a certResolver exist at zero, so that a
// rate or an alert on failures has a series before the first failure.
func (a *ACMEMetrics) Resolver(name string, onDemand bool) {
	for _, r := range []string{"success", "failure"} {
		a.obtain.WithLabelValues(name, r)
		a.renew.WithLabelValues(name, r)
	}
	if onDemand {
		for _, d := range OnDemandDecisions {
			a.decisions.WithLabelValues(name, d)
		}
	}
}

// Issued counts one attempt to obtain (renewal false) or renew a certificate.
func (a *ACMEMetrics) Issued(resolver string, renewal, ok bool) {
	result := "failure"
	if ok {
		result = "success"
	}
	if renewal {
		a.renew.WithLabelValues(resolver, result).Inc()
		return
	}
	a.obtain.WithLabelValues(resolver, result).Inc()
}

// OnDemand counts one on-demand decision (one of OnDemandDecisions).
func (a *ACMEMetrics) OnDemand(resolver, decision string) {
	a.decisions.WithLabelValues(resolver, decision).Inc()
}

// SetCertSource makes each scrape publish the certificates src returns;
// src runs on the scraping goroutine.
func (a *ACMEMetrics) SetCertSource(src func() []ACMECert) { a.certs.src.Store(&src) }

type acmeCertCollector struct {
	notAfter, renewAt *prometheus.Desc
	src               atomic.Pointer[func() []ACMECert]
}

func (c *acmeCertCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.notAfter
	ch <- c.renewAt
}

func (c *acmeCertCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.src.Load()
	if src == nil {
		return
	}
	for _, cert := range (*src)() {
		if cert.NotAfter.IsZero() {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.notAfter, prometheus.GaugeValue, float64(cert.NotAfter.Unix()), cert.Resolver, cert.Name)
		if !cert.RenewAt.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.renewAt, prometheus.GaugeValue, float64(cert.RenewAt.Unix()), cert.Resolver, cert.Name)
		}
	}
}
