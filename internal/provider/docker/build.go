package docker

import (
	"fmt"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/labelexpr"
)

// Container is what the provider knows of a running container: all that
// Build needs, so that Build can be tested without an engine.
type Container struct {
	ID     string
	Name   string // without the leading slash
	Labels map[string]string
	// Health is the engine's health status: "" (no health check),
	// "starting", "healthy" or "unhealthy".
	Health string
	// Stopping is set from the moment the engine sends the container its
	// stop signal: the server leaves the pool then, not when the process is
	// gone, so that requests stop going to it while it can still answer.
	Stopping    bool
	Networks    map[string]string // network name → IP address
	HostNetwork bool              // network_mode: host, reached on 127.0.0.1
	Ports       []int             // exposed TCP ports, ascending
	// stopSignal is the signal number "docker stop" sends it ("15").
	stopSignal string
}

// Options are the provider's settings that Build applies.
type Options struct {
	ExposedByDefault bool
	Network          string
	Constraints      *labelexpr.Expr
}

const (
	prefix         = "usher."
	labelEnable    = "usher.enable"
	labelNetwork   = "usher.docker.network"
	composeService = "com.docker.compose.service"
	composeProject = "com.docker.compose.project"
)

// Build returns the dynamic configuration of the containers, to merge with
// files (the configuration of the files, which it does not change), and the
// problems of the containers it left out, each naming the container and the
// label. A container whose labels do not read, or whose part would not
// validate together with the files and the containers already taken, is left
// out whole; the rest is served.
//
// Containers are taken in name order; several containers naming the same
// service are one pool, whose settings are those of the first. A name the
// files define is theirs: the container's definition is left out.
func Build(files *config.Config, cs []Container, opt Options) (*config.Config, config.Problems) {
	cs = slices.Clone(cs)
	slices.SortFunc(cs, func(a, b Container) int { return strings.Compare(a.Name, b.Name) })
	acc := &config.Config{Source: config.NewSource()}
	var pending []Container
	for _, c := range cs {
		if take, _ := opt.wants(c); take {
			pending = append(pending, c)
		}
	}
	// Whatever fails for want of a name another container defines later
	// (a middleware, a service) gets another chance once that one is in.
	for {
		var probs config.Problems
		var left []Container
		for _, c := range pending {
			pt, cprobs := readContainer(c, opt)
			if len(cprobs) == 0 {
				var next *config.Config
				if next, cprobs = add(files, acc, pt); len(cprobs) == 0 {
					acc = next
					continue
				}
			}
			probs = append(probs, cprobs...)
			left = append(left, c)
		}
		if len(left) == 0 || len(left) == len(pending) {
			return acc, probs
		}
		pending = left
	}
}

// wants tells whether a container is to be read, and why not.
func (o Options) wants(c Container) (bool, string) {
	enabled := o.ExposedByDefault
	if v, ok := c.Labels[labelEnable]; ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return true, "" // readContainer reports it
		}
		enabled = b
	}
	switch {
	case !enabled:
		return false, "not enabled"
	case !o.Constraints.Match(c.Name, c.Labels):
		return false, "does not match the constraints"
	case c.Stopping:
		return false, "stopping"
	case c.Health == "starting" || c.Health == "unhealthy":
		return false, "health " + c.Health
	}
	return true, ""
}

// part is one container's dynamic configuration.
type part struct {
	c      Container
	origin string
	cfg    *config.Config
	// own are the services whose servers are the container's own address:
	// those merged into a pool of the same name.
	own map[string]bool
}

// serverKeys are the keys of a container's own server, set per service:
// usher.http.services.NAME.loadBalancer.server.port=8080.
var serverKeys = []string{"port", "scheme", "weight"}

