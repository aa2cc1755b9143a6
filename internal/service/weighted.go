package service

import (
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/usher-lb/usher/internal/observe"
)

// Arm is one service of a weighted service.
type Arm struct {
	Name    string
	Handler Handler
	Weight  int
}

// Weighted splits requests between services in proportion to their weights
// (canary, blue-green), interleaved smoothly: with 90/10, the 10 are spread over
// the 100, not sent in a burst. An arm with no available server is skipped.
//
// The weights served are those of its Live, which a canary or a switch may
// change at any time without a reload; with bucketBy, each user is sent to
// the arm its key hashes to (see Bucket) instead of the next in turn.
type Weighted struct {
	arms    []Arm
	sticky  *stickyIDs
	live    *Live
	bucket  *Bucket
	variant string     // header naming the arm of a bucketed request
	names   [][]string // the arms' names as header values, made once
	next    atomic.Uint64
}

// WeightedOptions are the optional parts of a weighted service.
type WeightedOptions struct {
	// Sticky, when set, pins each client to one arm with a cookie.
	Sticky *Sticky
	// Live, when set, holds the weights served and counts each arm's
	// requests; it outlives the snapshot (a canary keeps it across reloads).
	// Nil: the arms' weights, fixed.
	Live *Live
	// Bucket, when set, sends each user to one arm by a stable key, and
	// VariantHeader (when not "") tells servers which.
	Bucket        *Bucket
	VariantHeader string
}

// NewWeighted returns the weighted service named name over arms; sticky, when
// not nil, pins each client to one arm.
func NewWeighted(name string, arms []Arm, sticky *Sticky) (*Weighted, error) {
	return NewWeightedWith(name, arms, WeightedOptions{Sticky: sticky})
}

// NewWeightedWith returns the weighted service named name over arms.
func NewWeightedWith(name string, arms []Arm, o WeightedOptions) (*Weighted, error) {
	live := o.Live
	if live == nil {
		w := make([]int, len(arms))
		for i, a := range arms {
			w[i] = a.Weight
		}
		if len(NewPlan(w).schedule) == 0 {
			return nil, errors.New("weighted: every weight is 0")
		}
		live = NewLive(w)
	} else if len(live.Plan().Weights) != len(arms) {
		return nil, errors.New("weighted: the live weights are not those of these services")
	}
	ws := &Weighted{arms: arms, live: live, bucket: o.Bucket, variant: http.CanonicalHeaderKey(o.VariantHeader)}
	for _, a := range arms {
		ws.names = append(ws.names, []string{a.Name})
	}
	if o.Sticky != nil {
		names := make([]string, len(arms))
		for i, a := range arms {
			names[i] = a.Name
		}
		ws.sticky = newStickyIDs(o.Sticky, name, names)
	}
	return ws, nil
}

// Plan is the weights a weighted service serves by, one per arm, and the
// order they make.
type Plan struct {
	Weights  []int
	schedule []uint16 // arm indexes, smooth weighted order
}

// NewPlan returns the plan of weights; when every weight is 0 it sends
// nothing anywhere (503).
func NewPlan(weights []int) *Plan {
	return &Plan{Weights: weights, schedule: smoothSchedule(weights)}
}

// Live is what changes in a weighted service without a reload: the plan it
// serves by, and what it counts per arm: requests in flight and, when Meters
// are set, the outcomes of those that ended.
type Live struct {
	plan     atomic.Pointer[Plan]
	inFlight []atomic.Int64
	// Meters, when set, one per arm, count outcomes (a canary's analysis).
	// Set before the Live serves; not changed after.
	Meters []*Meter
}

// NewLive returns a Live serving weights.
func NewLive(weights []int) *Live {
	l := &Live{inFlight: make([]atomic.Int64, len(weights))}
	l.plan.Store(NewPlan(weights))
	return l
}

// Plan is the plan served now.
func (l *Live) Plan() *Plan { return l.plan.Load() }

