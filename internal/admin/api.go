package admin

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/pool"
	"github.com/usher-lb/usher/internal/runtime"
	"github.com/usher-lb/usher/internal/service"
)

// view is what one API request reads: the running snapshot, its config with
// secrets hidden, and the problems of the last refused reload.
type view struct {
	snap   *runtime.Snapshot
	cfg    *config.Config // redacted
	http   config.HTTP    // cfg.HTTP, or empty
	status runtime.Status
	refuse refusal
}

func (a *admin) view(w http.ResponseWriter) *view {
	snap := a.snapshot(w)
	if snap == nil {
		return nil
	}
	v := &view{snap: snap, cfg: snap.Config.Redacted()}
	if v.cfg.HTTP != nil {
		v.http = *v.cfg.HTTP
	}
	if a.d.Status != nil {
		v.status = a.d.Status()
	}
	known := map[string][]string{
		"entrypoints.":      keys(v.cfg.Entrypoints),
		"http.routers.":     keys(v.http.Routers),
		"http.services.":    keys(v.http.Services),
		"http.middlewares.": keys(v.http.Middlewares),
	}
	v.refuse = refusalOf(v.status.LastError, known)
	return v
}

// serversOf returns the servers of a load-balancer service of the snapshot,
// in config order; nil for other services.
func serversOf(snap *runtime.Snapshot, service string) []*pool.Server {
	if lb, ok := snap.Services[service].(interface{ Servers() []*pool.Server }); ok {
		return lb.Servers()
	}
	return nil
}

// ---- overview

type overview struct {
	Version       string          `json:"version"`
	Started       time.Time       `json:"started"`
	UptimeSeconds int64           `json:"uptimeSeconds"`
	ConfigLoaded  time.Time       `json:"configLoaded"` // when the running snapshot was compiled
	Entrypoints   []entrypointRef `json:"entrypoints"`
	Routers       partCount       `json:"routers"`
	Services      partCount       `json:"services"`
	Middlewares   partCount       `json:"middlewares"`
	Servers       serverCount     `json:"servers"`
	Reload        reloadInfo      `json:"reload"`
	Traffic       traffic         `json:"traffic"`
}

type entrypointRef struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	TLS     bool   `json:"tls"`
	HTTP3   bool   `json:"http3,omitempty"` // HTTP/3 on the same port over UDP
}

type partCount struct {
	Total  int `json:"total"`
	Errors int `json:"errors"`
}

type serverCount struct {
	Total     int `json:"total"`
	Healthy   int `json:"healthy"`   // up, taking traffic
	Unhealthy int `json:"unhealthy"` // down or ejected
	Draining  int `json:"draining"`
}

type reloadInfo struct {
	OK           bool           `json:"ok"`              // the last reload applied (or none failed)
	Error        string         `json:"error,omitempty"` // the whole error of the last refused reload
	Problems     []string       `json:"problems"`        // its problems about no single part
	LastGood     *time.Time     `json:"lastGood"`
	Counts       map[string]int `json:"counts"` // by result: ok, error
	StaticChange bool           `json:"staticChange"`
}

