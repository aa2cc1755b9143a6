package runtime

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/usher-lb/usher/internal/autoscale"
	"github.com/usher-lb/usher/internal/deploy"
	"github.com/usher-lb/usher/internal/health"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/pool"
	"github.com/usher-lb/usher/internal/proxy"
)

// State is what outlives snapshots: servers with their counters and health,
// upstreams with their warm connections (found again by server and
// transport), the TLS client configs of transports (found again by their
// settings and what their files held), and the health checks. It is owned by
// whoever compiles (one Manager) and is safe for concurrent use.
type State struct {
	Servers *pool.Registry
	// DataDir is where generated keys are kept ("" = not kept: a fresh key per process).
	DataDir string
	// Health, when set, runs the health checks of the snapshots a Manager
	// applies and hears the outcomes of real requests (passive checks). When
	// nil no check runs, but checks are compiled all the same, so that a bad
	// one is refused (usher validate, usher explain).
	Health *health.Manager
	// Log is where load balancers log why servers failed (debug) and what
	// middlewares log; nil: nowhere.
	Log *slog.Logger
	// Metrics, when set, counts the decisions of middlewares.
	Metrics *observe.Metrics
	// Redis is the pool of the static redis section, nil without one.
	Redis *redis.Client
	// Middlewares is the state middlewares keep across snapshots by name
	// (see package middleware/env).
	Middlewares *env.Store
	// Deployments are the live weights of weighted services (canaries,
	// switches), kept across snapshots by service name.
	Deployments *deploy.Registry
	// Autoscale are the autoscalers of load balancers, kept across
	// snapshots by service name.
	Autoscale *autoscale.Registry

	keyOnce sync.Once
	key     []byte
	keyErr  error

	mu        sync.Mutex
	upstreams map[upstreamKey]*proxy.Upstream
	tls       map[tlsKey]*tls.Config
	tickets   *TicketKeys
}

// middlewares is the middlewares' store; a State built by hand gets one.
func (st *State) middlewares() *env.Store {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.Middlewares == nil {
		st.Middlewares = env.NewStore()
	}
	return st.Middlewares
}

// deployments is the rollouts' registry; a State built by hand gets one.
func (st *State) deployments() *deploy.Registry {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.Deployments == nil {
		st.Deployments = deploy.NewRegistry()
	}
	return st.Deployments
}

// autoscaling is the autoscalers' registry; a State built by hand gets one.
func (st *State) autoscaling() *autoscale.Registry {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.Autoscale == nil {
		st.Autoscale = autoscale.NewRegistry()
	}
	return st.Autoscale
}

// NewState returns empty lasting state.
func NewState() *State {
	return &State{Servers: pool.NewRegistry(), Middlewares: env.NewStore(), Deployments: deploy.NewRegistry(), Autoscale: autoscale.NewRegistry(), upstreams: map[upstreamKey]*proxy.Upstream{}, tls: map[tlsKey]*tls.Config{}}
}

// upstreamKey finds an upstream pool again: the same server of the same
// service, spoken to the same way.
type upstreamKey struct {
	server    string // pool.Key: service and URL
	transport transportKey
}

// upstreamBuild collects the upstreams and TLS client configs a compile uses.
type upstreamBuild struct {
	used    map[upstreamKey]*proxy.Upstream
	created []*proxy.Upstream
	tls     map[tlsKey]*tls.Config
}

func newUpstreamBuild() *upstreamBuild {
	return &upstreamBuild{used: map[upstreamKey]*proxy.Upstream{}, tls: map[tlsKey]*tls.Config{}}
}

func (st *State) upstream(b *upstreamBuild, key upstreamKey, u *url.URL, opts proxy.Options) (*proxy.Upstream, error) {
	if up, ok := b.used[key]; ok {
		return up, nil
	}
	st.mu.Lock()
	up, ok := st.upstreams[key]
	st.mu.Unlock()
	if !ok {
		var err error
		if up, err = proxy.NewUpstream(u, opts); err != nil {
			return nil, err
		}
		b.created = append(b.created, up)
	}
	b.used[key] = up
	return up, nil
}

// tlsConfig returns the TLS client config of key that a snapshot already
// uses, nil when none does.
func (st *State) tlsConfig(b *upstreamBuild, key tlsKey) *tls.Config {
	if tc := b.tls[key]; tc != nil {
		return tc
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if tc := st.tls[key]; tc != nil {
		b.tls[key] = tc
		return tc
	}
	return nil
}

func (st *State) commitUpstreams(b *upstreamBuild) {
	st.mu.Lock()
	old := st.upstreams
	st.upstreams = b.used
	st.tls = b.tls
	st.mu.Unlock()
	for k, up := range old {
		if _, ok := b.used[k]; !ok {
			up.CloseIdle()
		}
	}
}

// abortUpstreams forgets the upstreams a refused compile made. They carried no
// request, but CloseIdle makes sure they hold nothing.
func (st *State) abortUpstreams(b *upstreamBuild) {
	for _, up := range b.created {
		up.CloseIdle()
	}
}

// stickyKey returns the key that signs sticky cookies without a configured
// secret: read from DataDir/sticky.key, or made and written there (0600) once.
func (st *State) stickyKey() ([]byte, error) {
	st.keyOnce.Do(func() { st.key, st.keyErr = loadOrCreateKey(st.DataDir, "sticky.key") })
	return st.key, st.keyErr
}

func loadOrCreateKey(dir, name string) ([]byte, error) {
	fresh := make([]byte, 32)
	rand.Read(fresh)
	if dir == "" {
		return fresh, nil
	}
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if err == nil {
		key, derr := hex.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(key) < 16 {
			return nil, fmt.Errorf("key file %s is not a hex key of 16 bytes or more", path)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(fresh)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write key: %w", err)
	}
	return fresh, nil
}
