package runtime

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/usher-lb/usher/internal/autoscale"
	"github.com/usher-lb/usher/internal/balance"
	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/deploy"
	"github.com/usher-lb/usher/internal/health"
	"github.com/usher-lb/usher/internal/middleware"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/pool"
	"github.com/usher-lb/usher/internal/proxy"
	"github.com/usher-lb/usher/internal/rule"
	"github.com/usher-lb/usher/internal/service"
)

// Pending is the share of a compile in the State: the servers and upstream
// pools of its snapshot, collected without changing the State. It is a Change
// (see Holder): Commit applies it once the snapshot is published, Abort
// forgets it.
type Pending struct {
	st      *State
	servers *pool.Build
	ups     *upstreamBuild
	mw      *env.Build
	dep     *deploy.Build
	as      *autoscale.Build
}

// Commit applies the state changes of the compile, once its snapshot is
// published: servers no longer named are drained and dropped (see Removed),
// idle connections of pools no longer used are closed.
func (p *Pending) Commit() {
	p.servers.Commit()
	p.st.commitUpstreams(p.ups)
	p.mw.Commit()
	p.dep.Commit()
	p.as.Commit()
}

// Abort forgets the compile's state changes: the State is as it was.
func (p *Pending) Abort() {
	p.servers.Abort()
	p.st.abortUpstreams(p.ups)
	p.mw.Abort()
	p.dep.Abort()
	p.as.Abort()
}

// Removed returns the servers that Commit drained and dropped.
func (p *Pending) Removed() []*pool.Server { return p.servers.Removed() }

type compiler struct {
	ctx      context.Context
	cfg      *config.Config
	st       *State
	servers  *pool.Build
	ups      *upstreamBuild
	mw       *env.Build
	dep      *deploy.Build
	as       *autoscale.Build
	mwCtx    context.Context // ctx with the middlewares' Env
	problems config.Problems

	services   map[string]service.Handler
	visiting   map[string]bool
	health     []health.Service
	transports map[string]proxy.Options
}

// Compile builds a snapshot of a checked config. It changes nothing in st:
// the Pending returned holds what the snapshot takes from and adds to st,
// committed or aborted by whoever publishes (or not) the snapshot.
func Compile(ctx context.Context, checked Checked, st *State) (*Snapshot, *Pending, error) {
	cfg := checked.cfg
	if cfg == nil {
		return nil, nil, errors.New("runtime: compile of a configuration that was not checked")
	}
	c := &compiler{
		ctx:        ctx,
		cfg:        cfg,
		st:         st,
		servers:    st.Servers.Begin(),
		ups:        newUpstreamBuild(),
		mw:         st.middlewares().Begin(),
		dep:        st.deployments().Begin(),
		as:         st.autoscaling().Begin(),
		services:   map[string]service.Handler{},
		visiting:   map[string]bool{},
		transports: map[string]proxy.Options{},
	}
	// Service lets a middleware use a service of this snapshot (the errors
	// middleware's pages); services compile before routers, so this finds them.
	lookup := func(name string) (http.Handler, bool) {
		h := c.service(name)
		return h, h != nil
	}
	c.mwCtx = env.With(ctx, env.New(env.Config{Log: st.Log, DataDir: st.DataDir, Metrics: st.Metrics, Redis: st.Redis, Service: lookup}, c.mw))
	snap := &Snapshot{
		Config:       cfg,
		Compiled:     time.Now(),
		Routers:      map[string]*Router{},
		byEntrypoint: map[string][]*Router{},
	}
	var h config.HTTP
	if cfg.HTTP != nil {
		h = *cfg.HTTP
	}
	for _, name := range sortedKeys(h.Services) {
		c.service(name)
	}
	for _, name := range sortedKeys(h.Routers) {
		if rt := c.router(name, h.Routers[name]); rt != nil {
			snap.Routers[name] = rt
			for _, ep := range rt.Entrypoints {
				snap.byEntrypoint[ep] = append(snap.byEntrypoint[ep], rt)
			}
		}
	}
	for _, rs := range snap.byEntrypoint {
		sortRouters(rs)
	}
	snap.TLS = compileTLS(c, snap)
	if len(c.problems) > 0 {
		c.servers.Abort()
		st.abortUpstreams(c.ups)
		c.mw.Abort()
		c.dep.Abort()
		c.as.Abort()
		return nil, nil, c.problems
	}
	snap.Services = c.services
	slices.SortFunc(c.health, func(a, b health.Service) int { return strings.Compare(a.Name, b.Name) })
	snap.Health = c.health
	snap.Transports = c.transports
	if st.Servers.Len() == 0 {
		// The first snapshot's servers are not "new": they start at full weight.
		for _, s := range c.servers.Created() {
			s.SetAvailableSince(time.Time{})
		}
	}
	return snap, &Pending{st: st, servers: c.servers, ups: c.ups, mw: c.mw, dep: c.dep, as: c.as}, nil
}

