package runtime

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/usher-lb/usher/internal/config"
)

// Manager turns configurations into running snapshots: each Reload loads,
// validates and compiles off to the side, and only a config that compiles is
// published; a bad one is refused, logged and kept as the last error while the
// old snapshot keeps serving.
type Manager struct {
	Load    func() (*config.Config, error) // reads the whole configuration
	Publish func(*Snapshot)                // makes a snapshot the running one
	Log     *slog.Logger
	State   *State
	// OnReload, when set, hears every reload's outcome (nil error: applied),
	// the first load included.
	OnReload func(snap *Snapshot, err error)

	mu       sync.Mutex // one reload at a time
	current  *Snapshot
	lastErr  error
	lastGood time.Time
	reloads  map[string]int
}

// Status is the outcome of reloads so far.
type Status struct {
	LastError    error
	LastGood     time.Time
	Reloads      map[string]int // by result: ok, error
	StaticChange bool
}

// Reload loads and applies the configuration. It returns the problems of a
// refused config (a config.Problems when it could be parsed).
func (m *Manager) Reload(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reloads == nil {
		m.reloads = map[string]int{}
	}
	cfg, err := m.Load()
	if err == nil {
		cfg.ApplyDefaults()
		if ps := config.Validate(cfg); len(ps) > 0 {
			err = ps
		}
	}
	var snap *Snapshot
	var pending *Pending
	if err == nil {
		snap, pending, err = Compile(ctx, cfg, m.State)
	}
	if err != nil {
		m.lastErr = err
		m.reloads["error"]++
		if m.OnReload != nil {
			m.OnReload(nil, err)
		}
		if m.current != nil {
			m.Log.Error("configuration refused, the running one keeps serving", "error", err.Error())
		}
		return err
	}
	if m.current != nil && !config.StaticEqual(m.current.Config, cfg) {
		m.Log.Warn("static configuration changed (log, accessLog, admin, tracing, entrypoints, providers, certResolvers, cluster, dataDir): restart usher to apply it; the dynamic part is applied now")
	}
	m.Publish(snap)
	removed := pending.Commit()
	for _, s := range removed {
		m.Log.Info("server removed, draining", "server", s.URL.String(), "inflight", s.InFlight())
	}
	m.current = snap
	m.lastErr = nil
	m.lastGood = time.Now()
	m.reloads["ok"]++
	m.Log.Info("configuration applied", "routers", len(snap.Routers), "services", len(snap.Services))
	if m.OnReload != nil {
		m.OnReload(snap, nil)
	}
	return nil
}

// Current returns the running snapshot.
func (m *Manager) Current() *Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.current
}

// Status returns the outcome of reloads so far.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := make(map[string]int, len(m.reloads))
	for k, v := range m.reloads {
		r[k] = v
	}
	return Status{LastError: m.lastErr, LastGood: m.lastGood, Reloads: r}
}
