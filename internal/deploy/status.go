package deploy

import (
	"slices"
	"time"
)

// Status is what a rollout shows in the admin API.
type Status struct {
	Service string `json:"service"`
	// Mode says what sets the weights: config, canary or switch.
	Mode    string        `json:"mode"`
	Arms    []ArmStatus   `json:"services"`
	Canary  *CanaryStatus `json:"canary,omitempty"`
	History []Entry       `json:"history"`
}

// ArmStatus is one service of the weighted service.
type ArmStatus struct {
	Name         string  `json:"name"`
	Weight       int     `json:"weight"`       // served now
	Share        float64 `json:"share"`        // of the traffic, 0 to 1
	ConfigWeight int     `json:"configWeight"` // as configured
	InFlight     int64   `json:"inFlight"`
	// State: serving (weight above 0), draining (no weight, requests still
	// in flight since a switch) or idle.
	State string `json:"state"`
}

// CanaryStatus is the canary's state and what it is judged on.
type CanaryStatus struct {
	Service      string        `json:"service"`
	State        string        `json:"state"` // progressing, promoted, rolledBack, aborted
	Step         int           `json:"step"`  // 1-based
	Steps        []int         `json:"steps"`
	Weight       int           `json:"weight"` // the canary's share now, percent
	StepStarted  time.Time     `json:"stepStarted"`
	Interval     string        `json:"interval"`
	MaxErrorRate float64       `json:"maxErrorRate"` // 0 to 1
	MaxP99       string        `json:"maxP99,omitempty"`
	MinRequests  int           `json:"minRequests"`
	Reason       string        `json:"reason"`
	Current      Figures       `json:"current"` // since the step began
	NextVerdict  time.Duration `json:"nextVerdictIn"`
}

// Status returns the rollout's state.
func (r *Rollout) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	w := r.weightsLocked()
	total := 0
	for _, n := range w {
		total += n
	}
	st := Status{Service: r.spec.Service, Mode: "config", History: slices.Clone(r.history)}
	if r.switched {
		st.Mode = "switch"
	} else if r.spec.Canary != nil {
		st.Mode = "canary"
	}
	for i, n := range r.spec.Arms {
		a := ArmStatus{Name: n, Weight: w[i], ConfigWeight: r.spec.Weights[i], InFlight: r.live.InFlight(i), State: "idle"}
		if total > 0 {
			a.Share = float64(w[i]) / float64(total)
		}
		switch {
		case w[i] > 0:
			a.State = "serving"
		case r.draining[i]:
			a.State = "draining"
		}
		st.Arms = append(st.Arms, a)
	}
	if c := r.spec.Canary; c != nil {
		cs := &CanaryStatus{
			Service: r.spec.Arms[c.Arm], State: r.state, Step: r.step + 1, Steps: slices.Clone(c.Steps),
			StepStarted: r.stepStart, Interval: c.Interval.String(), MaxErrorRate: c.MaxErrorRate,
			MinRequests: c.MinRequests, Reason: r.reason,
		}
		if c.MaxP99 > 0 {
			cs.MaxP99 = c.MaxP99.String()
		}
		switch r.state {
		case Progressing:
			cs.Weight = c.Steps[r.step]
			cs.NextVerdict = max(0, c.Interval-now.Sub(r.stepStart))
		case Promoted:
			cs.Weight = c.Steps[len(c.Steps)-1]
		}
		cur := r.live.Meters[c.Arm].Snapshot().Sub(r.base)
		cs.Current = Figures{Requests: cur.Requests, Errors: cur.Errors, ErrorRate: cur.ErrorRate(), P99: cur.Quantile(0.99), Span: now.Sub(r.stepStart)}
		st.Canary = cs
	}
	return st
}