func (a *admin) overview(w http.ResponseWriter, r *http.Request) {
	v := a.view(w)
	if v == nil {
		return
	}
	now := time.Now()
	o := overview{
		Version:       a.d.Version,
		Started:       a.d.Started,
		UptimeSeconds: int64(now.Sub(a.d.Started).Seconds()),
		ConfigLoaded:  v.snap.Compiled,
		Entrypoints:   []entrypointRef{},
		Routers:       partCount{Total: len(v.http.Routers), Errors: v.refuse.count("http.routers.")},
		Services:      partCount{Total: len(v.http.Services), Errors: v.refuse.count("http.services.")},
		Middlewares:   partCount{Total: len(v.http.Middlewares), Errors: v.refuse.count("http.middlewares.")},
		Reload: reloadInfo{
			OK:           v.status.LastError == nil,
			Problems:     v.refuse.general,
			Counts:       v.status.Reloads,
			StaticChange: v.status.StaticChange,
		},
	}
	if o.Reload.Problems == nil {
		o.Reload.Problems = []string{}
	}
	if o.Reload.Counts == nil {
		o.Reload.Counts = map[string]int{}
	}
	if v.status.LastError != nil {
		o.Reload.Error = config.RedactURLs(v.status.LastError.Error())
	}
	if !v.status.LastGood.IsZero() {
		t := v.status.LastGood
		o.Reload.LastGood = &t
	}
	for _, name := range keys(v.cfg.Entrypoints) {
		ep := v.cfg.Entrypoints[name]
		o.Entrypoints = append(o.Entrypoints, entrypointRef{Name: name, Address: ep.Address, TLS: ep.TLS != nil, HTTP3: ep.HTTP3 != nil})
	}
	var lbs []string
	for _, name := range keys(v.http.Services) {
		servers := serversOf(v.snap, name)
		if servers == nil {
			continue
		}
		lbs = append(lbs, name)
		for _, s := range servers {
			o.Servers.Total++
			switch health(s) {
			case healthUp:
				o.Servers.Healthy++
			case healthDraining:
				o.Servers.Draining++
			default:
				o.Servers.Unhealthy++
			}
		}
	}
	o.Traffic = a.totals(lbs)
	writeJSON(w, http.StatusOK, o)
}

// ---- entrypoints

func (a *admin) entrypoints(w http.ResponseWriter, r *http.Request) {
	v := a.view(w)
	if v == nil {
		return
	}
	out := []map[string]any{}
	for _, name := range keys(v.cfg.Entrypoints) {
		m := plainMap(v.cfg.Entrypoints[name])
		m["name"] = name
		m["status"], m["error"] = v.refuse.of("entrypoints.", name)
		if m["protocol"] == nil {
			m["protocol"] = "http"
		}
		routers := []string{}
		for _, rt := range v.snap.RoutersOf(name) {
			routers = append(routers, rt.Name)
		}
		m["routers"] = routers // in the order they are tried
		out = append(out, m)
	}
	out = appendMissing(out, v.refuse, "entrypoints.", func(n string) bool { return v.cfg.Entrypoints[n] != nil })
	writeJSON(w, http.StatusOK, out)
}

// appendMissing adds the parts of a refused config that do not run.
func appendMissing(out []map[string]any, rf refusal, section string, running func(string) bool) []map[string]any {
	for _, name := range rf.missing(section, running) {
		st, msg := rf.of(section, name)
		out = append(out, map[string]any{"name": name, "status": st, "error": msg, "running": false})
	}
	return out
}

// ---- routers

func (a *admin) routers(w http.ResponseWriter, r *http.Request) {
	v := a.view(w)
	if v == nil {
		return
	}
	out := []map[string]any{}
	for _, name := range keys(v.http.Routers) {
		m := plainMap(v.http.Routers[name])
		m["name"] = name
		m["provider"] = providerOf(v.http.Routers[name].Provider)
		m["status"], m["error"] = v.refuse.of("http.routers.", name)
		if m["middlewares"] == nil {
			m["middlewares"] = []any{}
		}
		if rt := v.snap.Routers[name]; rt != nil {
			m["priority"] = rt.Priority // effective: 0 in the file is the rule's length
			m["entrypoints"] = orEmpty(rt.Entrypoints)
			m["chain"] = orEmpty(rt.Middlewares) // flattened, in order
			m["tlsOnly"] = rt.TLSOnly
		}
		m["running"] = true
		out = append(out, m)
	}
	out = appendMissing(out, v.refuse, "http.routers.", func(n string) bool { return v.http.Routers[n] != nil })
	writeJSON(w, http.StatusOK, out)
}

// ---- middlewares

