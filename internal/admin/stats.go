package admin

import (
	"time"

	"github.com/usher-lb/usher/internal/observe"
)

// traffic is what the API shows of a window of traffic (a service's, a
// server's, or all of them).
type traffic struct {
	RPS       float64 `json:"rps"`
	P50Ms     float64 `json:"p50Ms"`
	P99Ms     float64 `json:"p99Ms"`
	ErrorRate float64 `json:"errorRate"` // 0 to 1
	Requests  uint64  `json:"requests"`  // in the window
}

// point is one second of a service's history.
type point struct {
	Time      time.Time `json:"time"`
	RPS       float64   `json:"rps"`
	P50Ms     float64   `json:"p50Ms"`
	P99Ms     float64   `json:"p99Ms"`
	ErrorRate float64   `json:"errorRate"` // 0 to 1
}

func trafficOf(w observe.Window) traffic {
	return traffic{RPS: w.RPS, P50Ms: ms(w.P50), P99Ms: ms(w.P99), ErrorRate: w.ErrorRate, Requests: w.Requests}
}

func (a *admin) serviceStats(service string) traffic {
	if a.d.Stats == nil {
		return traffic{}
	}
	return trafficOf(a.d.Stats.Service(service))
}

func (a *admin) serverStats(service, url string) traffic {
	if a.d.Stats == nil {
		return traffic{}
	}
	return trafficOf(a.d.Stats.Server(service, url))
}

func (a *admin) series(service string, seconds int) []point {
	out := []point{}
	if a.d.Stats == nil {
		return out
	}
	for _, p := range a.d.Stats.Series(service, seconds) {
		pt := point{Time: p.Time, RPS: p.RPS, P50Ms: ms(p.P50), P99Ms: ms(p.P99)}
		if p.RPS > 0 {
			pt.ErrorRate = float64(p.Errors) / p.RPS
		}
		out = append(out, pt)
	}
	return out
}

// totals adds up the traffic of services: rates and counts add, the error
// rate is weighted by requests, and the percentiles are the highest of the
// services' (a bound, since percentiles do not add).
func (a *admin) totals(services []string) traffic {
	var t traffic
	var errs float64
	for _, name := range services {
		s := a.serviceStats(name)
		t.RPS += s.RPS
		t.Requests += s.Requests
		errs += s.ErrorRate * float64(s.Requests)
		t.P50Ms = max(t.P50Ms, s.P50Ms)
		t.P99Ms = max(t.P99Ms, s.P99Ms)
	}
	if t.Requests > 0 {
		t.ErrorRate = errs / float64(t.Requests)
	}
	return t
}
