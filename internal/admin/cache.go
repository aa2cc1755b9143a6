package admin

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/usher-lb/usher/internal/middleware/cache"
)

// purgeRequest is the body of POST /api/cache/purge: exactly one of url,
// prefix, tag and all; middleware names one cache middleware, or none for
// every one.
type purgeRequest struct {
	Middleware string `json:"middleware,omitempty"`
	cache.Selector
}

type purgeResult struct {
	Purged int `json:"purged"`
}

// cachePurge removes entries of the cache middlewares.
func (a *admin) cachePurge(w http.ResponseWriter, r *http.Request) {
	var req purgeRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body: want JSON {\"url\"|\"prefix\"|\"tag\"|\"all\", \"middleware\"?}: "+err.Error())
		return
	}
	n := 0
	for _, set := range []bool{req.URL != "", req.Prefix != "", req.Tag != "", req.All} {
		if set {
			n++
		}
	}
	if n != 1 {
		writeError(w, http.StatusBadRequest, "give exactly one of url, prefix, tag, all")
		return
	}
	purged, err := cache.Purge(r.Context(), req.Middleware, req.Selector)
	switch {
	case errors.Is(err, cache.ErrNoCache):
		writeError(w, http.StatusNotFound, "no cache middleware "+req.Middleware+" is running")
		return
	case err != nil:
		a.d.Log.Warn("cache purge failed", "error", err.Error())
		writeError(w, http.StatusBadGateway, "purge failed: "+err.Error())
		return
	}
	a.d.Log.Info("cache purged from the admin API", "middleware", req.Middleware, "url", req.URL, "prefix", req.Prefix, "tag", req.Tag, "all", req.All, "purged", purged)
	writeJSON(w, http.StatusOK, purgeResult{Purged: purged})
}

// cacheStats shows the figures of the cache middlewares (?middleware=name
// for one).
func (a *admin) cacheStats(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("middleware")
	st, err := cache.AllStats(r.Context(), name)
	switch {
	case errors.Is(err, cache.ErrNoCache):
		writeError(w, http.StatusNotFound, "no cache middleware "+name+" is running")
		return
	case err != nil:
		writeError(w, http.StatusBadGateway, "stats failed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}
