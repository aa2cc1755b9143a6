package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/observe"
)

// Manager runs every reload, whatever triggered it, one at a time: check,
// compile, prepare the holders, publish, commit (see the package doc). A
// config refused at any step is logged, counted and kept as the last error,
// and nothing changed: the old snapshot keeps serving.
//
// Set the fields before the first Apply or Reload; they are not changed after.
type Manager struct {
	Load    func() (*config.Config, error) // reads the whole configuration, for Reload
	Publish func(*Snapshot)                // makes a snapshot the running one (nil: none)
	Log     *slog.Logger
	State   *State
	// Metrics, when set, counts reloads by outcome and follows the expiry of
	// the running snapshot's certificates.
	Metrics *observe.Metrics
	// Events, when set, hears a "reload" event per reload, applied or refused.
	Events *observe.Bus
	// Holders are more holders of lasting state, prepared after the State's
	// (servers, upstream pools), the health checks and the metrics, in order.
	Holders []Holder

	mu      sync.Mutex // one reload at a time
	current *Snapshot
	// boot is the first config applied: its static half is the one in force
	// until a restart.
	boot         *config.Config
	staticChange bool
	lastErr      error
	lastGood     time.Time
	reloads      map[string]int
	certs        certExpiry
	staples      staples
}

// Status is the outcome of reloads so far.
type Status struct {
	LastError error
	LastGood  time.Time
	Reloads   map[string]int // by result: ok, error
	// StaticChange is set when the running config's static half (log,
	// entrypoints, admin...) differs from the one usher started with, which
	// only a restart applies.
	StaticChange bool
}

// Reload loads, checks and applies the configuration; trigger says why, for
// the log and the event ("file changed", "SIGHUP"). It returns the problems of
// a refused config (a config.Problems when it could be parsed).
func (m *Manager) Reload(ctx context.Context, trigger string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Log.Info("reloading configuration", "reason", trigger)
	cfg, err := m.Load()
	var c Checked
	if err == nil {
		c, err = Check(cfg)
	}
	if err != nil {
		return m.refuse(trigger, err)
	}
	return m.apply(ctx, c, trigger)
}

// Apply applies a checked configuration, as Reload does once it has one: at
// start, the config usher read to know what to listen on.
func (m *Manager) Apply(ctx context.Context, c Checked, trigger string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.apply(ctx, c, trigger)
}

func (m *Manager) apply(ctx context.Context, c Checked, trigger string) error {
	snap, pending, err := Compile(ctx, c, m.State)
	if err != nil {
		return m.refuse(trigger, err)
	}
	changes := []Change{pending}
	for _, h := range m.holders() {
		ch, err := h.Prepare(snap)
		if err != nil {
			for i := len(changes) - 1; i >= 0; i-- {
				changes[i].Abort()
			}
			return m.refuse(trigger, err)
		}
		changes = append(changes, ch)
	}
	if m.boot == nil {
		m.boot = snap.Config
	}
	m.staticChange = !config.StaticEqual(m.boot, snap.Config)
	if m.staticChange {
		m.Log.Warn("static configuration changed (log, accessLog, admin, tracing, entrypoints, providers, certResolvers, cluster, dataDir, redis): restart usher to apply it; the dynamic part is applied now")
	}
	if m.Publish != nil {
		m.Publish(snap)
	}
	for _, ch := range changes {
		ch.Commit()
	}
	for _, s := range pending.Removed() {
		m.Log.Info("server removed, draining", "server", s.Shown, "inflight", s.InFlight())
	}
	m.current = snap
	m.lastErr = nil
	m.lastGood = time.Now()
	m.count("ok")
	m.Log.Info("configuration applied", "routers", len(snap.Routers), "services", len(snap.Services))
	if m.Metrics != nil {
		m.Metrics.ReloadResult(true)
	}
	m.event(observe.Event{Time: time.Now(), Type: "reload", To: "applied", Reason: trigger})
	return nil
}

// holders are those of every reload, in the order they prepare and commit
// (after the State's Pending).
func (m *Manager) holders() []Holder {
	if m.staples.log == nil {
		log := m.Log
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		m.staples.log = log.With("component", "ocsp")
		m.staples.client = &http.Client{Timeout: 10 * time.Second}
	}
	hs := []Holder{&m.staples}
	if m.State.Health != nil {
		hs = append(hs, healthHolder{m.State.Health})
	}
	if m.Metrics != nil {
		if m.certs.set == nil {
			m.certs.set = m.Metrics.SetCertExpiry
		}
		hs = append(hs, &m.certs)
	}
	return append(hs, m.Holders...)
}

func (m *Manager) refuse(trigger string, err error) error {
	m.lastErr = err
	m.count("error")
	if m.current != nil {
		m.Log.Error("configuration refused, the running one keeps serving", "error", err.Error())
	}
	if m.Metrics != nil {
		m.Metrics.ReloadResult(false)
	}
	m.event(observe.Event{Time: time.Now(), Type: "reload", To: "refused", Reason: fmt.Sprintf("%s: %v", trigger, err)})
	return err
}

func (m *Manager) count(result string) {
	if m.reloads == nil {
		m.reloads = map[string]int{}
	}
	m.reloads[result]++
}

func (m *Manager) event(e observe.Event) {
	if m.Events != nil {
		m.Events.Publish(e)
	}
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
	return Status{LastError: m.lastErr, LastGood: m.lastGood, Reloads: r, StaticChange: m.staticChange}
}