// readContainer reads a container's labels into its part of the
// configuration, its servers included.
func readContainer(c Container, opt Options) (*part, config.Problems) {
	origin := fmt.Sprintf("container %q", c.Name)
	at := func(label string) config.Pos { return config.Pos{File: origin + ", label " + label} }
	var probs config.Problems
	if v, ok := c.Labels[labelEnable]; ok {
		if _, err := strconv.ParseBool(strings.TrimSpace(v)); err != nil {
			return nil, config.Problems{{Pos: at(labelEnable), Msg: fmt.Sprintf("expected true or false, got %q", v)}}
		}
	}
	rest := map[string]string{}
	servers := map[string]map[string]string{} // service → key → label
	for k, v := range c.Labels {
		key, ok := strings.CutPrefix(k, prefix)
		if !ok || k == labelEnable || k == labelNetwork || k == config.AutoscaleServiceLabel {
			continue
		}
		if svc, field, ok := serverLabel(key); ok {
			if servers[svc] == nil {
				servers[svc] = map[string]string{}
			}
			servers[svc][field] = k
			continue
		}
		rest[key] = v
	}
	cfg, lprobs := config.FromLabels(origin, prefix, rest)
	if len(lprobs) > 0 {
		return nil, lprobs
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &config.HTTP{}
	}
	if cfg.HTTP.Services == nil {
		cfg.HTTP.Services = map[string]*config.Service{}
	}
	svcs := cfg.HTTP.Services
	// A container of an autoscaler serves its service as the autoscaler
	// adopts it (Provider.Fit): it has no service of its own, and its
	// routers default to the autoscaled one.
	scaled := c.Labels[config.AutoscaleServiceLabel]
	if len(svcs) == 0 && len(servers) == 0 && scaled == "" {
		servers[defaultService(c)] = map[string]string{}
	}
	pt := &part{c: c, origin: origin, cfg: cfg, own: map[string]bool{}}
	for _, name := range sortedKeys(servers) {
		if svcs[name] == nil {
			svcs[name] = &config.Service{LoadBalancer: &config.LoadBalancer{}}
			pos := config.Pos{File: origin}
			if ls := sortedValues(servers[name]); len(ls) > 0 {
				pos = at(ls[0])
			}
			cfg.Source.Set("http.services."+name, pos)
		}
	}
	for _, name := range sortedKeys(svcs) {
		s := svcs[name]
		keys := servers[name]
		if s.LoadBalancer == nil {
			if len(keys) > 0 {
				for _, label := range keys {
					probs = append(probs, config.Problem{Pos: at(label), Msg: fmt.Sprintf("service %q is not a loadBalancer: a server's port, scheme or weight mean nothing there", name)})
				}
			}
			continue
		}
		if len(s.LoadBalancer.Servers) > 0 {
			for _, label := range keys {
				probs = append(probs, config.Problem{Pos: at(label), Msg: fmt.Sprintf("service %q lists its servers: set either loadBalancer.servers or loadBalancer.server.*, not both", name)})
			}
			continue
		}
		srv, sprobs := ownServer(c, opt, name, keys, at)
		probs = append(probs, sprobs...)
		if len(sprobs) == 0 {
			s.LoadBalancer.Servers = []config.Server{srv}
			pt.own[name] = true
		}
	}
	for _, name := range sortedKeys(cfg.HTTP.Routers) {
		r := cfg.HTTP.Routers[name]
		r.Provider = "docker"
		if r.Service != "" {
			continue
		}
		if scaled != "" && len(svcs) == 0 {
			r.Service = scaled
			continue
		}
		if len(svcs) != 1 {
			probs = append(probs, config.Problem{Pos: at(prefix + "http.routers." + name + ".rule"), Path: "http.routers." + name + ".service",
				Msg: fmt.Sprintf("the container defines %d services: say which one the router uses", len(svcs))})
			continue
		}
		r.Service = sortedKeys(svcs)[0]
	}
	return pt, probs
}

// serverLabel splits "http.services.shop.loadBalancer.server.port" into
// shop and port (case-insensitively, as all label keys are read).
func serverLabel(key string) (svc, field string, ok bool) {
	parts := strings.Split(key, ".")
	if len(parts) != 6 || !strings.EqualFold(parts[0], "http") || !strings.EqualFold(parts[1], "services") ||
		!strings.EqualFold(parts[3], "loadBalancer") || !strings.EqualFold(parts[4], "server") {
		return "", "", false
	}
	for _, f := range serverKeys {
		if strings.EqualFold(parts[5], f) {
			return parts[2], f, true
		}
	}
	return "", "", false
}

