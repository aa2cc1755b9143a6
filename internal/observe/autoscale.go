package observe

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// scaleMetrics are the series of autoscaled services, registered on first
// use: a config without autoscale adds none.
type scaleMetrics struct {
	once      sync.Once
	desired   *prometheus.GaugeVec   // service
	actual    *prometheus.GaugeVec   // service
	panicking *prometheus.GaugeVec   // service
	decisions *prometheus.CounterVec // service, direction
}

func (m *Metrics) scaleVecs() *scaleMetrics {
	s := &m.scaling
	s.once.Do(func() {
		s.desired = prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "usher_autoscale_desired_servers",
			Help: "The count of servers the autoscaler of a service last decided on.",
		}, []string{"service"})
		s.actual = prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "usher_autoscale_ready_servers",
			Help: "The servers of an autoscaled service that take requests now (healthy, not draining).",
		}, []string{"service"})
		s.panicking = prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "usher_autoscale_panic",
			Help: "1 while the autoscaler of a service is in panic mode (scale up only), else 0.",
		}, []string{"service"})
		s.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usher_autoscale_decisions_total",
			Help: "Decisions of the autoscaler of a service that changed its count, by direction: up or down.",
		}, []string{"service", "direction"})
		m.reg.MustRegister(s.desired, s.actual, s.panicking, s.decisions)
	})
	return s
}

// ScaleGauges are the series of one autoscaled service; the zero value
// records nothing.
type ScaleGauges struct {
	desired, actual, panicking prometheus.Gauge
	up, down                   prometheus.Counter
}

// Autoscale returns the series of the autoscaled service.
func (m *Metrics) Autoscale(service string) ScaleGauges {
	if m == nil {
		return ScaleGauges{}
	}
	s := m.scaleVecs()
	return ScaleGauges{
		desired:   s.desired.WithLabelValues(service),
		actual:    s.actual.WithLabelValues(service),
		panicking: s.panicking.WithLabelValues(service),
		up:        s.decisions.WithLabelValues(service, "up"),
		down:      s.decisions.WithLabelValues(service, "down"),
	}
}

// Set records one decision: the count decided, the servers ready, whether
// in panic, and the direction (up, down; anything else counts nothing).
func (g ScaleGauges) Set(desired, ready int, panicking bool, direction string) {
	if g.desired == nil {
		return
	}
	g.desired.Set(float64(desired))
	g.actual.Set(float64(ready))
	p := 0.0
	if panicking {
		p = 1
	}
	g.panicking.Set(p)
	switch direction {
	case "up":
		g.up.Inc()
	case "down":
		g.down.Inc()
	}
}