func (c *compiler) problem(path, format string, args ...any) {
	p := c.cfg.Problemf(path, format, args...)
	// A middleware used by several routers is built for each: its problem
	// is said once.
	for _, q := range c.problems {
		if q.Path == p.Path && q.Msg == p.Msg {
			return
		}
	}
	c.problems = append(c.problems, p)
}

func (c *compiler) router(name string, r *config.Router) *Router {
	path := "http.routers." + name
	ru, err := rule.ParseHTTP(r.Rule)
	if err != nil {
		c.problem(path+".rule", "%v", err)
		return nil
	}
	svc := c.service(r.Service)
	if svc == nil {
		return nil
	}
	eps := r.Entrypoints
	if len(eps) == 0 {
		for _, ep := range sortedKeys(c.cfg.Entrypoints) {
			if e := c.cfg.Entrypoints[ep]; e.Protocol == "" || e.Protocol == "http" {
				eps = append(eps, ep)
			}
		}
	}
	names, specs, ok := c.flatten(path+".middlewares", r.Middlewares, nil)
	if !ok {
		return nil
	}
	var handler http.Handler = svc
	kinds := make([]string, len(names))
	for i := len(names) - 1; i >= 0; i-- {
		mw := c.cfg.HTTP.Middlewares[names[i]]
		kinds[i] = mw.Kind
		ctor, ok := middleware.Lookup(mw.Kind)
		if !ok {
			c.problem("http.middlewares."+names[i], "middleware kind %q is not available", mw.Kind)
			return nil
		}
		h, err := ctor(c.mwCtx, handler, specs[i], names[i])
		if err != nil {
			c.problem("http.middlewares."+names[i]+"."+mw.Kind, "%v", err)
			return nil
		}
		handler = h
	}
	prio := r.Priority
	if prio == 0 {
		prio = len(r.Rule)
	}
	return &Router{
		Name:        name,
		Rule:        ru,
		Priority:    prio,
		Entrypoints: eps,
		Middlewares: names,
		Kinds:       kinds,
		Service:     r.Service,
		TLSOnly:     r.TLS != nil,
		Handler:     handler,
	}
}

// flatten expands chains into the list of middlewares they stand for.
func (c *compiler) flatten(path string, refs []string, seen []string) (names []string, specs []any, ok bool) {
	for i, ref := range refs {
		var mw *config.Middleware
		if c.cfg.HTTP != nil {
			mw = c.cfg.HTTP.Middlewares[ref]
		}
		if mw == nil {
			c.problem(fmt.Sprintf("%s[%d]", path, i), "unknown middleware %q", ref)
			return nil, nil, false
		}
		if mw.Kind != "chain" {
			names = append(names, ref)
			specs = append(specs, mw.Spec)
			continue
		}
		for _, s := range seen {
			if s == ref {
				c.problem("http.middlewares."+ref, "chain cycle: %s -> %s", strings.Join(seen, " -> "), ref)
				return nil, nil, false
			}
		}
		ch := mw.Spec.(*config.Chain)
		n, s, ok := c.flatten("http.middlewares."+ref+".chain.middlewares", ch.Middlewares, append(seen, ref))
		if !ok {
			return nil, nil, false
		}
		names = append(names, n...)
		specs = append(specs, s...)
	}
	return names, specs, true
}

