package admin

import (
	"net/http"

	"github.com/usher-lb/usher/internal/autoscale"
)

// autoscaleAll lists the autoscaled services: desired and ready counts,
// mode, the last decision and those that changed the count, with reasons.
func (a *admin) autoscaleAll(w http.ResponseWriter, r *http.Request) {
	out := []autoscale.Status{}
	if a.d.Autoscale != nil {
		out = a.d.Autoscale.All()
	}
	writeJSON(w, http.StatusOK, out)
}

// autoscaleOne shows one autoscaled service.
func (a *admin) autoscaleOne(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if a.d.Autoscale != nil {
		if sc, ok := a.d.Autoscale.Lookup(name); ok {
			writeJSON(w, http.StatusOK, sc.Status())
			return
		}
	}
	writeError(w, http.StatusNotFound, "no autoscaled service "+name+" is running")
}
