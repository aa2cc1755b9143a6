package autoscale

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// ServiceLabel is the label of the containers the docker actuator started:
// the name of their service (config.AutoscaleServiceLabel).
const ServiceLabel = "usher.autoscale.service"

// Docker is the docker actuator: it starts containers from a template and
// removes them, and returns their URLs on Network. The containers it owns
// are found again by ServiceLabel, so a restart of usher adopts those that
// run; one that exited is removed and replaced.
type Docker struct {
	Service string
	Image   string
	Cmd     []string
	Env     []string // KEY=value
	Labels  map[string]string
	Network string
	Port    int
	Scheme  string
	// StopTimeout is how long a container has to exit after SIGTERM
	// (its requests in flight were drained before).
	StopTimeout time.Duration

	cli *client.Client
}

// NewDocker returns a docker actuator on the engine at endpoint (""
// DOCKER_HOST, else the local socket); the engine is not reached yet.
func NewDocker(endpoint string, d Docker) (*Docker, error) {
	opt := client.WithHostFromEnv()
	if endpoint != "" {
		if strings.HasPrefix(endpoint, "http://") {
			endpoint = "tcp://" + strings.TrimPrefix(endpoint, "http://")
		}
		opt = client.WithHost(endpoint)
	}
	cli, err := client.New(opt)
	if err != nil {
		return nil, fmt.Errorf("docker endpoint: %w", err)
	}
	d.cli = cli
	return &d, nil
}

type owned struct {
	id      string
	url     string
	created int64
	running bool
	// unhealthy: its image's health check failed (Docker restarts no such
	// container); it is replaced at the next scaling.
	unhealthy bool
}

// Scale starts or removes containers until want run; those of drained go
// first, then the newest.
func (d *Docker) Scale(ctx context.Context, want int, _, drained []string) ([]string, error) {
	have, err := d.list(ctx)
	if err != nil {
		return nil, err
	}
	var keep []owned
	for _, c := range have {
		if !c.running || c.url == "" || c.unhealthy {
			d.remove(ctx, c.id) // exited, unreachable or failing its health check: replaced below
			continue
		}
		keep = append(keep, c)
	}
	// Drained ones last, so that they are the first removed.
	sort.SliceStable(keep, func(i, j int) bool {
		di, dj := slices.Contains(drained, keep[i].url), slices.Contains(drained, keep[j].url)
		if di != dj {
			return dj
		}
		return keep[i].created < keep[j].created
	})
	for len(keep) > want {
		c := keep[len(keep)-1]
		if err := d.remove(ctx, c.id); err != nil {
			return nil, err
		}
		keep = keep[:len(keep)-1]
	}
	for len(keep) < want {
		c, err := d.start(ctx)
		if err != nil {
			return nil, err
		}
		keep = append(keep, c)
	}
	urls := make([]string, len(keep))
	for i, c := range keep {
		urls[i] = c.url
	}
	return urls, nil
}

func (d *Docker) list(ctx context.Context) ([]owned, error) {
	f := make(client.Filters).Add("label", ServiceLabel+"="+d.Service)
	res, err := d.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("docker: listing containers: %w", err)
	}
	var out []owned
	for _, s := range res.Items {
		c := owned{id: s.ID, created: s.Created, running: s.State == container.StateRunning}
		if c.running {
			c.url, c.unhealthy, _ = d.inspect(ctx, s.ID)
		}
		out = append(out, c)
	}
	return out, nil
}

// inspect returns the container's URL on the network, and whether its
// health check says unhealthy (the list's summary says it only from API
// 1.52 on).
func (d *Docker) inspect(ctx context.Context, id string) (u string, unhealthy bool, err error) {
	res, err := d.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return "", false, fmt.Errorf("docker: inspecting %s: %w", short(id), err)
	}
	if st := res.Container.State; st != nil && st.Health != nil {
		unhealthy = st.Health.Status == container.Unhealthy
	}
	ns := res.Container.NetworkSettings
	if ns == nil || ns.Networks[d.Network] == nil || !ns.Networks[d.Network].IPAddress.IsValid() {
		return "", unhealthy, fmt.Errorf("docker: container %s has no address on network %s", short(id), d.Network)
	}
	ip := ns.Networks[d.Network].IPAddress.String()
	return d.Scheme + "://" + net.JoinHostPort(ip, strconv.Itoa(d.Port)), unhealthy, nil
}

func (d *Docker) start(ctx context.Context) (owned, error) {
	labels := map[string]string{"usher.enable": "false"}
	for k, v := range d.Labels {
		labels[k] = v
	}
	labels[ServiceLabel] = d.Service
	var b [4]byte
	rand.Read(b[:])
	name := "usher-" + containerName(d.Service) + "-" + hex.EncodeToString(b[:])
	cfg := &container.Config{Image: d.Image, Env: d.Env, Labels: labels}
	if len(d.Cmd) > 0 {
		cfg.Cmd = d.Cmd
	}
	res, err := d.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       name,
		Config:     cfg,
		HostConfig: &container.HostConfig{NetworkMode: container.NetworkMode(d.Network)},
	})
	if err != nil {
		return owned{}, fmt.Errorf("docker: creating a container of %s: %w", d.Image, err)
	}
	if _, err := d.cli.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		d.remove(ctx, res.ID)
		return owned{}, fmt.Errorf("docker: starting %s: %w", name, err)
	}
	u, _, err := d.inspect(ctx, res.ID)
	if err == nil {
		err = listening(ctx, u, 30*time.Second)
	}
	if err != nil {
		d.remove(ctx, res.ID)
		return owned{}, fmt.Errorf("%s: %w", name, err)
	}
	return owned{id: res.ID, url: u, created: time.Now().Unix(), running: true}, nil
}

// listening waits, at most limit, until the server at u accepts TCP
// connections: a container adopted before would refuse its first requests.
func listening(ctx context.Context, u string, limit time.Duration) error {
	pu, err := url.Parse(u)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(limit)
	var d net.Dialer
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := d.DialContext(dctx, "tcp", pu.Host)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %s: %w", pu.Host, limit, err)
		}
		time.Sleep(50 * time.Millisecond) // polled: nothing tells when a server listens
	}
}

// remove stops (SIGTERM, then SIGKILL after StopTimeout) and removes a
// container.
func (d *Docker) remove(ctx context.Context, id string) error {
	secs := int(d.StopTimeout / time.Second)
	d.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &secs})
	if _, err := d.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil {
		return fmt.Errorf("docker: removing %s: %w", short(id), err)
	}
	return nil
}

// Close lets the engine's connections go.
func (d *Docker) Close() error { return d.cli.Close() }

// containerName keeps the characters a container's name may have.
func containerName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	return string(b)
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
