package admin

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/usher-lb/usher/internal/deploy"
)

// deployments lists the weighted services with their live weights, canary
// and history.
func (a *admin) deployments(w http.ResponseWriter, r *http.Request) {
	out := []deploy.Status{}
	if a.d.Deployments != nil {
		for _, ro := range a.d.Deployments.All() {
			out = append(out, ro.Status())
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// deployment shows one weighted service.
func (a *admin) deployment(w http.ResponseWriter, r *http.Request) {
	if ro := a.rollout(w, r); ro != nil {
		writeJSON(w, http.StatusOK, ro.Status())
	}
}

func (a *admin) rollout(w http.ResponseWriter, r *http.Request) *deploy.Rollout {
	name := r.PathValue("name")
	if a.d.Deployments != nil {
		if ro, ok := a.d.Deployments.Lookup(name); ok {
			return ro
		}
	}
	writeError(w, http.StatusNotFound, "no weighted service "+name+" is running")
	return nil
}

// deployAction runs an operator's action on a weighted service and answers
// with its state after it.
func (a *admin) deployAction(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ro := a.rollout(w, r)
		if ro == nil {
			return
		}
		var body struct {
			To   string `json:"to"`
			Full bool   `json:"full"`
		}
		if action == "switch" || action == "promote" {
			dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&body); err != nil && (action == "switch" || !errors.Is(err, io.EOF)) {
				writeError(w, http.StatusBadRequest, `body: want JSON {"to": "SERVICE"} (switch) or {"full": true} (promote): `+err.Error())
				return
			}
		}
		var err error
		switch action {
		case "promote":
			err = ro.Promote(body.Full)
		case "abort":
			err = ro.Abort()
		case "switch":
			if body.To == "" {
				writeError(w, http.StatusBadRequest, `body: "to" names the service to switch to`)
				return
			}
			err = ro.Switch(body.To)
		case "back":
			err = ro.Back()
		}
		switch {
		case errors.Is(err, deploy.ErrNoArm):
			writeError(w, http.StatusNotFound, "weighted service "+ro.Service()+" has no service "+body.To)
			return
		case err != nil:
			writeError(w, http.StatusConflict, err.Error())
			return
		}
		a.d.Log.Info("deployment changed from the admin API", "service", ro.Service(), "action", action, "to", body.To)
		writeJSON(w, http.StatusOK, ro.Status())
	}
}
