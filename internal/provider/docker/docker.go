// Package docker is the Docker provider: the labels of running containers,
// read from the engine's API (github.com/moby/moby/client, the API version
// negotiated with the engine), as dynamic configuration merged with the
// files'. With watch on, the engine's events keep it current: a container
// that starts, becomes healthy, stops or changes networks changes the
// configuration within the throttle.
package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/labelexpr"
)

// Provider follows the containers of one engine. Build it with New, Start
// it once; it stops when Start's context ends (Wait waits for that).
type Provider struct {
	cli      *client.Client
	endpoint string // as Endpoint writes it
	log      *slog.Logger
	opt      Options
	watch    bool
	throttle time.Duration

	mu         sync.Mutex
	containers map[string]*Container // running containers by ID
	lastProbs  string                // the problems last logged, to log a change once
	synced     bool                  // Connect read the containers

	done chan struct{}
}

// New makes a provider for the engine at cfg.Endpoint (defaults applied).
// It does not connect yet.
func New(cfg *config.DockerProvider, log *slog.Logger) (*Provider, error) {
	expr, err := labelexpr.Parse(cfg.Constraints)
	if err != nil {
		return nil, fmt.Errorf("providers.docker.constraints: %w", err)
	}
	host := cfg.Endpoint
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	host = Endpoint(host)
	throttle := cfg.Throttle.D()
	if throttle == 0 { // as ApplyDefaults
		throttle = 100 * time.Millisecond
	}
	cli, err := client.New(client.WithHost(host))
	if err != nil {
		return nil, fmt.Errorf("providers.docker.endpoint: %w", err)
	}
	return &Provider{
		cli:        cli,
		endpoint:   host,
		log:        log.With("provider", "docker"),
		opt:        Options{ExposedByDefault: cfg.ExposedByDefault, Network: cfg.Network, Constraints: expr},
		watch:      cfg.Watch == nil || *cfg.Watch,
		throttle:   throttle,
		containers: map[string]*Container{},
		done:       make(chan struct{}),
	}, nil
}

// Connect reads the running containers, for the first configuration. An
// engine that cannot be reached is logged and tried again by Watch: usher
// serves the files meanwhile.
func (p *Provider) Connect(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := p.resync(sctx); err != nil {
		p.log.Error("cannot read the containers; trying again in the background", "error", err.Error())
		return
	}
	p.synced = true
	p.log.Info("docker engine connected", "api", p.cli.ClientVersion(), "containers", p.count())
}

// Watch follows the engine's events (when watch is on) until ctx ends,
// calling onChange, at most once per throttle, after containers changed.
// Call it once, after Connect.
func (p *Provider) Watch(ctx context.Context, onChange func()) {
	if !p.watch {
		if !p.synced {
			p.log.Warn("watch is off: the containers will not be read again until usher restarts")
		}
		p.cli.Close()
		close(p.done)
		return
	}
	dirty := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.follow(ctx, p.synced, dirty) }()
	go func() { defer wg.Done(); throttle(ctx, p.throttle, dirty, onChange) }()
	go func() {
		wg.Wait()
		p.cli.Close()
		close(p.done)
	}()
}

// Wait returns once the goroutines Watch started have stopped.
func (p *Provider) Wait() { <-p.done }

// Close releases the connection of a provider that will not Watch: Merge
// goes on serving the containers Connect read.
func (p *Provider) Close() error { return p.cli.Close() }

func (p *Provider) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.containers)
}

// Merge returns the files' configuration merged with the containers', and
// logs the problems of the containers left out when they changed.
func (p *Provider) Merge(files *config.Config) *config.Config {
	p.mu.Lock()
	cs := make([]Container, 0, len(p.containers))
	for _, c := range p.containers {
		cs = append(cs, *c)
	}
	p.mu.Unlock()
	part, probs := Build(files, cs, p.opt)
	p.report(probs)
	out, err := config.Merge(files, part)
	if err != nil { // Build leaves out what would conflict
		p.log.Error("cannot merge the containers' configuration", "error", err.Error())
		return files
	}
	return out
}

