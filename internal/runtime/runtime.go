// Package runtime turns a configuration into an immutable Snapshot that the
// entrypoints serve from, keeps the State that outlives snapshots, and runs
// every reload through one Manager.
//
// The life of a snapshot, the same whatever starts it (the first load, a file
// change, SIGHUP), one at a time under the Manager's lock:
//
//  1. check: Check applies the config's defaults and validates it, once; only a
//     Checked config compiles.
//  2. compile: Compile builds everything off to the side: routers, middleware
//     chains, services, the TLS client configs of transports, the health-check
//     specs, the certificates. Lasting state (servers, upstream connection
//     pools) is taken from State without changing it: the changes wait in a
//     Pending. Any problem fails the whole compile, with its file:line.
//  3. prepare: each Holder of lasting state (the registry of servers and the
//     upstream pools through the Pending, health checks, certificate metrics,
//     and any the Manager is given) readies its share of the snapshot as a
//     Change, changing nothing that runs; a Holder may still refuse the config.
//     A refusal aborts every Change readied, and nothing in any holder changed:
//     the running snapshot keeps serving.
//  4. swap: the Manager publishes the snapshot (an atomic pointer store); new
//     requests use it from then on.
//  5. commit: every Change is committed, in order: servers the snapshot no
//     longer names are drained and forgotten, idle connections of pools it
//     dropped are closed, probers start and stop, certificate expiry metrics
//     follow.
//  6. drain and release: requests that started on the old snapshot finish on it
//     (they hold its handlers); once none refers to it, the garbage collector
//     frees it. Nothing has to be closed by hand.
package runtime

import (
	"net/http"
	"sort"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/health"
	"github.com/usher-lb/usher/internal/proxy"
	"github.com/usher-lb/usher/internal/rule"
	"github.com/usher-lb/usher/internal/service"
)

// Snapshot is one compiled configuration. It is never changed after Compile.
type Snapshot struct {
	Config   *config.Config
	Compiled time.Time
	Routers  map[string]*Router
	Services map[string]service.Handler
	// TLS holds the certificates of the tls section, loaded, and the server
	// TLS configs of its option sets.
	TLS *TLSSet
	// Health is the health checking of each load balancer, in service name
	// order: its servers, its active check and its passive check.
	Health []health.Service
	// Transports is how each load balancer talks to its servers (timeouts,
	// the TLS client config built from transport.tls), by service name.
	Transports map[string]proxy.Options

	byEntrypoint map[string][]*Router // sorted: higher priority first
}

// Router is a compiled router.
type Router struct {
	Name        string
	Rule        *rule.HTTPRule
	Priority    int
	Entrypoints []string
	Middlewares []string // flattened: chains expanded
	Kinds       []string // the kind of each of Middlewares ("basicAuth")
	Service     string
	TLSOnly     bool
	Handler     http.Handler // middlewares, then the service
}

// Match returns the router of entrypoint ep that takes req, or nil. Route is
// what serving calls: it prepares the request first.
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