// service compiles the named service once, following references.
func (c *compiler) service(name string) service.Handler {
	if h, ok := c.services[name]; ok {
		return h
	}
	path := "http.services." + name
	var cfg *config.Service
	if c.cfg.HTTP != nil {
		cfg = c.cfg.HTTP.Services[name]
	}
	if cfg == nil {
		c.problem(path, "unknown service %q", name)
		return nil
	}
	if c.visiting[name] {
		c.problem(path, "service %q refers to itself", name)
		return nil
	}
	c.visiting[name] = true
	defer delete(c.visiting, name)

	var h service.Handler
	switch {
	case cfg.LoadBalancer != nil:
		h = c.loadBalancer(name, path+".loadBalancer", cfg.LoadBalancer)
	case cfg.Weighted != nil:
		var arms []service.Arm
		for _, ws := range cfg.Weighted.Services {
			sub := c.service(ws.Name)
			if sub == nil {
				return nil
			}
			w := 1
			if ws.Weight != nil {
				w = *ws.Weight
			}
			arms = append(arms, service.Arm{Name: ws.Name, Handler: sub, Weight: w})
		}
		var sticky *service.Sticky
		if cfg.Weighted.Sticky != nil && cfg.Weighted.Sticky.Cookie != nil {
			st, err := c.sticky(name, cfg.Weighted.Sticky.Cookie)
			if err != nil {
				c.problem(path+".weighted.sticky.cookie", "%v", err)
				return nil
			}
			sticky = st
		}
		wh, err := c.weighted(name, cfg.Weighted, arms, sticky)
		if err != nil {
			c.problem(path+".weighted", "%v", err)
			return nil
		}
		h = wh
	case cfg.Mirror != nil:
		m := cfg.Mirror
		main := c.service(m.Service)
		if main == nil {
			return nil
		}
		var targets []*service.MirrorTarget
		for _, mt := range m.Mirrors {
			sub := c.service(mt.Name)
			if sub == nil {
				return nil
			}
			pct := 100
			if mt.Percent != nil {
				pct = *mt.Percent
			}
			targets = append(targets, &service.MirrorTarget{Name: mt.Name, Handler: sub, Percent: pct})
		}
		h = service.NewMirrorWith(m.Service, main, targets, service.MirrorOptions{Name: name, MaxBody: int64(m.MaxBodySize), Compare: c.compare(name, m.Compare)})
	case cfg.Failover != nil:
		main, fb := c.service(cfg.Failover.Service), c.service(cfg.Failover.Fallback)
		if main == nil || fb == nil {
			return nil
		}
		h = &service.Failover{Main: main, Fallback: fb, MainName: cfg.Failover.Service, FallbackName: cfg.Failover.Fallback}
	default:
		c.problem(path, "a service needs one of loadBalancer, weighted, mirror, failover")
		return nil
	}
	if h != nil {
		c.services[name] = h
	}
	return h
}

