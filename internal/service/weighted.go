package service

import (
	"errors"
	"net/http"
	"sync/atomic"
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
type Weighted struct {
	arms     []Arm
	sticky   *stickyIDs
	schedule []uint16 // arm indexes, smooth weighted order, computed once
	next     atomic.Uint64
}

// NewWeighted returns the weighted service named name over arms; sticky, when
// not nil, pins each client to one arm.
func NewWeighted(name string, arms []Arm, sticky *Sticky) (*Weighted, error) {
	sched := smoothSchedule(arms)
	if len(sched) == 0 {
		return nil, errors.New("weighted: every weight is 0")
	}
	ws := &Weighted{arms: arms, schedule: sched}
	if sticky != nil {
		names := make([]string, len(arms))
		for i, a := range arms {
			names[i] = a.Name
		}
		ws.sticky = newStickyIDs(sticky, name, names)
	}
	return ws, nil
}

// maxSchedule caps the schedule's length; weights are scaled down to fit.
const maxSchedule = 1 << 12

// smoothSchedule runs nginx's smooth weighted round-robin once over the weights
// and records the order, so that serving walks it with an atomic counter
// instead of taking a lock per request.
func smoothSchedule(arms []Arm) []uint16 {
	total := 0
	for _, a := range arms {
		total += a.Weight
	}
	if total == 0 {
		return nil
	}
	div := 1
	for total/div > maxSchedule {
		div++
	}
	w := make([]int, len(arms))
	total = 0
	for i, a := range arms {
		if a.Weight > 0 {
			w[i] = max(1, a.Weight/div)
		}
		total += w[i]
	}
	cur := make([]int, len(arms))
	sched := make([]uint16, 0, total)
	for range total {
		best := -1
		for i := range arms {
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
	for _, a := range ws.arms {
		if a.Weight > 0 && a.Handler.Available() {
			return true
		}
	}
	return false
}

// Pick returns the next arm in the schedule that can serve, or -1.
func (ws *Weighted) Pick() int {
	n := uint64(len(ws.schedule))
	start := ws.next.Add(1) - 1
	for i := uint64(0); i < n; i++ {
		a := int(ws.schedule[(start+i)%n])
		if ws.arms[a].Handler.Available() {
			return a
		}
	}
	return -1
}

func (ws *Weighted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ws.sticky != nil {
		if a := ws.sticky.index(r); a >= 0 && ws.arms[a].Weight > 0 && ws.arms[a].Handler.Available() {
			ws.arms[a].Handler.ServeHTTP(w, r)
			return
		}
	}
	a := ws.Pick()
	if a < 0 {
		noServer(w, "1")
		return
	}
	if ws.sticky != nil {
		ws.sticky.set(w, a)
	}
	ws.arms[a].Handler.ServeHTTP(w, r)
}
