package runtime

import (
	"crypto/rand"
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

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/service"

	"github.com/usher-lb/usher/internal/pool"
	"github.com/usher-lb/usher/internal/proxy"
)

// State is what outlives snapshots: servers with their counters and health, and
// upstreams with their warm connections, both found again by name on reload.
// It is owned by whoever compiles (one Manager) and is safe for concurrent use.
type State struct {
	Servers *pool.Registry
	// DataDir is where generated keys are kept ("" = not kept: a fresh key per process).
	DataDir string
	// Reporter, when set, gives each load balancer the passive health check that
	// hears its outcomes (nil: none).
	Reporter func(service string, lb *config.LoadBalancer) service.Reporter
	Log      *slog.Logger // where load balancers log why servers failed (debug); nil: nowhere

	keyOnce sync.Once
	key     []byte
	keyErr  error

	mu        sync.Mutex
	upstreams map[string]*proxy.Upstream // key: server key and transport fingerprint
}

// NewState returns empty lasting state.
func NewState() *State {
	return &State{Servers: pool.NewRegistry(), upstreams: map[string]*proxy.Upstream{}}
}

// upstreamBuild collects the upstreams a compile uses.
type upstreamBuild struct {
	used map[string]*proxy.Upstream
}

func (st *State) upstream(b *upstreamBuild, key string, u *url.URL, opts proxy.Options) (*proxy.Upstream, error) {
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
	}
	b.used[key] = up
	return up, nil
}

func (st *State) commitUpstreams(b *upstreamBuild) {
	st.mu.Lock()
	old := st.upstreams
	st.upstreams = b.used
	st.mu.Unlock()
	for k, up := range old {
		if _, ok := b.used[k]; !ok {
			up.CloseIdle()
		}
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