// Fit returns the addresses (on every network) of the running containers
// that the docker actuator of service started on this provider's engine,
// and that are fit for traffic as any container is here: not stopping, and
// their health check, if any, neither starting nor unhealthy. ok is false
// when endpoint (the actuator's, "" for DOCKER_HOST or the local socket) is
// another engine, or when watch is off: the provider does not follow those
// containers then.
func (p *Provider) Fit(service, endpoint string) (addrs map[string]bool, ok bool) {
	if !p.watch || Endpoint(endpoint) != p.endpoint {
		return nil, false
	}
	addrs = map[string]bool{}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.containers {
		if c.Labels[config.AutoscaleServiceLabel] != service || c.Stopping || c.Health == "starting" || c.Health == "unhealthy" {
			continue
		}
		for _, ip := range c.Networks {
			if ip != "" {
				addrs[ip] = true
			}
		}
		if c.HostNetwork {
			addrs["127.0.0.1"] = true
		}
	}
	return addrs, true
}

// Endpoint is the engine an endpoint setting names, written one way: ""
// is DOCKER_HOST, else the local socket; http:// is tcp://.
func Endpoint(s string) string {
	if s == "" {
		s = os.Getenv("DOCKER_HOST")
	}
	if s == "" {
		s = "unix:///var/run/docker.sock"
	}
	if rest, ok := strings.CutPrefix(s, "http://"); ok {
		s = "tcp://" + rest
	}
	return strings.TrimSuffix(s, "/")
}

func (p *Provider) report(probs config.Problems) {
	msg := probs.Error()
	p.mu.Lock()
	changed := msg != p.lastProbs
	p.lastProbs = msg
	p.mu.Unlock()
	if !changed {
		return
	}
	for _, pr := range probs {
		p.log.Warn("container left out", "problem", pr.Error())
	}
}

// follow keeps the containers current from the engine's events, reconnecting
// (and reading every container again) when the stream breaks.
func (p *Provider) follow(ctx context.Context, synced bool, dirty chan<- struct{}) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		ectx, cancel := context.WithCancel(ctx)
		f := make(client.Filters).Add("type", "container", "network")
		ev := p.cli.Events(ectx, client.EventsListOptions{Filters: f})
		// Subscribed first, listed second: a change between the two is
		// seen by one or the other.
		if !synced {
			if err := p.resync(ectx); err != nil {
				cancel()
				if ctx.Err() == nil {
					p.log.Warn("cannot read the containers", "error", err.Error(), "retry", backoff.String())
				}
				if !sleep(ctx, backoff) {
					return
				}
				backoff = min(2*backoff, 10*time.Second)
				continue
			}
			p.log.Info("docker engine connected", "api", p.cli.ClientVersion(), "containers", p.count())
			signal(dirty)
		}
		synced = false
		backoff = 100 * time.Millisecond
		err := p.events(ectx, ev, dirty)
		cancel()
		if ctx.Err() != nil {
			return
		}
		p.log.Warn("docker event stream ended; reconnecting", "error", errString(err))
		if !sleep(ctx, backoff) {
			return
		}
	}
}

func (p *Provider) events(ctx context.Context, ev client.EventsResult, dirty chan<- struct{}) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-ev.Err:
			return err
		case m := <-ev.Messages:
			if p.handle(ctx, m) {
				signal(dirty)
			}
		}
	}
}

// handle applies one event; it reports whether the containers changed.
func (p *Provider) handle(ctx context.Context, m events.Message) bool {
	id := m.Actor.ID
	if m.Type == events.NetworkEventType {
		id = m.Actor.Attributes["container"]
		if id == "" {
			return false
		}
		return p.refresh(ctx, id)
	}
	action := string(m.Action)
	switch {
	case action == string(events.ActionKill):
		p.mu.Lock()
		defer p.mu.Unlock()
		c := p.containers[id]
		if c == nil || c.Stopping {
			return false
		}
		// A signal that stops it, not one that asks it to reload (SIGHUP).
		if sig := m.Actor.Attributes["signal"]; sig == c.stopSignal || sig == "9" {
			c.Stopping = true
			return true
		}
		return false
	case action == string(events.ActionDie), action == string(events.ActionStop), action == string(events.ActionPause),
		action == string(events.ActionDestroy), action == string(events.ActionOOM):
		p.mu.Lock()
		defer p.mu.Unlock()
		if _, ok := p.containers[id]; !ok {
			return false
		}
		delete(p.containers, id)
		return true
	case action == string(events.ActionStart), action == string(events.ActionRestart), action == string(events.ActionUnPause),
		action == string(events.ActionRename), action == string(events.ActionUpdate),
		strings.HasPrefix(action, string(events.ActionHealthStatus)):
		return p.refresh(ctx, id)
	}
	return false
}