// SetPlan makes p the plan served from the next request on; requests in
// flight finish where they are.
func (l *Live) SetPlan(p *Plan) { l.plan.Store(p) }

// InFlight is the number of requests arm i is serving.
func (l *Live) InFlight(i int) int64 { return l.inFlight[i].Load() }

// maxSchedule caps the schedule's length; weights are scaled down to fit.
const maxSchedule = 1 << 12

// smoothSchedule runs nginx's smooth weighted round-robin once over the weights
// and records the order, so that serving walks it with an atomic counter
// instead of taking a lock per request.
func smoothSchedule(weights []int) []uint16 {
	total := 0
	for _, w := range weights {
		total += w
	}
	if total == 0 {
		return nil
	}
	div := 1
	for total/div > maxSchedule {
		div++
	}
	w := make([]int, len(weights))
	total = 0
	for i, a := range weights {
		if a > 0 {
			w[i] = max(1, a/div)
		}
		total += w[i]
	}
	cur := make([]int, len(weights))
	sched := make([]uint16, 0, total)
	for range total {
		best := -1
		for i := range weights {
			cur[i] += w[i]
			if w[i] > 0 && (best < 0 || cur[i] > cur[best]) {
				best = i
			}
		}
		cur[best] -= total
		sched = append(sched, uint16(best))
	}
	return sched
}

// Available tells whether any arm can serve.
func (ws *Weighted) Available() bool {
	p := ws.live.Plan()
	for i, a := range ws.arms {
		if p.Weights[i] > 0 && a.Handler.Available() {
			return true
		}
	}
	return false
}

// Pick returns the next arm in the schedule that can serve, or -1.
func (ws *Weighted) Pick() int { return ws.pick(ws.live.Plan()) }

func (ws *Weighted) pick(p *Plan) int {
	n := uint64(len(p.schedule))
	if n == 0 {
		return -1
	}
	start := ws.next.Add(1) - 1
	for i := uint64(0); i < n; i++ {
		a := int(p.schedule[(start+i)%n])
		if ws.arms[a].Handler.Available() {
			return a
		}
	}
	return -1
}

func (ws *Weighted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := ws.live.Plan()
	if ws.bucket != nil {
		a := ws.bucket.pick(w, r, p.Weights, ws.arms)
		if a < 0 {
			noServer(w, "1")
			return
		}
		if ws.variant != "" {
			// Shared by every request to the arm: nothing after the
			// weighted service changes a request header's values in place.
			r.Header[ws.variant] = ws.names[a]
		}
		ws.serve(a, w, r)
		return
	}
	if ws.sticky != nil {
		if a := ws.sticky.index(r); a >= 0 && p.Weights[a] > 0 && ws.arms[a].Handler.Available() {
			ws.serve(a, w, r)
			return
		}
	}
	a := ws.pick(p)
	if a < 0 {
		noServer(w, "1")
		return
	}
	if ws.sticky != nil {
		ws.sticky.set(w, a)
	}
	ws.serve(a, w, r)
}

// serve sends the request to arm a, counting it in flight there and, when
// the arm is measured, its outcome: the status the client got (from the
// request's Record) and how long the arm took.
func (ws *Weighted) serve(a int, w http.ResponseWriter, r *http.Request) {
	l := ws.live
	l.inFlight[a].Add(1)
	defer l.inFlight[a].Add(-1)
	if l.Meters == nil || l.Meters[a] == nil {
		ws.arms[a].Handler.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	rec := observe.From(w)
	if rec == nil {
		// A handler called in code, with no Record: the status is caught here.
		sw := &statusWriter{ResponseWriter: w}
		ws.arms[a].Handler.ServeHTTP(sw, r)
		l.Meters[a].Observe(sw.status, time.Since(start))
		return
	}
	ws.arms[a].Handler.ServeHTTP(w, r)
	l.Meters[a].Observe(rec.Status, time.Since(start))
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 || (s.status < 200 && code >= 200) {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