func (a *admin) middlewares(w http.ResponseWriter, r *http.Request) {
	v := a.view(w)
	if v == nil {
		return
	}
	usedBy := map[string][]string{}
	for _, name := range keys(v.snap.Routers) {
		seen := map[string]bool{}
		for _, mw := range append(v.http.Routers[name].Middlewares, v.snap.Routers[name].Middlewares...) {
			if !seen[mw] {
				seen[mw] = true
				usedBy[mw] = append(usedBy[mw], name)
			}
		}
	}
	var counts map[string]observe.Decisions
	if a.d.Decisions != nil {
		counts = a.d.Decisions()
	}
	out := []map[string]any{}
	for _, name := range keys(v.http.Middlewares) {
		mw := v.http.Middlewares[name]
		st, msg := v.refuse.of("http.middlewares.", name)
		m := map[string]any{
			"name":    name,
			"type":    mw.Kind,
			"config":  plain(mw.Spec),
			"usedBy":  orEmpty(usedBy[name]),
			"status":  st,
			"error":   msg,
			"running": true,
		}
		// A middleware that decides (auth, limits, filters) shows what it
		// decided; one of another kind under the same name does not.
		if d, ok := counts[name]; ok && d.Kind == mw.Kind {
			m["decisions"] = map[string]uint64{"allow": d.Allow, "deny": d.Deny, "error": d.Error}
		}
		out = append(out, m)
	}
	out = appendMissing(out, v.refuse, "http.middlewares.", func(n string) bool { return v.http.Middlewares[n] != nil })
	writeJSON(w, http.StatusOK, out)
}

// ---- services

// maxSeries caps the history a services request may ask for, in seconds.
const maxSeries = 3600

func (a *admin) services(w http.ResponseWriter, r *http.Request) {
	series := 0
	if s := r.URL.Query().Get("series"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > maxSeries {
			writeError(w, http.StatusBadRequest, "series must be a number of seconds from 0 to "+strconv.Itoa(maxSeries))
			return
		}
		series = n
	}
	v := a.view(w)
	if v == nil {
		return
	}
	usedBy := map[string][]string{}
	for _, name := range keys(v.snap.Routers) {
		svc := v.snap.Routers[name].Service
		usedBy[svc] = append(usedBy[svc], name)
	}
	out := []map[string]any{}
	for _, name := range keys(v.http.Services) {
		sc := v.http.Services[name]
		m := plainMap(sc) // server URLs and health check headers redacted with the config
		m["name"] = name
		m["type"] = serviceType(sc)
		m["status"], m["error"] = v.refuse.of("http.services.", name)
		m["usedBy"] = orEmpty(usedBy[name])
		m["running"] = true
		if h := v.snap.Services[name]; h != nil {
			m["available"] = h.Available()
			if mh, ok := h.(*service.Mirror); ok {
				m["dropped"] = mh.Dropped()
				if cs := mh.Comparisons(); cs != nil {
					m["compare"] = cs // counts since usher started, kept across reloads
				}
			}
		}
		if servers := serversOf(v.snap, name); servers != nil {
			views := make([]serverView, len(servers))
			for i, s := range servers {
				views[i] = a.serverView(name, s)
			}
			m["servers"] = views
			m["stats"] = a.serviceStats(name)
			if a.d.Autoscale != nil {
				if sc, ok := a.d.Autoscale.Lookup(name); ok {
					m["autoscale"] = sc.Status()
				}
			}
			if series > 0 {
				m["series"] = a.series(name, series)
			}
		}
		out = append(out, m)
	}
	out = appendMissing(out, v.refuse, "http.services.", func(n string) bool { return v.http.Services[n] != nil })
	writeJSON(w, http.StatusOK, out)
}

func serviceType(s *config.Service) string {
	switch {
	case s.LoadBalancer != nil:
		return "loadBalancer"
	case s.Weighted != nil:
		return "weighted"
	case s.Mirror != nil:
		return "mirror"
	case s.Failover != nil:
		return "failover"
	}
	return ""
}

