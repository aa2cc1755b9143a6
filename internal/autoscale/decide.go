// Package autoscale grows and shrinks the pools of load balancers with their
// load, as Knative's pod autoscaler (KPA) does: a Decider turns the samples
// of a service's load into a count of servers, a Scaler samples the load,
// decides and drives an Actuator (a command, or containers) that starts and
// stops the servers, and a Registry keeps each service's Scaler across
// reloads by name.
package autoscale

import (
	"fmt"
	"math"
	"time"
)

// Policy is what the config says of a service's autoscaling, its defaults
// applied.
type Policy struct {
	Min, Max       int
	Target         float64 // the load one server is meant to carry
	Metric         string  // MetricInFlight or MetricRPS
	StableWindow   time.Duration
	PanicWindow    time.Duration
	PanicThreshold float64 // a multiple of the target of the servers there are
	Cooldown       time.Duration
	MaxStepUp      int // 0: no bound
	MaxStepDown    int // 0: no bound
}

// The metrics a target is set in.
const (
	MetricInFlight = "inFlight"
	MetricRPS      = "rps"
)

// Decision is one verdict of a Decider, with what it was taken on.
type Decision struct {
	Time      time.Time `json:"time"`
	Desired   int       `json:"desired"`
	Previous  int       `json:"previous"`
	Ready     int       `json:"ready"` // servers ready when it was taken
	Panic     bool      `json:"panic"`
	StableAvg float64   `json:"stableAvg"` // the load averaged over the stable window
	PanicAvg  float64   `json:"panicAvg"`  // over the panic window
	Direction string    `json:"direction"` // up, down or none
	Reason    string    `json:"reason"`
}

// Decider is the KPA's arithmetic on one service's load, with the clock in
// the caller's hands (every method takes now): samples are averaged over
// the stable window, desired = ceil(average / target); a burst that brings
// the panic window's average to PanicThreshold times the target of the
// servers ready enters panic mode, where the count follows the panic window
// and never goes down, until a whole stable window passed without the
// burst. Scale-downs wait Cooldown after the last change; steps are bounded
// by MaxStepUp and MaxStepDown, the count by Min and Max.
//
// It is not safe for concurrent use: its Scaler serializes the calls.
type Decider struct {
	p          Policy
	samples    []sample // in time order, none older than the stable window
	desired    int
	lastChange time.Time
	panicSince time.Time // when panic mode started; zero: not panicking
	panicLast  time.Time // the last time the panic condition held
}

type sample struct {
	t time.Time
	v float64
}

// NewDecider returns a decider whose count starts at start (the servers
// there are), as of now.
func NewDecider(p Policy, start int, now time.Time) *Decider {
	return &Decider{p: p, desired: start, lastChange: now}
}

// Desired is the count of the last decision (the start before any).
func (d *Decider) Desired() int { return d.desired }

// Record adds a sample of the service's load: the requests in flight (and
// waiting) at now, or the requests per second over the last interval.
func (d *Decider) Record(now time.Time, v float64) {
	d.samples = append(d.samples, sample{now, v})
	cut := 0
	for cut < len(d.samples) && now.Sub(d.samples[cut].t) >= d.p.StableWindow {
		cut++
	}
	if cut > 0 {
		d.samples = append(d.samples[:0], d.samples[cut:]...)
	}
}

// avg is the mean of the samples not older than w; false when none is.
func (d *Decider) avg(now time.Time, w time.Duration) (float64, bool) {
	sum, n := 0.0, 0
	for i := len(d.samples) - 1; i >= 0 && now.Sub(d.samples[i].t) < w; i-- {
		sum += d.samples[i].v
		n++
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

// Decide takes a decision at now, ready being the servers that can take
// requests; the count decided is the new Desired.
func (d *Decider) Decide(now time.Time, ready int) Decision {
	p := d.p
	prev := d.desired
	dec := Decision{Time: now, Previous: prev, Ready: ready}
	stable, ok := d.avg(now, p.StableWindow)
	if !ok {
		dec.Desired, dec.Direction, dec.Reason = prev, "none", "no sample yet"
		return dec
	}
	panicAvg, _ := d.avg(now, p.PanicWindow)
	dec.StableAvg, dec.PanicAvg = stable, panicAvg
	wantStable := ceilDiv(stable, p.Target)
	wantPanic := ceilDiv(panicAvg, p.Target)

	// Panic is judged against the servers ready (at least one: a pool at
	// zero with requests waiting is the burst of a cold start).
	capacity := float64(max(ready, 1)) * p.Target
	burst := panicAvg >= p.PanicThreshold*capacity
	if burst {
		if d.panicSince.IsZero() {
			d.panicSince = now
		}
		d.panicLast = now
	} else if !d.panicSince.IsZero() && now.Sub(d.panicLast) >= p.StableWindow {
		d.panicSince, d.panicLast = time.Time{}, time.Time{}
	}
	dec.Panic = !d.panicSince.IsZero()

	want := wantStable
	reason := fmt.Sprintf("%s %.4g averaged over %s / target %.4g = %d", p.Metric, stable, p.StableWindow, p.Target, wantStable)
	if dec.Panic {
		want = max(wantPanic, prev)
		reason = fmt.Sprintf("panic: %s %.4g averaged over %s (%.4g times the target of %d ready) / target %.4g = %d",
			p.Metric, panicAvg, p.PanicWindow, panicAvg/capacity, max(ready, 1), p.Target, wantPanic)
		if wantPanic < prev {
			reason += fmt.Sprintf("; kept at %d: no scale down while panicking", prev)
		}
	}
	if want < prev {
		if since := now.Sub(d.lastChange); since < p.Cooldown {
			reason += fmt.Sprintf("; kept at %d: cooldown, %s since the last change of %s", prev, since.Round(time.Millisecond), p.Cooldown)
			want = prev
		} else if p.MaxStepDown > 0 && prev-want > p.MaxStepDown {
			want = prev - p.MaxStepDown
			reason += fmt.Sprintf("; %d at most by maxStepDown %d", want, p.MaxStepDown)
		}
	}
	if p.MaxStepUp > 0 && want-prev > p.MaxStepUp {
		want = prev + p.MaxStepUp
		reason += fmt.Sprintf("; %d at most by maxStepUp %d", want, p.MaxStepUp)
	}
	if want > p.Max {
		want = p.Max
		reason += fmt.Sprintf("; capped at max %d", p.Max)
	}
	if want < p.Min {
		want = p.Min
		reason += fmt.Sprintf("; raised to min %d", p.Min)
	}
	dec.Desired, dec.Reason = want, reason
	switch {
	case want > prev:
		dec.Direction = "up"
	case want < prev:
		dec.Direction = "down"
	default:
		dec.Direction = "none"
	}
	if want != prev {
		d.desired, d.lastChange = want, now
	}
	return dec
}

// ceilDiv is ceil(v / target), 0 for no load: a load of 0.1 needs a server.
func ceilDiv(v, target float64) int {
	if v <= 0 {
		return 0
	}
	n := math.Ceil(v/target - 1e-9)
	if n > math.MaxInt32 {
		return math.MaxInt32
	}
	return max(int(n), 1)
}
