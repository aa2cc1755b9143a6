package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/health"
	"github.com/usher-lb/usher/internal/middleware/cache"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/pool"
)

// observers are where usher reports what it does: metrics, live stats for the
// dashboard, the event bus, the access log and traces. Their lives are the
// process's; close flushes what is buffered.
type observers struct {
	metrics   *observe.Metrics
	stats     *observe.Stats
	bus       *observe.Bus
	accessLog *observe.AccessLog // nil when off
	tracer    *observe.Tracer    // nil when off
}

func newObservers(cfg *config.Config) (*observers, error) {
	o := &observers{metrics: observe.NewMetrics(), stats: observe.NewStats(), bus: observe.NewBus(200)}
	o.metrics.Registry().MustRegister(cache.Collector())
	if al := cfg.AccessLog; al != nil {
		a, err := observe.NewAccessLog(al.Path, al.Format)
		if err != nil {
			return nil, err
		}
		o.accessLog = a
		o.metrics.WatchAccessLog(a)
	}
	if tc := cfg.Tracing; tc != nil {
		ratio := 1.0
		if tc.SampleRatio != nil {
			ratio = *tc.SampleRatio
		}
		t, err := observe.NewTracer(observe.TracerConfig{Endpoint: tc.OTLPEndpoint, ServiceName: tc.ServiceName, SampleRatio: ratio})
		if err != nil {
			o.accessLog.Close()
			return nil, err
		}
		o.tracer = t
	}
	return o, nil
}

// observer is what the server reports each finished request to. Metrics and
// live stats are read only through the admin address: without an admin
// section nobody can see them, and requests do not pay for them.
func (o *observers) observer(adminOn bool) observe.Observer {
	var obs []observe.Observer
	if adminOn {
		obs = append(obs, o.metrics, o.stats)
	}
	if o.accessLog != nil {
		obs = append(obs, o.accessLog)
	}
	if o.tracer != nil {
		obs = append(obs, o.tracer)
	}
	if len(obs) == 0 {
		return nil
	}
	return observe.Tee(obs...)
}

// serverMetrics is the metrics the server itself feeds (in-flight requests,
// connections), nil when nobody can read them.
func (o *observers) serverMetrics(adminOn bool) *observe.Metrics {
	if !adminOn {
		return nil
	}
	return o.metrics
}

// reopenOnSIGUSR1 reopens the access log file on each SIGUSR1 until ctx
// ends: logrotate renames the file, then signals usher, which goes on in a
// new file of the old name. The signal is taken even without an access log,
// so that it never kills usher.
func (o *observers) reopenOnSIGUSR1(ctx context.Context, log *slog.Logger) {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		defer signal.Stop(usr1)
		for {
			select {
			case <-ctx.Done():
				return
			case <-usr1:
				if o.accessLog == nil {
					continue
				}
				if err := o.accessLog.Reopen(); err != nil {
					log.Error("cannot reopen the access log, still writing to the old file", "error", err.Error())
					continue
				}
				log.Info("access log reopened")
			}
		}
	}()
}

func (o *observers) close(log *slog.Logger) {
	if err := o.accessLog.Close(); err != nil {
		log.Warn("closing the access log", "error", err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := o.tracer.Shutdown(ctx); err != nil {
		log.Warn("flushing traces", "error", err.Error())
	}
}

// healthEvent puts a health transition on the event bus.
func (o *observers) healthEvent(t health.Transition) {
	o.bus.Publish(observe.Event{Time: t.Time, Type: "health", Service: t.Service, Server: t.Server, From: t.From, To: t.To, Reason: t.Reason})
}

// serverStates reads every server's state for the metrics, at scrape time.
func serverStates(reg *pool.Registry) func() []observe.ServerState {
	return func() []observe.ServerState {
		all := reg.All()
		out := make([]observe.ServerState, 0, len(all))
		for _, s := range all {
			svc, u, _ := strings.Cut(s.Key, "|")
			_, probeLatency, _ := s.Probe()
			out = append(out, observe.ServerState{
				Service:      svc,
				URL:          u,
				Healthy:      s.Healthy(),
				Ejected:      s.Ejected(),
				Draining:     s.Draining() || s.AgentDraining(),
				InFlight:     s.InFlight(),
				Requests:     s.Requests(),
				Failures:     s.Failures(),
				Ejections:    s.Ejections(),
				Retries:      s.Retries(),
				ProbeLatency: probeLatency,
			})
		}
		return out
	}
}