// defaultService names the service of a container without service labels:
// its compose service, so that replicas are one pool, or else its name.
func defaultService(c Container) string {
	if s := c.Labels[composeService]; s != "" {
		return s
	}
	return c.Name
}

// ownServer is the container's own address as a server of service svc.
func ownServer(c Container, opt Options, svc string, keys map[string]string, at func(string) config.Pos) (config.Server, config.Problems) {
	var probs config.Problems
	scheme := "http"
	if l, ok := keys["scheme"]; ok {
		scheme = strings.ToLower(strings.TrimSpace(c.Labels[l]))
		if scheme != "http" && scheme != "https" && scheme != "h2c" {
			probs = append(probs, config.Problem{Pos: at(l), Msg: fmt.Sprintf("expected http or https, got %q", c.Labels[l])})
		}
		if scheme == "h2c" {
			scheme = "http"
		}
	}
	var port int
	if l, ok := keys["port"]; ok {
		p, err := strconv.Atoi(strings.TrimSpace(c.Labels[l]))
		if err != nil || p < 1 || p > 65535 {
			probs = append(probs, config.Problem{Pos: at(l), Msg: fmt.Sprintf("expected a port number from 1 to 65535, got %q", c.Labels[l])})
		}
		port = p
	} else {
		switch len(c.Ports) {
		case 1:
			port = c.Ports[0]
		case 0:
			probs = append(probs, config.Problem{Pos: at(fmt.Sprintf("%shttp.services.%s.loadBalancer.server.port", prefix, svc)),
				Msg: "the container exposes no port: set this label to the port it listens on"})
		default:
			probs = append(probs, config.Problem{Pos: at(fmt.Sprintf("%shttp.services.%s.loadBalancer.server.port", prefix, svc)),
				Msg: fmt.Sprintf("the container exposes %d ports (%s): set this label to the one to use", len(c.Ports), joinInts(c.Ports))})
		}
	}
	var weight *int
	if l, ok := keys["weight"]; ok {
		w, err := strconv.Atoi(strings.TrimSpace(c.Labels[l]))
		if err != nil || w < 0 {
			probs = append(probs, config.Problem{Pos: at(l), Msg: fmt.Sprintf("expected a weight of 0 or more, got %q", c.Labels[l])})
		}
		weight = &w
	}
	host, err := c.address(opt.Network)
	if err != nil {
		label := "providers.docker.network"
		if _, ok := c.Labels[labelNetwork]; ok {
			label = labelNetwork
		}
		probs = append(probs, config.Problem{Pos: at(label), Msg: err.Error()})
	}
	if len(probs) > 0 {
		return config.Server{}, probs
	}
	return config.Server{URL: scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)), Weight: weight}, nil
}

// address is the IP usher dials the container on: on the network its label
// usher.docker.network or the provider's network names, else on its only
// network, else on the first by name that gives it an address.
func (c Container) address(network string) (string, error) {
	if c.HostNetwork {
		return "127.0.0.1", nil
	}
	if n := c.Labels[labelNetwork]; n != "" {
		network = n
	}
	names := sortedKeys(c.Networks)
	if network != "" {
		if ip := c.Networks[network]; ip != "" {
			return ip, nil
		}
		// Compose prefixes networks with the project's name.
		if p := c.Labels[composeProject]; p != "" {
			if ip := c.Networks[p+"_"+network]; ip != "" {
				return ip, nil
			}
		}
		return "", fmt.Errorf("the container has no address on network %q (its networks: %s)", network, orNone(names))
	}
	for _, n := range names {
		if ip := c.Networks[n]; ip != "" {
			return ip, nil
		}
	}
	return "", fmt.Errorf("the container has no IP address on any network (its networks: %s)", orNone(names))
}

