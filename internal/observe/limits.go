package observe

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// limitMetrics are the counters of connection limits and queues, registered
// on first use: a config with no limit adds no series.
type limitMetrics struct {
	once     sync.Once
	rejected *prometheus.CounterVec // entrypoint, reason
	overload *prometheus.CounterVec // service, reason
	queued   *prometheus.CounterVec // service
}

func (m *Metrics) limitVecs() *limitMetrics {
	l := &m.limits
	l.once.Do(func() {
		l.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usher_entrypoint_connections_rejected_total",
			Help: "Client connections an entrypoint closed at once, by reason: maxConnections (the entrypoint was full) or maxConnectionsPerIP (the client's address was).",
		}, []string{"entrypoint", "reason"})
		l.overload = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usher_service_overload_rejected_total",
			Help: "Requests a load balancer answered 503 because every server was at its maxConns, by service and reason: maxConns (no queue), queueFull, queueTimeout.",
		}, []string{"service", "reason"})
		l.queued = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usher_service_queued_total",
			Help: "Requests that found every server of a service at its maxConns and waited in its queue (or found it full), by service.",
		}, []string{"service"})
		m.reg.MustRegister(l.rejected, l.overload, l.queued)
	})
	return l
}

// ConnRejected returns the counter of connections entrypoint refused for reason.
func (m *Metrics) ConnRejected(entrypoint, reason string) Counter {
	if m == nil {
		return Counter{}
	}
	return Counter{m.limitVecs().rejected.WithLabelValues(entrypoint, reason)}
}

// Overload returns the counter of requests service refused for overload, for reason.
func (m *Metrics) Overload(service, reason string) Counter {
	if m == nil {
		return Counter{}
	}
	return Counter{m.limitVecs().overload.WithLabelValues(service, reason)}
}

// Queued returns the counter of requests that waited in service's queue.
func (m *Metrics) Queued(service string) Counter {
	if m == nil {
		return Counter{}
	}
	return Counter{m.limitVecs().queued.WithLabelValues(service)}
}
