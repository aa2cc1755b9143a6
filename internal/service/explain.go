package service

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/usher-lb/usher/internal/pool"
)

// Explainer is a service that can tell which server it would send a request
// like r to now, and why, without sending it nor changing what the next
// request gets (for usher explain and the admin API). A nil server comes with
// the reason none would be picked. Every service of this package is one.
type Explainer interface {
	Explain(r *http.Request) (*pool.Server, string)
}

// explainVia explains what service name (h) does with r, after why.
func explainVia(name string, h Handler, r *http.Request, why string) (*pool.Server, string) {
	x, ok := h.(Explainer)
	if !ok {
		return nil, why
	}
	s, sub := x.Explain(r)
	return s, why + "; in " + name + ": " + sub
}

// Explain tells which arm would take r, and the server that arm would pick:
// the arm the sticky cookie pins, or the next available in the weighted
// schedule (which moves on with each request).
func (ws *Weighted) Explain(r *http.Request) (*pool.Server, string) {
	p := ws.live.Plan()
	if ws.bucket != nil {
		a := ws.bucket.pick(nil, r, p.Weights, ws.arms)
		if a < 0 {
			return nil, "no service of the weighted service has an available server: usher answers 503"
		}
		arm := ws.arms[a]
		return explainVia(arm.Name, arm.Handler, r, "service "+arm.Name+" is the bucket of this request's key ("+ws.weights(p)+")")
	}
	if ws.sticky != nil {
		if a := ws.sticky.index(r); a >= 0 && p.Weights[a] > 0 && ws.arms[a].Handler.Available() {
			arm := ws.arms[a]
			return explainVia(arm.Name, arm.Handler, r, "service "+arm.Name+" pinned by the sticky cookie "+ws.sticky.cfg.Name)
		}
	}
	n := uint64(len(p.schedule))
	start := ws.next.Load()
	for i := uint64(0); i < n; i++ {
		a := int(p.schedule[(start+i)%n])
		if arm := ws.arms[a]; arm.Handler.Available() {
			return explainVia(arm.Name, arm.Handler, r, "service "+arm.Name+" is next of the weighted services ("+ws.weights(p)+"; it changes from request to request)")
		}
	}
	return nil, "no service of the weighted service has an available server: usher answers 503"
}

// weights says the arms' weights served now: "app 90, canary 10".
func (ws *Weighted) weights(p *Plan) string {
	parts := make([]string, len(ws.arms))
	for i, a := range ws.arms {
		parts[i] = a.Name + " " + strconv.Itoa(p.Weights[i])
	}
	return strings.Join(parts, ", ")
}

// Explain tells the server of the main service, which answers; copies go to
// the mirrors, their responses discarded.
func (m *Mirror) Explain(r *http.Request) (*pool.Server, string) {
	names := make([]string, len(m.mirrors))
	for i, t := range m.mirrors {
		names[i] = t.Name + " " + strconv.Itoa(t.Percent) + "%"
	}
	why := "service " + m.name + " answers"
	if len(names) > 0 {
		why += " (copies to " + strings.Join(names, ", ") + ", their responses discarded)"
	}
	return explainVia(m.name, m.main, r, why)
}

// Explain tells the server of the main service, or of the fallback while the
// main one has no available server.
func (f *Failover) Explain(r *http.Request) (*pool.Server, string) {
	if f.Main.Available() || !f.Fallback.Available() {
		why := "service " + f.MainName + " (the main one) has an available server"
		if !f.Main.Available() {
			why = "neither service " + f.MainName + " nor its fallback " + f.FallbackName + " has an available server; the main one answers"
		}
		return explainVia(f.MainName, f.Main, r, why)
	}
	return explainVia(f.FallbackName, f.Fallback, r, "service "+f.MainName+" has no available server: its fallback "+f.FallbackName+" answers")
}
