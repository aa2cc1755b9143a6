package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/usher-lb/usher/internal/admin"
	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/health"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/provider/file"
	"github.com/usher-lb/usher/internal/runtime"
	"github.com/usher-lb/usher/internal/server"
)

// loadAll reads the config file and, when the file provider names a directory,
// the dynamic files in it, merged into one configuration.
func loadAll(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	dir := configDir(cfg, path)
	if dir == "" {
		return cfg, nil
	}
	extra, err := config.LoadDynamicDir(dir)
	if err != nil {
		return nil, err
	}
	return config.Merge(cfg, extra)
}

// configDir is the file provider's directory, relative to the config file's.
func configDir(cfg *config.Config, path string) string {
	if cfg.Providers == nil || cfg.Providers.File == nil || cfg.Providers.File.Directory == "" {
		return ""
	}
	dir := cfg.Providers.File.Directory
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(filepath.Dir(path), dir)
	}
	return dir
}

// dataDir is where usher keeps what it generates: the config's dataDir, relative
// to the config file, by default "data" beside it.
func dataDir(cfg *config.Config, path string) string {
	dir := cfg.DataDir
	if dir == "" {
		dir = "data"
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(filepath.Dir(path), dir)
	}
	return dir
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	format := "json"
	if cfg != nil && cfg.Log != nil {
		switch strings.ToLower(cfg.Log.Level) {
		case "debug":
			level = slog.LevelDebug
		case "warn":
			level = slog.LevelWarn
		case "error":
			level = slog.LevelError
		}
		if cfg.Log.Format != "" {
			format = cfg.Log.Format
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", "run -c FILE", stderr)
	path := fs.String("c", "usher.yaml", "config file (.yaml, .yml or .toml)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file until usher stops (for performance work)")
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "usher:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "usher:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, *path, stderr, nil)
}

// serve runs usher on the config at path until ctx ends. ready, when not nil,
// is called with the server once it listens and serves the first snapshot.
func serve(ctx context.Context, path string, stderr io.Writer, ready func(srv *server.Server, adminAddr string)) int {
	started := time.Now()
	cfg, err := loadAll(path)
	if err == nil {
		cfg.ApplyDefaults()
		if ps := config.Validate(cfg); len(ps) > 0 {
			err = ps
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "usher: %s is not valid:\n%v\n", path, err)
		return 1
	}
	log := newLogger(cfg, stderr)
	obs, err := newObservers(cfg)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return 1
	}
	defer obs.close(log)
	srv, err := server.New(cfg, log, server.Options{Metrics: obs.serverMetrics(cfg.Admin != nil), Tracer: obs.tracer})
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return 1
	}
	srv.SetObserver(obs.observer(cfg.Admin != nil))
	st := runtime.NewState()
	st.DataDir = dataDir(cfg, path)
	st.Log = log
	hm := health.NewManager(log, func(t health.Transition) {
		obs.bus.Publish(observe.Event{Time: t.Time, Type: "health", Service: t.Service, Server: t.Server, From: t.From, To: t.To, Reason: t.Reason})
	})
	defer hm.Stop()
	st.Reporter = hm.Reporter
	obs.metrics.SetServerSource(serverStates(st.Servers))
	mgr := &runtime.Manager{
		Load:    func() (*config.Config, error) { return loadAll(path) },
		Publish: srv.Swap,
		Log:     log,
		State:   st,
	}
	var certs map[string]time.Time // expiry of the certificates last applied
	reload := func(why string) error {
		err := mgr.Reload(ctx)
		if err == nil {
			snap := mgr.Current()
			hm.Sync(ctx, snap)
			now := snap.TLS.Expiry()
			for name := range certs {
				if _, ok := now[name]; !ok {
					obs.metrics.SetCertExpiry(name, time.Time{})
				}
			}
			for name, notAfter := range now {
				obs.metrics.SetCertExpiry(name, notAfter)
			}
			certs = now
		}
		obs.metrics.ReloadResult(err == nil)
		ev := observe.Event{Time: time.Now(), Type: "reload", To: "applied", Reason: why}
		if err != nil {
			ev.To, ev.Reason = "refused", why+": "+err.Error()
		}
		obs.bus.Publish(ev)
		return err
	}
	if err := reload("start"); err != nil {
		fmt.Fprintf(stderr, "usher: %v\n", err)
		return 1
	}
	adminAddr := ""
	if cfg.Admin != nil {
		stopAdmin, addr, err := startAdmin(ctx, cfg, log, admin.Deps{
			Snapshot:  srv.Snapshot,
			Status:    mgr.Status,
			Servers:   st.Servers,
			Stats:     obs.stats,
			Events:    obs.bus,
			Metrics:   obs.metrics.Handler(),
			Token:     cfg.Admin.Token,
			Dashboard: cfg.Admin.Dashboard,
			Version:   version,
			Started:   started,
			Log:       log,
		})
		if err != nil {
			log.Error("cannot start the admin API", "error", err.Error())
			return 1
		}
		defer stopAdmin()
		adminAddr = addr
	}
	onChange := func(why string) {
		log.Info("reloading configuration", "reason", why)
		reload(why)
	}
	if p := cfg.Providers; p != nil && p.File != nil && p.File.Watch {
		if err := file.Watch(ctx, path, configDir(cfg, path), log, func() { onChange("file changed") }); err != nil {
			log.Error("cannot watch configuration", "error", err.Error())
			return 1
		}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				onChange("SIGHUP")
			}
		}
	}()
	if ready != nil {
		ready(srv, adminAddr)
	}
	if err := srv.Serve(ctx); err != nil {
		log.Error("serving", "error", err.Error())
		return 1
	}
	log.Info("stopped")
	return 0
}

// startAdmin serves the admin API, /metrics and the dashboard until ctx ends;
// it returns a func that waits for it to stop, and the address it listens on.
func startAdmin(ctx context.Context, cfg *config.Config, log *slog.Logger, deps admin.Deps) (func(), string, error) {
	ln, err := net.Listen("tcp", cfg.Admin.Address)
	if err != nil {
		return nil, "", fmt.Errorf("admin: %w", err)
	}
	hs := &http.Server{
		Handler:           admin.New(deps),
		ReadHeaderTimeout: 10 * time.Second,
		// Event streams end with usher: Shutdown alone does not end them.
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		hs.Serve(ln)
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}()
	log.Info("admin listening", "address", ln.Addr().String(), "dashboard", cfg.Admin.Dashboard)
	return func() { <-done }, ln.Addr().String(), nil
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", "validate -c FILE", stderr)
	path := fs.String("c", "usher.yaml", "config file (.yaml, .yml or .toml)")
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	cfg, err := loadAll(*path)
	if err == nil {
		cfg.ApplyDefaults()
		if ps := config.Validate(cfg); len(ps) > 0 {
			err = ps
		} else if _, _, cerr := runtime.Compile(context.Background(), cfg, runtime.NewState()); cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: valid\n", *path)
	return 0
}

func cmdSchema(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("schema", "schema", stderr)
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	b, err := config.Schema()
	if err != nil {
		fmt.Fprintln(stderr, "usher:", err)
		return 1
	}
	stdout.Write(b)
	fmt.Fprintln(stdout)
	return 0
}