func (c *compiler) loadBalancer(name, path string, lb *config.LoadBalancer) service.Handler {
	opts, tkey, ok := c.transport(path+".transport", lb.Transport)
	if !ok {
		return nil
	}
	check, ok := c.healthCheck(path+".healthCheck", lb.HealthCheck, opts.TLS)
	if !ok {
		return nil
	}
	var scaler *autoscale.Scaler
	var spec autoscale.Spec
	servers := lb.Servers
	if lb.Autoscale != nil {
		var err error
		spec, err = c.autoscaleSpec(name, lb)
		if err != nil {
			c.problem(path+".autoscale", "%v", err)
			return nil
		}
		scaler = c.as.Get(spec)
		servers = slices.Clone(lb.Servers)
		for _, u := range scaler.Servers() {
			servers = append(servers, config.Server{URL: u})
		}
	}
	var targets []service.Target
	for i, s := range servers {
		u, err := url.Parse(s.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.problem(fmt.Sprintf("%s.servers[%d].url", path, i), "%q is not an http:// or https:// URL with a host", s.URL)
			continue
		}
		w := 1
		if s.Weight != nil {
			w = *s.Weight
		}
		srv := c.st.Servers.Get(c.servers, name, u, w)
		c.servers.SetMaxConns(srv, serverMaxConns(lb, servers, i))
		up, err := c.st.upstream(c.ups, upstreamKey{server: srv.Key, transport: tkey}, u, opts)
		if err != nil {
			c.problem(fmt.Sprintf("%s.servers[%d].url", path, i), "%v", err)
			continue
		}
		targets = append(targets, service.Target{Server: srv, Upstream: up, Weight: w})
	}
	pass := true
	if lb.PassHostHeader != nil {
		pass = *lb.PassHostHeader
	}
	o := service.LoadBalancerOptions{
		Balance: balance.Options{
			Algorithm:         lb.Algorithm,
			HashBalanceFactor: lb.HashBalanceFactor,
			Decay:             lb.Decay.D(),
			SlowStart:         lb.SlowStart.D(),
		},
		PassHost: pass,
		HashKey:  lb.HashKey,
		Panic:    lb.WhenNoHealthy == "panic",
		Log:      c.st.Log,
	}
	for i := range servers {
		o.Limited = o.Limited || serverMaxConns(lb, servers, i) > 0
	}
	if scaler != nil && spec.Queue != nil {
		o.Hold = scaler
	}
	if o.Limited {
		o.Metrics = c.st.Metrics
		if q := lb.Queue; q != nil {
			o.Queue = &service.QueueOptions{MaxSize: q.MaxSize, Timeout: q.Timeout.D()}
			if o.Queue.MaxSize <= 0 {
				o.Queue.MaxSize = config.DefaultQueueMaxSize
			}
			if o.Queue.Timeout <= 0 {
				o.Queue.Timeout = config.DefaultQueueTimeout
			}
		}
	}
	if r := lb.Retry; r != nil {
		if r.Attempts != nil {
			o.Retry.Attempts = *r.Attempts
		}
		o.Retry.OnStatus = r.OnStatus
		o.Retry.Methods = r.Methods
	}
	if lb.Sticky != nil && lb.Sticky.Cookie != nil {
		st, err := c.sticky(name, lb.Sticky.Cookie)
		if err != nil {
			c.problem(path+".sticky.cookie", "%v", err)
			return nil
		}
		o.Sticky = st
	}
	var passive *health.Reporter
	if p := lb.PassiveHealthCheck; p != nil {
		spec, ok := c.passiveCheck(path+".passiveHealthCheck", p)
		if !ok {
			return nil
		}
		if c.st.Health != nil {
			passive = c.st.Health.Reporter(name, spec, len(servers))
			o.Reporter = passive
		}
	}
	h, err := service.NewLoadBalancer(name, targets, o)
	if err != nil {
		c.problem(path, "%v", err)
		return nil
	}
	if scaler != nil {
		c.as.SetPool(scaler, h)
	}
	c.health = append(c.health, health.Service{Name: name, Servers: h.Servers(), Check: check, Passive: passive})
	c.transports[name] = opts
	return h
}

// sticky builds the sticky cookie of a service; its key is the configured
// secret, or one generated once and kept in the data directory, so that pins
// survive restarts and agree between usher instances sharing the directory.
func (c *compiler) sticky(svcName string, sc *config.StickyCookie) (*service.Sticky, error) {
	key := []byte(sc.Secret)
	if len(key) == 0 {
		var err error
		if key, err = c.st.stickyKey(); err != nil {
			return nil, err
		}
	}
	ss := http.SameSiteDefaultMode
	switch strings.ToLower(sc.SameSite) {
	case "lax":
		ss = http.SameSiteLaxMode
	case "strict":
		ss = http.SameSiteStrictMode
	case "none":
		ss = http.SameSiteNoneMode
	}
	name := sc.Name
	if name == "" {
		name = config.StickyCookieName(svcName)
	}
	p := sc.Path
	if p == "" {
		p = "/"
	}
	return &service.Sticky{
		Name: name, Secure: sc.Secure, HTTPOnly: sc.HTTPOnly, SameSite: ss,
		MaxAge: sc.MaxAge, Path: p, Domain: sc.Domain, Key: key,
	}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
