package runtime

import (
	"fmt"
	"time"

	"github.com/usher-lb/usher/internal/autoscale"
	"github.com/usher-lb/usher/internal/config"
)

// autoscaleSpec is what the scaler of an autoscaled load balancer is built
// on, its defaults applied.
func (c *compiler) autoscaleSpec(name string, lb *config.LoadBalancer) (autoscale.Spec, error) {
	a := lb.Autoscale
	minN := config.DefaultAutoscaleMin
	if a.Min != nil {
		minN = *a.Min
	}
	p := autoscale.Policy{
		Min: minN, Max: a.Max,
		StableWindow:   orDefault(a.StableWindow, config.DefaultAutoscaleStableWindow),
		PanicWindow:    orDefault(a.PanicWindow, config.DefaultAutoscalePanicWindow),
		PanicThreshold: a.PanicThreshold,
		Cooldown:       orDefault(a.Cooldown, config.DefaultAutoscaleCooldown),
		MaxStepUp:      a.MaxStepUp, MaxStepDown: a.MaxStepDown,
	}
	if p.PanicThreshold == 0 {
		p.PanicThreshold = config.DefaultAutoscalePanicThreshold
	}
	if a.Target.RPS > 0 {
		p.Metric, p.Target = autoscale.MetricRPS, a.Target.RPS
	} else {
		p.Metric, p.Target = autoscale.MetricInFlight, a.Target.InFlight
	}
	spec := autoscale.Spec{
		Service: name, Policy: p, Floor: len(lb.Servers),
		Interval:     orDefault(a.Interval, config.DefaultAutoscaleInterval),
		DrainTimeout: orDefault(a.DrainTimeout, config.DefaultAutoscaleDrainTimeout),
	}
	if minN == 0 {
		q := autoscale.QueueSpec{MaxSize: config.DefaultAutoscaleQueueMaxSize, Timeout: config.DefaultAutoscaleQueueTimeout}
		if a.Queue != nil {
			if a.Queue.MaxSize > 0 {
				q.MaxSize = a.Queue.MaxSize
			}
			q.Timeout = orDefault(a.Queue.Timeout, q.Timeout)
		}
		spec.Queue = &q
	}
	switch act := a.Actuator; {
	case act.Exec != nil:
		e := &autoscale.Exec{Service: name, Command: act.Exec.Command, Timeout: orDefault(act.Exec.Timeout, config.DefaultExecTimeout)}
		spec.Actuator, spec.Kind, spec.Key = e, "exec", fmt.Sprintf("%q %s", act.Exec.Command, e.Timeout)
	case act.Docker != nil:
		dk, key, err := dockerActuator(name, act.Docker)
		if err != nil {
			return spec, fmt.Errorf("actuator.docker: %w", err)
		}
		spec.Actuator, spec.Kind, spec.Key, spec.Endpoint = dk, "docker", key, act.Docker.Endpoint
	default:
		return spec, fmt.Errorf("an actuator is required: exec or docker")
	}
	return spec, nil
}

// orDefault is d, or def when d is not set: a config compiled without
// defaults (tests, usher validate) means the same.
func orDefault(d config.Duration, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d.D()
}

// dockerActuator builds the docker actuator of a service; key says what it
// is, so that a reload that changes the template makes a new one.
func dockerActuator(service string, d *config.DockerActuator) (*autoscale.Docker, string, error) {
	var env []string
	for _, k := range sortedKeys(d.Env) {
		env = append(env, k+"="+d.Env[k])
	}
	port, scheme, network := d.Port, d.Scheme, d.Network
	if port == 0 {
		port = config.DefaultDockerActuatorPort
	}
	if scheme == "" {
		scheme = "http"
	}
	if network == "" {
		network = "bridge"
	}
	dk, err := autoscale.NewDocker(d.Endpoint, autoscale.Docker{
		Service: service, Image: d.Image, Cmd: d.Cmd, Env: env, Labels: d.Labels,
		Network: network, Port: port, Scheme: scheme, StopTimeout: 10 * time.Second,
	})
	if err != nil {
		return nil, "", err
	}
	var labels []string
	for _, k := range sortedKeys(d.Labels) {
		labels = append(labels, k+"="+d.Labels[k])
	}
	key := fmt.Sprintf("%s|%q|%q|%q|%s|%d|%s|%s", d.Endpoint, d.Image, d.Cmd, env, network, port, scheme, labels)
	return dk, key, nil
}

// serverMaxConns is the limit of servers[i]: its own maxConns, else the
// load balancer's maxConnsPerServer (the servers an autoscaler adopted
// have only that one).
func serverMaxConns(lb *config.LoadBalancer, servers []config.Server, i int) int {
	if n := servers[i].MaxConns; n > 0 {
		return n
	}
	return lb.MaxConnsPerServer
}
