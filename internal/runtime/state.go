package runtime

import (
	"net/url"
	"sync"

	"github.com/usher-lb/usher/internal/pool"
	"github.com/usher-lb/usher/internal/proxy"
)

// State is what outlives snapshots: servers with their counters and health, and
// upstreams with their warm connections, both found again by name on reload.
// It is owned by whoever compiles (one Manager) and is safe for concurrent use.
type State struct {
	Servers *pool.Registry

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
