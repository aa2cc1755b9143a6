package config

import "time"

// Autoscale grows and shrinks a load balancer's pool with its load, as
// Knative's autoscaler does: the count of servers follows the load averaged
// over a stable window, or over a short panic window when a burst doubles
// the target, and an actuator starts and stops the servers.
type Autoscale struct {
	Min            *int            `json:"min,omitempty" doc:"fewest servers; 0 scales to zero (the first requests wait in queue until a server is ready); default 1"`
	Max            int             `json:"max" doc:"most servers (1 or more, at least min)"`
	Target         AutoscaleTarget `json:"target" doc:"the load one server is meant to carry: exactly one of inFlight and rps"`
	StableWindow   Duration        `json:"stableWindow,omitempty" doc:"the window the load is averaged over to decide; default 60s"`
	PanicWindow    Duration        `json:"panicWindow,omitempty" doc:"the short window that detects bursts, shorter than stableWindow; default 6s"`
	PanicThreshold float64         `json:"panicThreshold,omitempty" doc:"panic mode starts when the panic window's load reaches this many times the target of the servers there are; above 1; default 2"`
	Cooldown       Duration        `json:"cooldown,omitempty" doc:"least time after a scale (either way) before a scale down; default 30s"`
	MaxStepUp      int             `json:"maxStepUp,omitempty" doc:"most servers added in one decision; default 0 = no bound"`
	MaxStepDown    int             `json:"maxStepDown,omitempty" doc:"most servers removed in one decision; default 0 = no bound"`
	Interval       Duration        `json:"interval,omitempty" doc:"how often the load is sampled and a decision taken; default 1s"`
	DrainTimeout   Duration        `json:"drainTimeout,omitempty" doc:"longest wait for the requests in flight on servers being removed before the actuator stops them; default 30s"`
	Queue          *AutoscaleQueue `json:"queue,omitempty" doc:"min 0: where requests wait while no server is ready"`
	Actuator       Actuator        `json:"actuator" doc:"what starts and stops servers: exactly one of exec and docker"`
}

// AutoscaleTarget is the load one server is meant to carry.
type AutoscaleTarget struct {
	InFlight float64 `json:"inFlight,omitempty" doc:"requests in flight per server (queued ones count)"`
	RPS      float64 `json:"rps,omitempty" doc:"requests per second per server"`
}

// AutoscaleQueue bounds the wait of requests for a first server when the
// pool is scaled to zero.
type AutoscaleQueue struct {
	MaxSize int      `json:"maxSize,omitempty" doc:"most requests waiting at once; one more gets 503 with Retry-After; default 100"`
	Timeout Duration `json:"timeout,omitempty" doc:"longest wait for a ready server; then 503 with Retry-After; default 30s"`
}

// Actuator starts and stops an autoscaled service's servers.
type Actuator struct {
	Exec   *ExecActuator   `json:"exec,omitempty" doc:"a command told the count wanted, printing the servers' URLs"`
	Docker *DockerActuator `json:"docker,omitempty" doc:"containers started and stopped from a template"`
}

// ExecActuator runs a command with USHER_DESIRED in its environment; its
// standard output, one URL a line, is the set of servers usher adopts.
type ExecActuator struct {
	Command []string `json:"command" doc:"the program and its arguments (no shell), run with USHER_DESIRED, USHER_SERVICE, USHER_SERVERS and USHER_DRAINED in its environment, in usher's working directory (a bare name is looked up in PATH)"`
	Timeout Duration `json:"timeout,omitempty" doc:"longest run of the command; then it is killed and retried; default 30s"`
}

// DockerActuator starts containers from a template on the engine; usher
// adopts them by their address on the network.
type DockerActuator struct {
	Endpoint string            `json:"endpoint,omitempty" doc:"the engine, unix:///var/run/docker.sock or tcp://host:port; default DOCKER_HOST, else the local socket"`
	Image    string            `json:"image" doc:"the image each container runs"`
	Cmd      []string          `json:"cmd,omitempty" doc:"the containers' command; default the image's"`
	Env      map[string]string `json:"env,omitempty" secret:"values" doc:"the containers' environment (values are secret)"`
	Labels   map[string]string `json:"labels,omitempty" doc:"the containers' labels, beside usher.autoscale.service=SERVICE and usher.enable=false (unless given) that usher adds; with the Docker provider, usher.* labels of an enabled container are read as any container's"`
	Network  string            `json:"network,omitempty" doc:"the network the containers join and are reached on; default bridge"`
	Port     int               `json:"port,omitempty" doc:"the port the containers serve on; default 80"`
	Scheme   string            `json:"scheme,omitempty" doc:"http|https; default http"`
}

// Defaults of Autoscale.
const (
	DefaultAutoscaleMin            = 1
	DefaultAutoscaleStableWindow   = 60 * time.Second
	DefaultAutoscalePanicWindow    = 6 * time.Second
	DefaultAutoscalePanicThreshold = 2.0
	DefaultAutoscaleCooldown       = 30 * time.Second
	DefaultAutoscaleInterval       = time.Second
	DefaultAutoscaleDrainTimeout   = 30 * time.Second
	DefaultAutoscaleQueueMaxSize   = 100
	DefaultAutoscaleQueueTimeout   = 30 * time.Second
	DefaultExecTimeout             = 30 * time.Second
	DefaultDockerActuatorPort      = 80
)

func (a *Autoscale) applyDefaults() {
	if a == nil {
		return
	}
	orInt(&a.Min, DefaultAutoscaleMin)
	orDur(&a.StableWindow, DefaultAutoscaleStableWindow)
	orDur(&a.PanicWindow, DefaultAutoscalePanicWindow)
	if a.PanicThreshold == 0 {
		a.PanicThreshold = DefaultAutoscalePanicThreshold
	}
	orDur(&a.Cooldown, DefaultAutoscaleCooldown)
	orDur(&a.Interval, DefaultAutoscaleInterval)
	orDur(&a.DrainTimeout, DefaultAutoscaleDrainTimeout)
	if *a.Min == 0 {
		if a.Queue == nil {
			a.Queue = &AutoscaleQueue{}
		}
		orN(&a.Queue.MaxSize, DefaultAutoscaleQueueMaxSize)
		orDur(&a.Queue.Timeout, DefaultAutoscaleQueueTimeout)
	}
	if e := a.Actuator.Exec; e != nil {
		orDur(&e.Timeout, DefaultExecTimeout)
	}
	if d := a.Actuator.Docker; d != nil {
		orN(&d.Port, DefaultDockerActuatorPort)
		orStr(&d.Scheme, "http")
		orStr(&d.Network, "bridge")
	}
}
