package config

import (
	"fmt"
	"math"
	"time"
)

// autoscale checks a load balancer's autoscale; its servers are the floor
// that is always there, so min counts them.
func (v *validator) autoscale(p string, lb *LoadBalancer) {
	a := lb.Autoscale
	minN := DefaultAutoscaleMin
	if a.Min != nil {
		minN = *a.Min
	}
	switch {
	case minN < 0:
		v.add(p+".min", "min must be 0 or more, got %d", minN)
	case minN < len(lb.Servers):
		v.add(p+".min", "min (%d) is below the %d servers listed, which are the floor that is always there: raise min or list fewer servers", minN, len(lb.Servers))
	}
	switch {
	case a.Max < 1:
		v.add(p+".max", "max is required: the most servers, 1 or more, got %d", a.Max)
	case a.Max < minN:
		v.add(p+".max", "max (%d) is below min (%d)", a.Max, minN)
	}
	t := a.Target
	switch {
	case bad(t.InFlight) || t.InFlight < 0:
		v.add(p+".target.inFlight", "must be above 0, got %v", t.InFlight)
	case bad(t.RPS) || t.RPS < 0:
		v.add(p+".target.rps", "must be above 0, got %v", t.RPS)
	case t.InFlight > 0 && t.RPS > 0:
		v.add(p+".target", "a target is one of inFlight and rps, not both")
	case t.InFlight == 0 && t.RPS == 0:
		v.add(p+".target", "a target is required: inFlight (requests in flight per server) or rps (requests per second per server), above 0")
	}
	stable, panicW := durOr(a.StableWindow, DefaultAutoscaleStableWindow), durOr(a.PanicWindow, DefaultAutoscalePanicWindow)
	interval := durOr(a.Interval, DefaultAutoscaleInterval)
	v.positive(p+".stableWindow", a.StableWindow)
	v.positive(p+".panicWindow", a.PanicWindow)
	v.positive(p+".cooldown", a.Cooldown)
	v.positive(p+".interval", a.Interval)
	v.positive(p+".drainTimeout", a.DrainTimeout)
	if a.Interval >= 0 && a.Interval != 0 && interval < 10*time.Millisecond {
		v.add(p+".interval", "interval must be 10ms or more, got %s", interval)
	}
	if stable > 0 && panicW > 0 && panicW >= stable {
		v.add(p+".panicWindow", "panicWindow (%s) must be shorter than stableWindow (%s)", panicW, stable)
	}
	if panicW > 0 && interval > 0 && panicW < interval {
		v.add(p+".panicWindow", "panicWindow (%s) is shorter than interval (%s): it would hold no sample", panicW, interval)
	}
	if f := a.PanicThreshold; bad(f) || f != 0 && f <= 1 {
		v.add(p+".panicThreshold", "panicThreshold must be above 1 (a multiple of the target), got %v", f)
	}
	v.nonNegative(p+".maxStepUp", a.MaxStepUp)
	v.nonNegative(p+".maxStepDown", a.MaxStepDown)
	if q := a.Queue; q != nil {
		if minN > 0 {
			v.add(p+".queue", "a queue holds requests while no server is ready, which only min 0 allows")
		}
		v.nonNegative(p+".queue.maxSize", q.MaxSize)
		v.positive(p+".queue.timeout", q.Timeout)
	}
	v.actuator(p+".actuator", &a.Actuator)
}

func (v *validator) actuator(p string, act *Actuator) {
	switch {
	case act.Exec != nil && act.Docker != nil:
		v.add(p, "an actuator is one of exec and docker, not both")
	case act.Exec == nil && act.Docker == nil:
		v.add(p, "an actuator is required: exec (a command) or docker (containers from an image)")
	}
	if e := act.Exec; e != nil {
		if len(e.Command) == 0 || e.Command[0] == "" {
			v.add(p+".exec.command", "the command is required: the program and its arguments, like [\"./scale.sh\"]")
		}
		v.positive(p+".exec.timeout", e.Timeout)
	}
	if d := act.Docker; d != nil {
		if d.Image == "" {
			v.add(p+".docker.image", "the image is required: what each container runs")
		}
		if d.Port < 0 || d.Port > 65535 {
			v.add(p+".docker.port", "a port is 1 to 65535, got %d", d.Port)
		}
		v.oneOf(p+".docker.scheme", d.Scheme, "http", "https")
		v.dockerEndpoint(p+".docker.endpoint", d.Endpoint)
		for k := range d.Labels {
			if k == AutoscaleServiceLabel {
				v.add(fmt.Sprintf("%s.docker.labels.%s", p, k), "usher sets this label itself: it names the service the container serves")
			}
		}
	}
}

// AutoscaleServiceLabel is the label of containers the docker actuator
// started: the name of their service.
const AutoscaleServiceLabel = "usher.autoscale.service"

// positive refuses a negative duration (zero is the default).
func (v *validator) positive(path string, d Duration) {
	if d < 0 {
		v.add(path, "must be above 0, got %s", d.D())
	}
}

func bad(f float64) bool { return math.IsNaN(f) || math.IsInf(f, 0) }

func durOr(d Duration, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d.D()
}