// Health of a server, as the API shows it: what keeps it from traffic, the
// operator's draining first.
const (
	healthUp       = "up"
	healthDown     = "down"     // failing active health checks
	healthEjected  = "ejected"  // ejected by passive health checks
	healthDraining = "draining" // drained by an operator or removed by a reload
)

func health(s *pool.Server) string {
	ag, _ := any(s).(agent)
	switch {
	case s.Draining(), ag != nil && ag.AgentDraining():
		return healthDraining
	case s.Ejected():
		return healthEjected
	case !s.Healthy(), ag != nil && ag.AgentState() == "down":
		return healthDown
	}
	return healthUp
}

// agent is what a server's own agent reported in health probe responses,
// once the health checks record it.
type agent interface {
	AgentState() string // ready, drain, down
	AgentWeight() int   // percent of the configured weight
	AgentDraining() bool
}

// prober is what a server tells of its last active health probe, once the
// health checks record it.
type prober interface {
	Probe() (ok bool, latency time.Duration, at time.Time)
}

// ejectedUntiler is when a server ejected by passive health checks comes
// back, once the health checks record it.
type ejectedUntiler interface {
	EjectedUntil() time.Time
}

// serverView is one server of a load balancer, live.
type serverView struct {
	URL          string     `json:"url"`
	Weight       int        `json:"weight"`
	Health       string     `json:"health"` // up, down, ejected, draining
	Healthy      bool       `json:"healthy"`
	Ejected      bool       `json:"ejected"`
	Draining     bool       `json:"draining"`
	InFlight     int64      `json:"inFlight"`
	Requests     uint64     `json:"requests"`
	Failures     uint64     `json:"failures"`
	LastProbe    *probeView `json:"lastProbe"`
	EjectedUntil *time.Time `json:"ejectedUntil"`
	Agent        *agentView `json:"agent"` // what the server's agent said, when it said anything
	// Traffic of the last observe.StatsWindow seconds.
	RPS       float64 `json:"rps"`
	P50Ms     float64 `json:"p50Ms"`
	P99Ms     float64 `json:"p99Ms"`
	ErrorRate float64 `json:"errorRate"` // 0 to 1
}

type agentView struct {
	State  string `json:"state"`  // ready, drain, down
	Weight int    `json:"weight"` // percent of the configured weight
}

type probeView struct {
	OK        bool      `json:"ok"`
	LatencyMs float64   `json:"latencyMs"`
	At        time.Time `json:"at"`
}

func (a *admin) serverView(service string, s *pool.Server) serverView {
	sv := serverView{
		URL:      redactedURL(s.URL),
		Weight:   s.Weight(),
		Health:   health(s),
		Healthy:  s.Healthy(),
		Ejected:  s.Ejected(),
		Draining: s.Draining(),
		InFlight: s.InFlight(),
		Requests: s.Requests(),
		Failures: s.Failures(),
	}
	t := a.serverStats(service, s.URL.String())
	sv.RPS, sv.P50Ms, sv.P99Ms, sv.ErrorRate = t.RPS, t.P50Ms, t.P99Ms, t.ErrorRate
	if p, ok := any(s).(prober); ok {
		if ok, lat, at := p.Probe(); !at.IsZero() {
			sv.LastProbe = &probeView{OK: ok, LatencyMs: ms(lat), At: at}
		}
	}
	if e, ok := any(s).(ejectedUntiler); ok {
		if t := e.EjectedUntil(); !t.IsZero() {
			sv.EjectedUntil = &t
		}
	}
	if ag, ok := any(s).(agent); ok {
		if st, w := ag.AgentState(), ag.AgentWeight(); st != "ready" || w != 100 {
			sv.Agent = &agentView{State: st, Weight: w}
		}
	}
	return sv
}

// ---- helpers

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// hostOnly is the host of a Host header, lowercase, without port or the
// brackets of an IPv6 literal: what rules match on.
func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
}

// providerOf names where a router was defined: "file" (the configuration
// files) unless a provider such as docker says otherwise.
func providerOf(p string) string {
	if p == "" {
		return "file"
	}
	return p
}
