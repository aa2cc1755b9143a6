// Package runtime compiles a configuration into an immutable Snapshot that the
// entrypoints serve from, and keeps the State that outlives snapshots.
//
// The life of a snapshot:
//  1. compile: Compile builds routers, middleware chains and services off to the
//     side, taking lasting state (servers, upstream connection pools) from State
//     without changing it; any problem fails the whole compile.
//  2. swap: the caller publishes the snapshot (an atomic pointer store); new
//     requests use it from then on.
//  3. commit: Pending.Commit hands the state over: servers the new snapshot no
//     longer names are drained and forgotten.
//  4. drain and release: requests that started on the old snapshot finish on it
//     (they hold its handlers); once none refers to it, the garbage collector
//     frees it. Nothing has to be closed by hand.
package runtime

import (
	"net/http"
	"sort"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/rule"
	"github.com/usher-lb/usher/internal/service"
)

// Snapshot is one compiled configuration. It is never changed after Compile.
type Snapshot struct {
	Config   *config.Config
	Compiled time.Time
	Routers  map[string]*Router
	Services map[string]service.Handler
	TLS      *TLSSet

	byEntrypoint map[string][]*Router // sorted: higher priority first
}

// Router is a compiled router.
type Router struct {
	Name        string
	Rule        *rule.HTTPRule
	Priority    int
	Entrypoints []string
	Middlewares []string // flattened: chains expanded
	Service     string
	TLSOnly     bool
	Handler     http.Handler // middlewares, then the service
}

// Match returns the router of entrypoint ep that takes req, or nil.
func (s *Snapshot) Match(ep string, req *rule.Request) *Router {
	for _, rt := range s.byEntrypoint[ep] {
		if rt.TLSOnly && req.R.TLS == nil {
			continue
		}
		if rt.Rule.Match(req) {
			return rt
		}
	}
	return nil
}

// RoutersOf returns the routers of an entrypoint in the order they are tried.
func (s *Snapshot) RoutersOf(ep string) []*Router { return s.byEntrypoint[ep] }

func sortRouters(rs []*Router) {
	sort.SliceStable(rs, func(i, j int) bool {
		if rs[i].Priority != rs[j].Priority {
			return rs[i].Priority > rs[j].Priority
		}
		return rs[i].Name < rs[j].Name
	})
}
