package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/service"
)

// The states of a canary.
const (
	// Progressing: the canary has the share of its current step and is
	// judged at the end of the step's interval (later, while it has had
	// fewer than minRequests requests: "not enough traffic").
	Progressing = "progressing"
	// Promoted: every step passed; the canary keeps the last step's share.
	Promoted = "promoted"
	// RolledBack: a step failed its thresholds; the canary has no traffic.
	RolledBack = "rolledBack"
	// Aborted: stopped by hand; the canary has no traffic.
	Aborted = "aborted"
)

// Errors of the operator's actions.
var (
	ErrNoCanary      = errors.New("this weighted service has no canary")
	ErrCanaryRunning = errors.New("a canary is in progress on this service; promote it or abort it first")
	ErrSwitched      = errors.New("this service was switched by hand; a config change (or a reload with a changed service) starts its canary afresh")
	ErrNoArm         = errors.New("no such service in this weighted service")
	ErrNothingBack   = errors.New("this service was not switched: there is nothing to go back to")
	ErrDone          = errors.New("the canary is already promoted")
	ErrNotRunning    = errors.New("the canary is not running (rolled back or aborted); promote restarts it")
)

// historyLen is how many entries a rollout keeps.
const historyLen = 100

// Rollout holds the live weights of one weighted service and what moves
// them: its canary, and switches by hand. It is safe for concurrent use; its
// loop (started by the Registry) judges the canary and watches drains.
type Rollout struct {
	spec   Spec
	live   *service.Live
	now    func() time.Time
	events *observe.Bus
	log    *slog.Logger

	mu sync.Mutex
	// canary, when spec.Canary is set
	state     string
	step      int // index in Steps
	stepStart time.Time
	base      service.MeterSnapshot // the canary's counts when the step began
	waiting   bool                  // "not enough traffic" was reported this step
	reason    string                // why the canary is where it is
	// switch
	switched bool
	weights  []int // the switched weights
	prev     []int // the weights before the last switch: where back goes
	draining []bool
	history  []Entry

	cancel context.CancelFunc
	done   chan struct{}
}

// Entry is one thing that happened to a rollout.
type Entry struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"` // start, step, wait, promoted, rollback, abort, restart, switch, back, drained
	// Weights are the weights after it, by service.
	Weights map[string]int `json:"weights"`
	Reason  string         `json:"reason"`
	// Figures are the canary's over the step judged, when one was.
	Figures *Figures `json:"figures,omitempty"`
}

// Figures are the outcomes of a service's requests over a span.
type Figures struct {
	Requests  uint64        `json:"requests"`
	Errors    uint64        `json:"errors"`
	ErrorRate float64       `json:"errorRate"` // 0 to 1
	P99       time.Duration `json:"p99"`       // nanoseconds
	Span      time.Duration `json:"span"`      // nanoseconds
}

func newRollout(spec Spec, now func() time.Time, bus *observe.Bus, log *slog.Logger) *Rollout {
	r := &Rollout{spec: spec, now: now, events: bus, log: log, draining: make([]bool, len(spec.Arms))}
	if c := spec.Canary; c != nil {
		r.state, r.step, r.stepStart = Progressing, 0, now()
		r.reason = fmt.Sprintf("started at step 1 of %d", len(c.Steps))
	}
	r.live = service.NewLive(r.weightsLocked())
	if spec.Canary != nil {
		r.live.Meters = make([]*service.Meter, len(spec.Arms))
		for i := range r.live.Meters {
			r.live.Meters[i] = &service.Meter{}
		}
		r.addLocked(Entry{Action: "start", Reason: r.reason})
	}
	return r
}

// Live is what the weighted service serves by.
func (r *Rollout) Live() *service.Live { return r.live }

// Service is the weighted service's name.
func (r *Rollout) Service() string { return r.spec.Service }

func (r *Rollout) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.mu.Lock()
	if r.cancel != nil {
		r.mu.Unlock()
		cancel()
		return
	}
	r.cancel, r.done = cancel, make(chan struct{})
	done := r.done
	r.mu.Unlock()
	go func() {
		defer close(done)
		run(ctx, r.spec.period(), r.tick)
	}()
}

