package observe

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func newCompareVec() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usher_mirror_compare_total",
		Help: "Comparisons of a mirror's response with the main one (mirror.compare), by mirror service, mirror, field (status, body, header; header names the header) and result: match, differ, skipped (not comparable: the main response was cut short or the client left, a body past compare.maxBodySize on both sides, the mirror did not finish).",
	}, []string{"service", "mirror", "field", "header", "result"})
}

// MirrorCompare returns the counter of one result (match, differ, skipped)
// of the comparison of one field (status, body, header; header names it,
// "" otherwise) of mirror's responses in the mirror service. Every label
// comes from the configuration or a fixed set. On nil Metrics it is a
// counter of its own, registered nowhere, so that comparisons are counted
// (and shown by the admin API) without metrics too.
func (m *Metrics) MirrorCompare(service, mirror, field, header, result string) Counter {
	if m == nil {
		return Counter{prometheus.NewCounter(prometheus.CounterOpts{Name: "usher_mirror_compare_total"})}
	}
	return Counter{m.compares.WithLabelValues(service, mirror, field, header, result)}
}

// Value is the count so far; 0 for the zero Counter. It reads the counter
// the way a scrape does: for the admin API, not for the request path.
func (c Counter) Value() uint64 {
	if c.c == nil {
		return 0
	}
	var d dto.Metric
	if c.c.Write(&d) != nil || d.Counter == nil {
		return 0
	}
	return uint64(d.Counter.GetValue())
}