// refresh reads one container again; it reports whether what Build sees of
// it changed.
func (p *Provider) refresh(ctx context.Context, id string) bool {
	res, err := p.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.containers[id]
	if err != nil {
		if ctx.Err() == nil {
			p.log.Debug("cannot inspect a container", "id", short(id), "error", err.Error())
		}
		delete(p.containers, id)
		return old != nil
	}
	c := fromInspect(res.Container)
	if c == nil {
		delete(p.containers, id)
		return old != nil
	}
	p.containers[id] = c
	return old == nil || !same(old, c)
}

// resync reads every running container.
func (p *Provider) resync(ctx context.Context) error {
	list, err := p.cli.ContainerList(ctx, client.ContainerListOptions{})
	if err != nil {
		return fmt.Errorf("docker: %w", err)
	}
	next := map[string]*Container{}
	for _, s := range list.Items {
		res, err := p.cli.ContainerInspect(ctx, s.ID, client.ContainerInspectOptions{})
		if err != nil {
			continue // gone since the list
		}
		if c := fromInspect(res.Container); c != nil {
			next[s.ID] = c
		}
	}
	p.mu.Lock()
	p.containers = next
	p.mu.Unlock()
	return nil
}

// fromInspect is what Build needs of a container; nil when it does not run.
func fromInspect(r container.InspectResponse) *Container {
	if r.State == nil || !r.State.Running || r.State.Paused || r.Config == nil {
		return nil
	}
	c := &Container{
		ID:         r.ID,
		Name:       strings.TrimPrefix(r.Name, "/"),
		Labels:     r.Config.Labels,
		Networks:   map[string]string{},
		stopSignal: signalNumber(r.Config.StopSignal),
	}
	if h := r.State.Health; h != nil && h.Status != container.NoHealthcheck {
		c.Health = string(h.Status)
	}
	if r.HostConfig != nil && r.HostConfig.NetworkMode.IsHost() {
		c.HostNetwork = true
	}
	if ns := r.NetworkSettings; ns != nil {
		for name, ep := range ns.Networks {
			if ep == nil {
				continue
			}
			ip := ep.IPAddress
			if !ip.IsValid() && ep.GlobalIPv6Address.IsValid() {
				ip = ep.GlobalIPv6Address
			}
			if ip.IsValid() && ip != (netip.Addr{}) {
				c.Networks[name] = ip.String()
			} else {
				c.Networks[name] = ""
			}
		}
	}
	for port := range r.Config.ExposedPorts {
		if port.Proto() == "tcp" {
			c.Ports = append(c.Ports, int(port.Num()))
		}
	}
	slices.Sort(c.Ports)
	return c
}

// signalNumber turns a stop signal as Docker writes it (SIGTERM, TERM, 15)
// into the number kill events carry.
func signalNumber(s string) string {
	if s == "" {
		return "15"
	}
	if _, err := strconv.Atoi(s); err == nil {
		return s
	}
	names := map[string]string{"HUP": "1", "INT": "2", "QUIT": "3", "KILL": "9", "USR1": "10", "USR2": "12", "TERM": "15", "WINCH": "28"}
	if n, ok := names[strings.TrimPrefix(strings.ToUpper(s), "SIG")]; ok {
		return n
	}
	return "15"
}

func same(a, b *Container) bool {
	if a.Name != b.Name || a.Health != b.Health || a.Stopping != b.Stopping || a.HostNetwork != b.HostNetwork ||
		!slices.Equal(a.Ports, b.Ports) || len(a.Labels) != len(b.Labels) || len(a.Networks) != len(b.Networks) {
		return false
	}
	for k, v := range a.Labels {
		if bv, ok := b.Labels[k]; !ok || bv != v {
			return false
		}
	}
	for k, v := range a.Networks {
		if bv, ok := b.Networks[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// throttle calls onChange after a signal on dirty, at most once per every:
// the first change of a quiet time is applied at once, a burst (a compose
// up of ten containers) in a few reloads rather than one per event.
func throttle(ctx context.Context, every time.Duration, dirty <-chan struct{}, onChange func()) {
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-dirty:
		}
		if wait := every - time.Since(last); wait > 0 && !sleep(ctx, wait) {
			return
		}
		last = time.Now()
		onChange()
	}
}

func signal(dirty chan<- struct{}) {
	select {
	case dirty <- struct{}{}:
	default:
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func errString(err error) string {
	if err == nil || errors.Is(err, context.Canceled) {
		return "closed"
	}
	return err.Error()
}