// add takes a container's part into acc, the containers' configuration so
// far: it returns the new one, or the problems that leave the container out.
// Neither acc nor files changes.
func add(files, acc *config.Config, pt *part) (*config.Config, config.Problems) {
	var probs config.Problems
	next, err := config.Merge(acc) // a copy
	if err != nil {
		return nil, config.Problems{{Pos: config.Pos{File: pt.origin}, Msg: err.Error()}}
	}
	fresh := &config.Config{Source: pt.cfg.Source, HTTP: &config.HTTP{}}
	fresh.TCP, fresh.UDP, fresh.TLS = pt.cfg.TCP, pt.cfg.UDP, pt.cfg.TLS
	h := pt.cfg.HTTP
	fh := files.HTTP
	if fh == nil {
		fh = &config.HTTP{}
	}
	nh := next.HTTP
	if nh == nil {
		nh = &config.HTTP{}
		next.HTTP = nh
	}
	label := func(section, name string) config.Pos { return pt.cfg.Source.Pos("http." + section + "." + name) }
	for _, name := range sortedKeys(h.Routers) {
		switch {
		case fh.Routers[name] != nil:
			probs = append(probs, config.Problem{Pos: label("routers", name), Msg: fmt.Sprintf("router %q is defined in the configuration files too, which win", name)})
		case nh.Routers[name] != nil:
			if !reflect.DeepEqual(nh.Routers[name], h.Routers[name]) {
				probs = append(probs, config.Problem{Pos: label("routers", name), Msg: fmt.Sprintf("router %q is defined by another container with other settings", name)})
			}
		default:
			setNamed(&fresh.HTTP.Routers, name, h.Routers[name])
		}
	}
	for _, name := range sortedKeys(h.Middlewares) {
		switch {
		case fh.Middlewares[name] != nil:
			probs = append(probs, config.Problem{Pos: label("middlewares", name), Msg: fmt.Sprintf("middleware %q is defined in the configuration files too, which win", name)})
		case nh.Middlewares[name] != nil:
			if !reflect.DeepEqual(nh.Middlewares[name], h.Middlewares[name]) {
				probs = append(probs, config.Problem{Pos: label("middlewares", name), Msg: fmt.Sprintf("middleware %q is defined by another container with other settings", name)})
			}
		default:
			setNamed(&fresh.HTTP.Middlewares, name, h.Middlewares[name])
		}
	}
	for _, name := range sortedKeys(h.Services) {
		s := h.Services[name]
		have := nh.Services[name]
		switch {
		case fh.Services[name] != nil:
			probs = append(probs, config.Problem{Pos: label("services", name), Msg: fmt.Sprintf("service %q is defined in the configuration files too, which win", name)})
		case have == nil:
			setNamed(&fresh.HTTP.Services, name, s)
		case pt.own[name] && have.LoadBalancer != nil && samePool(have.LoadBalancer, s.LoadBalancer):
			// One more server of the pool.
			have.LoadBalancer.Servers = append(have.LoadBalancer.Servers, s.LoadBalancer.Servers...)
		default:
			probs = append(probs, config.Problem{Pos: label("services", name), Msg: fmt.Sprintf("service %q is defined by another container with other settings", name)})
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	next, err = config.Merge(next, fresh)
	if err != nil {
		return nil, config.Problems{{Pos: config.Pos{File: pt.origin}, Msg: err.Error()}}
	}
	all, err := config.Merge(files, next)
	if err != nil {
		return nil, config.Problems{{Pos: config.Pos{File: pt.origin}, Msg: err.Error()}}
	}
	for _, p := range config.Validate(all) {
		if p.Pos.File == pt.origin || strings.HasPrefix(p.Pos.File, pt.origin+", ") {
			probs = append(probs, p)
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return next, nil
}

// samePool reports whether two load balancers differ in nothing but their
// servers: the same service, written by the labels of two replicas.
func samePool(a, b *config.LoadBalancer) bool {
	if b == nil {
		return false
	}
	x, y := *a, *b
	x.Servers, y.Servers = nil, nil
	return reflect.DeepEqual(x, y)
}

func setNamed[T any](m *map[string]T, name string, v T) {
	if *m == nil {
		*m = map[string]T{}
	}
	(*m)[name] = v
}

func sortedKeys[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortedValues(m map[string]string) []string {
	vs := make([]string, 0, len(m))
	for _, v := range m {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