// stop ends the loop and waits for it.
func (r *Rollout) stop() {
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// weightsLocked are the weights the rollout serves by now.
func (r *Rollout) weightsLocked() []int {
	if r.switched {
		return slices.Clone(r.weights)
	}
	c := r.spec.Canary
	if c == nil {
		return slices.Clone(r.spec.Weights)
	}
	pct := 0
	switch r.state {
	case Progressing:
		pct = c.Steps[r.step]
	case Promoted:
		pct = c.Steps[len(c.Steps)-1]
	}
	return canaryWeights(r.spec.Weights, c.Arm, pct)
}

// canaryWeights gives the canary arm pct percent of the traffic and the
// others the rest, in proportion to their configured weights.
func canaryWeights(base []int, arm, pct int) []int {
	rest := 0
	for i, w := range base {
		if i != arm {
			rest += w
		}
	}
	out := make([]int, len(base))
	if pct >= 100 {
		out[arm] = 1
		return out
	}
	for i, w := range base {
		if i == arm {
			out[i] = pct * rest
		} else {
			out[i] = w * (100 - pct)
		}
	}
	return out
}

// applyLocked publishes the weights of the rollout's state.
func (r *Rollout) applyLocked() { r.live.SetPlan(service.NewPlan(r.weightsLocked())) }

func (r *Rollout) addLocked(e Entry) {
	if e.Time.IsZero() {
		e.Time = r.now()
	}
	w := r.weightsLocked()
	e.Weights = make(map[string]int, len(w))
	for i, n := range r.spec.Arms {
		e.Weights[n] += w[i]
	}
	if len(r.history) == historyLen {
		copy(r.history, r.history[1:])
		r.history = r.history[:historyLen-1]
	}
	r.history = append(r.history, e)
}

func (r *Rollout) publish(typ, from, to, reason string) {
	if r.events != nil {
		r.events.Publish(observe.Event{Time: r.now(), Type: typ, Service: r.spec.Service, From: from, To: to, Reason: reason})
	}
}

// where says the canary's state and share: "step 2 of 4 (25%)".
func (r *Rollout) whereLocked() string {
	c := r.spec.Canary
	switch r.state {
	case Progressing:
		return fmt.Sprintf("step %d of %d (%d%%)", r.step+1, len(c.Steps), c.Steps[r.step])
	case Promoted:
		return fmt.Sprintf("promoted (%d%%)", c.Steps[len(c.Steps)-1])
	}
	return r.state + " (0%)"
}

// tick is one look of the loop: the canary judged when its step is over,
// drains watched.
func (r *Rollout) tick() {
	r.mu.Lock()
	ev := r.judgeLocked()
	ev = append(ev, r.drainsLocked()...)
	r.mu.Unlock()
	for _, e := range ev {
		r.publish(e.Type, e.From, e.To, e.Reason)
	}
}

type pendingEvent struct{ Type, From, To, Reason string }

// judgeLocked is the canary's state machine: at the end of a step's
// interval the canary's figures since the step began are judged; passing
// moves it up a step (or to promoted after the last), failing takes all
// its traffic at once; with fewer than minRequests requests the step waits
// and says so, unless the errors are already more than maxErrorRate of
// minRequests, which no more traffic could make pass.
func (r *Rollout) judgeLocked() []pendingEvent {
	c := r.spec.Canary
	if c == nil || r.switched || r.state != Progressing {
		return nil
	}
	now := r.now()
	span := now.Sub(r.stepStart)
	if span < c.Interval {
		return nil
	}
	cur := r.live.Meters[c.Arm].Snapshot().Sub(r.base)
	f := &Figures{Requests: cur.Requests, Errors: cur.Errors, ErrorRate: cur.ErrorRate(), P99: cur.Quantile(0.99), Span: span}
	from := r.whereLocked()
	if cur.Requests < uint64(c.MinRequests) {
		if float64(cur.Errors) > c.MaxErrorRate*float64(c.MinRequests) {
			return r.failLocked(from, f, fmt.Sprintf("%d errors (5xx) in %d requests over %s: more than maxErrorRate %s of even minRequests %d",
				cur.Errors, cur.Requests, round(span), pct(c.MaxErrorRate), c.MinRequests))
		}
		r.reason = fmt.Sprintf("not enough traffic: %d of minRequests %d requests in %s; the step waits for more before it is judged", cur.Requests, c.MinRequests, round(span))
		if r.waiting {
			return nil
		}
		r.waiting = true
		r.addLocked(Entry{Action: "wait", Reason: r.reason, Figures: f})
		r.log.Info("canary: not enough traffic to judge the step", "service", r.spec.Service, "canary", r.spec.Arms[c.Arm], "requests", cur.Requests, "minRequests", c.MinRequests)
		return []pendingEvent{{"canary", from, from, r.reason}}
	}
	if f.ErrorRate > c.MaxErrorRate {
		return r.failLocked(from, f, fmt.Sprintf("error rate %s (%d of %d requests over %s) is above maxErrorRate %s",
			pct(f.ErrorRate), cur.Errors, cur.Requests, round(span), pct(c.MaxErrorRate)))
	}
	if c.MaxP99 > 0 && f.P99 > c.MaxP99 {
		return r.failLocked(from, f, fmt.Sprintf("p99 %s (%d requests over %s) is above maxP99 %s", round(f.P99), cur.Requests, round(span), c.MaxP99))
	}
	reason := fmt.Sprintf("met the thresholds: error rate %s, p99 %s over %d requests in %s", pct(f.ErrorRate), round(f.P99), cur.Requests, round(span))
	return r.advanceLocked(now, from, f, reason, "step")
}

// advanceLocked moves the canary up a step, or to promoted after the last.
func (r *Rollout) advanceLocked(now time.Time, from string, f *Figures, reason, action string) []pendingEvent {
	c := r.spec.Canary
	if r.step+1 >= len(c.Steps) {
		r.state = Promoted
		action = "promoted"
	} else {
		r.step++
	}
	r.stepStart, r.waiting = now, false
	r.base = r.live.Meters[c.Arm].Snapshot()
	r.reason = reason
	r.applyLocked()
	r.addLocked(Entry{Action: action, Reason: reason, Figures: f})
	to := r.whereLocked()
	r.log.Info("canary: "+action, "service", r.spec.Service, "canary", r.spec.Arms[c.Arm], "from", from, "to", to, "reason", reason)
	return []pendingEvent{{"canary", from, to, reason}}
}

func (r *Rollout) failLocked(from string, f *Figures, reason string) []pendingEvent {
	r.state, r.waiting, r.reason = RolledBack, false, reason
	r.applyLocked()
	r.addLocked(Entry{Action: "rollback", Reason: reason, Figures: f})
	r.log.Warn("canary: rolled back", "service", r.spec.Service, "canary", r.spec.Arms[r.spec.Canary.Arm], "from", from, "reason", reason)
	return []pendingEvent{{"canary", from, r.whereLocked(), reason}}
}

// drainsLocked reports the arms a switch took traffic from once they have
// no request in flight.
func (r *Rollout) drainsLocked() []pendingEvent {
	var out []pendingEvent
	for i, d := range r.draining {
		if d && r.live.InFlight(i) == 0 {
			r.draining[i] = false
			reason := fmt.Sprintf("%s has no request in flight", r.spec.Arms[i])
			r.addLocked(Entry{Action: "drained", Reason: reason})
			r.log.Info("switch: old side drained", "service", r.spec.Service, "drained", r.spec.Arms[i])
			out = append(out, pendingEvent{"switch", "draining", "drained", reason})
		}
	}
	return out
}

// Promote moves the canary up one step now, without waiting for its
// verdict (full: to promoted at once); a rolled-back or aborted canary
// starts again at its first step.
func (r *Rollout) Promote(full bool) error {
	r.mu.Lock()
	c := r.spec.Canary
	var ev []pendingEvent
	switch {
	case c == nil:
		r.mu.Unlock()
		return ErrNoCanary
	case r.switched:
		r.mu.Unlock()
		return ErrSwitched
	case r.state == Promoted:
		r.mu.Unlock()
		return ErrDone
	case r.state == RolledBack || r.state == Aborted:
		from := r.whereLocked()
		r.state, r.step, r.stepStart, r.waiting = Progressing, 0, r.now(), false
		r.base = r.live.Meters[c.Arm].Snapshot()
		r.reason = "restarted by hand at step 1"
		r.applyLocked()
		r.addLocked(Entry{Action: "restart", Reason: r.reason})
		ev = []pendingEvent{{"canary", from, r.whereLocked(), r.reason}}
	default:
		from := r.whereLocked()
		if full {
			r.step = len(c.Steps) - 1
		}
		ev = r.advanceLocked(r.now(), from, nil, "promoted by hand", "step")
	}
	r.mu.Unlock()
	for _, e := range ev {
		r.publish(e.Type, e.From, e.To, e.Reason)
	}
	return nil
}

// Abort takes all the canary's traffic away at once and stops its analysis.
func (r *Rollout) Abort() error {
	r.mu.Lock()
	switch {
	case r.spec.Canary == nil:
		r.mu.Unlock()
		return ErrNoCanary
	case r.switched:
		r.mu.Unlock()
		return ErrSwitched
	case r.state == RolledBack || r.state == Aborted:
		r.mu.Unlock()
		return ErrNotRunning
	}
	from := r.whereLocked()
	r.state, r.waiting, r.reason = Aborted, false, "aborted by hand"
	r.applyLocked()
	r.addLocked(Entry{Action: "abort", Reason: r.reason})
	r.log.Warn("canary: aborted by hand", "service", r.spec.Service, "from", from)
	to := r.whereLocked()
	r.mu.Unlock()
	r.publish("canary", from, to, "aborted by hand")
	return nil
}

// Switch sends all the traffic to one service at once; the others drain:
// their requests in flight finish, and the drain is reported when none is
// left. Back undoes it.
func (r *Rollout) Switch(to string) error {
	i := slices.Index(r.spec.Arms, to)
	if i < 0 {
		return ErrNoArm
	}
	w := make([]int, len(r.spec.Arms))
	w[i] = 1
	return r.setSwitch(w, "switch", "switched to "+to)
}

// Back goes back to the weights before the last switch at once (and a
// second Back to the switch again).
func (r *Rollout) Back() error { return r.setSwitch(nil, "back", "") }

func (r *Rollout) setSwitch(w []int, action, reason string) error {
	r.mu.Lock()
	if r.spec.Canary != nil && r.state == Progressing && !r.switched {
		r.mu.Unlock()
		return ErrCanaryRunning
	}
	cur := r.weightsLocked()
	if action == "back" {
		if r.prev == nil {
			r.mu.Unlock()
			return ErrNothingBack
		}
		w = r.prev
		reason = "back to " + r.describe(w)
	}
	from := r.describe(cur)
	r.prev, r.weights, r.switched = cur, w, true
	for i := range w {
		if cur[i] > 0 && w[i] == 0 && r.live.InFlight(i) > 0 {
			r.draining[i] = true
		} else if w[i] > 0 {
			r.draining[i] = false
		}
	}
	r.applyLocked()
	r.addLocked(Entry{Action: action, Reason: reason})
	to := r.describe(w)
	r.log.Info("switch from the admin API", "service", r.spec.Service, "from", from, "to", to)
	ev := append([]pendingEvent{{"switch", from, to, reason}}, r.drainsLocked()...)
	r.mu.Unlock()
	for _, e := range ev {
		r.publish(e.Type, e.From, e.To, e.Reason)
	}
	return nil
}

// describe says weights as shares: "blue 100%" or "blue 90%, green 10%".
func (r *Rollout) describe(w []int) string {
	total := 0
	for _, n := range w {
		total += n
	}
	s := ""
	for i, n := range w {
		if n == 0 || total == 0 {
			continue
		}
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%s %s", r.spec.Arms[i], pct(float64(n)/float64(total)))
	}
	if s == "" {
		return "nothing"
	}
	return s
}

func pct(f float64) string {
	s := fmt.Sprintf("%.2f", f*100)
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s + "%"
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
