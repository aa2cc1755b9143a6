package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/usher-lb/usher/internal/acme"
	"github.com/usher-lb/usher/internal/admin"
	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/health"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/provider/docker"
	"github.com/usher-lb/usher/internal/provider/file"
	"github.com/usher-lb/usher/internal/redisconn"
	"github.com/usher-lb/usher/internal/runtime"
	"github.com/usher-lb/usher/internal/server"
)

// loadAll reads the config file and, when the file provider names a directory,
// the dynamic files in it, merged into one configuration, with every problem
// of them all.
func loadAll(path string) (*config.Config, error) { return config.LoadAll(path) }

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

// challengeEntrypoint is the entrypoint where ACME challenges are answered
// (a plain one for HTTP-01, a TLS one for TLS-ALPN-01): the one on the port
// the CA asks on (80, 443), else the first by name; "" when there is none.
// Every plain entrypoint answers HTTP-01 and every TLS one TLS-ALPN-01: this
// is only the one certmagic is told of.
func challengeEntrypoint(cfg *config.Config, withTLS bool) string {
	want := "80"
	if withTLS {
		want = "443"
	}
	first := ""
	for _, name := range slices.Sorted(maps.Keys(cfg.Entrypoints)) {
		ep := cfg.Entrypoints[name]
		if ep == nil || (ep.Protocol != "" && ep.Protocol != "http") || (ep.TLS != nil) != withTLS {
			continue
		}
		if _, port, err := net.SplitHostPort(ep.Address); err == nil && port == want {
			return name
		}
		if first == "" {
			first = name
		}
	}
	return first
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

// serve runs usher on the config at path until ctx ends or something fails.
// ready, when not nil, is called with the server once it listens and serves
// the first snapshot; an error from it stops usher as any failure would.
// Every way out stops what was started, the admin API included.
func serve(ctx context.Context, path string, stderr io.Writer, ready func(srv *server.Server, adminAddr string) error) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	started := time.Now()
	cfg, err := loadAll(path)
	if err != nil {
		fmt.Fprintf(stderr, "usher: %s is not valid:\n%v\n", path, err)
		return 1
	}
	log := newLogger(cfg, stderr)
	// The Docker provider reads the containers before the first snapshot,
	// so that usher starts with their routes; the config is read again with
	// them, since a file's router may use a container's service.
	load := func() (*config.Config, error) { return loadAll(path) }
	var dp *docker.Provider
	if p := cfg.Providers; p != nil && p.Docker != nil {
		if dp, err = docker.New(p.Docker, log); err != nil {
			log.Error("cannot start", "error", err.Error())
			return 1
		}
		dp.Connect(ctx)
		load = func() (*config.Config, error) { return config.LoadAllWith(path, dp.Merge) }
		if cfg, err = load(); err != nil {
			fmt.Fprintf(stderr, "usher: %s is not valid with the containers' labels:\n%v\n", path, err)
			return 1
		}
	}
	var checked runtime.Checked
	if checked, err = runtime.Check(cfg); err != nil {
		fmt.Fprintf(stderr, "usher: %s is not valid:\n%v\n", path, err)
		return 1
	}
	obs, err := newObservers(cfg)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return 1
	}
	defer obs.close(log)
	obs.reopenOnSIGUSR1(ctx, log)
	adminOn := cfg.Admin != nil
	srv, err := server.New(cfg, log, server.Options{Metrics: obs.serverMetrics(adminOn), Tracer: obs.tracer})
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return 1
	}
	srv.SetObserver(obs.observer(adminOn))
	publish := srv.Swap
	var certs *acme.Manager
	if len(cfg.CertResolvers) > 0 {
		certs, err = acme.New(cfg, acme.Options{
			Log:       log,
			DataDir:   dataDir(cfg, path),
			ConfigDir: filepath.Dir(path),
			HTTPAddr:  srv.Addr(challengeEntrypoint(cfg, false)),
			TLSAddr:   srv.Addr(challengeEntrypoint(cfg, true)),
			Metrics:   obs.metrics.ACME(),
		})
		if err != nil {
			log.Error("cannot start", "error", err.Error())
			return 1
		}
		defer certs.Close()
		srv.SetCertSource(certs)
		obs.metrics.ACME().SetCertSource(func() []observe.ACMECert {
			var out []observe.ACMECert
			for _, c := range certs.Status() {
				if c.Serving == "acme" {
					out = append(out, observe.ACMECert{Resolver: c.CertResolver, Name: c.Name, NotAfter: c.NotAfter, RenewAt: c.RenewAt})
				}
			}
			return out
		})
		publish = func(snap *runtime.Snapshot) {
			srv.Swap(snap)
			if snap != nil {
				certs.Sync(snap.Config)
			}
		}
	}
	hm := health.NewManager(log, obs.healthEvent)
	defer hm.Stop()
	st := runtime.NewState()
	st.DataDir = dataDir(cfg, path)
	st.Health = hm
	st.Log = log
	st.Metrics = obs.serverMetrics(adminOn)
	defer st.Middlewares.Close()
	st.Deployments.Events = obs.bus
	st.Deployments.Log = log
	defer st.Deployments.Close()
	st.Autoscale.Log = log
	st.Autoscale.Events = obs.bus
	st.Autoscale.Metrics = obs.serverMetrics(adminOn)
	if dp != nil {
		st.Autoscale.Containers = dp.Fit
	}
	defer st.Autoscale.Close()
	if cfg.Redis != nil {
		rc, err := redisconn.Open(cfg.Redis)
		if err != nil {
			log.Error("cannot start", "error", err.Error())
			return 1
		}
		defer rc.Close()
		if err := redisconn.Check(ctx, rc); err != nil {
			// Not fatal: each store: redis decides by its onStoreError.
			log.Warn("redis does not answer yet", "error", err.Error())
		}
		st.Redis = rc
	}
	obs.metrics.SetServerSource(serverStates(st.Servers))
	mgr := &runtime.Manager{
		Load:    load,
		Publish: publish,
		Log:     log,
		State:   st,
		Metrics: obs.metrics,
		Events:  obs.bus,
	}
	// An actuator that changed a service's servers asks for a snapshot
	// with them; set before the first Apply starts the scalers.
	st.Autoscale.Reload = func(reason string) { mgr.Reload(ctx, reason) }
	if err := mgr.Apply(ctx, checked, "start"); err != nil {
		fmt.Fprintf(stderr, "usher: %v\n", err)
		return 1
	}
	adminAddr := ""
	if adminOn {
		stopAdmin, addr, err := startAdmin(ctx, cfg, log, admin.Deps{
			Snapshot:  srv.Snapshot,
			Status:    mgr.Status,
			Servers:   st.Servers,
			Stats:     obs.stats,
			Events:    obs.bus,
			Metrics:   obs.metrics.Handler(),
			Decisions: obs.metrics.DecisionCounts,
			Certificates: func() any {
				if certs == nil {
					return []acme.Certificate{}
				}
				return certs.Status()
			},
			CertsFor:    certsFor(certs),
			Deployments: st.Deployments,
			Autoscale:   st.Autoscale,
			Entrypoints: srv.Entrypoints,
			Token:       cfg.Admin.Token,
			Dashboard:   cfg.Admin.Dashboard,
			Version:     version,
			Started:     started,
			Log:         log,
		})
		if err != nil {
			log.Error("cannot start the admin API", "error", err.Error())
			return 1
		}
		defer stopAdmin()
		adminAddr = addr
	}
	if dp != nil {
		dp.Watch(ctx, func() { mgr.Reload(ctx, "docker containers changed") })
		defer dp.Wait()
		defer cancel() // runs before Wait: the provider stops with ctx
	}
	if p := cfg.Providers; p != nil && p.File != nil && p.File.Watch {
		if err := file.Watch(ctx, path, configDir(cfg, path), log, func() { mgr.Reload(ctx, "file changed") }); err != nil {
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
				mgr.Reload(ctx, "SIGHUP")
			}
		}
	}()
	if ready != nil {
		if err := ready(srv, adminAddr); err != nil {
			log.Error("cannot start", "error", err.Error())
			return 1
		}
	}
	if err := srv.Serve(ctx); err != nil {
		log.Error("serving", "error", err.Error())
		return 1
	}
	log.Info("stopped")
	return 0
}

// certsFor is what the running certResolvers serve a host, for the admin
// API; nil without certResolvers.
func certsFor(certs *acme.Manager) admin.CertLookup {
	if certs == nil {
		return nil
	}
	return certs.ForHost
}

// startAdmin serves the admin API, /metrics and the dashboard until ctx ends
// or the func it returns is called, which stops it (event streams included)
// and waits; it returns the address it listens on too.
func startAdmin(ctx context.Context, cfg *config.Config, log *slog.Logger, deps admin.Deps) (func(), string, error) {
	ln, err := net.Listen("tcp", cfg.Admin.Address)
	if err != nil {
		return nil, "", fmt.Errorf("admin: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	hs := &http.Server{
		Handler:           admin.New(deps),
		ReadHeaderTimeout: 10 * time.Second,
		// Event streams end with ctx: Shutdown alone does not end them.
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		hs.Serve(ln)
	}()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer scancel()
		if hs.Shutdown(sctx) != nil {
			hs.Close()
		}
	}()
	log.Info("admin listening", "address", ln.Addr().String(), "dashboard", cfg.Admin.Dashboard)
	return func() {
		cancel()
		<-stopped
		<-served
	}, ln.Addr().String(), nil
}

// cmdValidate checks a config as usher run does at start and on reload: the
// same check and compile, with fresh state, nothing applied.
func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", "validate -c FILE", stderr)
	path := fs.String("c", "usher.yaml", "config file (.yaml, .yml or .toml)")
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if _, err := compileFile(*path); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: valid\n", *path)
	return 0
}

// compileFile loads, checks and compiles the config at path with fresh state,
// changing nothing: what usher validate and usher explain see.
func compileFile(path string) (*runtime.Snapshot, error) {
	cfg, err := loadAll(path)
	if err != nil {
		return nil, err
	}
	if p := cfg.Providers; p != nil && p.Docker != nil {
		// With the running containers, as usher run would serve them: the
		// files may use their services; their problems are warnings.
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		dp, err := docker.New(p.Docker, log)
		if err != nil {
			return nil, err
		}
		dp.Connect(context.Background())
		dp.Close()
		if cfg, err = config.LoadAllWith(path, dp.Merge); err != nil {
			return nil, err
		}
	}
	checked, err := runtime.Check(cfg)
	if err != nil {
		return nil, err
	}
	st := runtime.NewState()
	if cfg.Redis != nil {
		// The middlewares whose store is redis are built on the client,
		// which dials only when used: validate and explain never reach Redis.
		rc, err := redisconn.Open(cfg.Redis)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		st.Redis = rc
	}
	snap, pending, err := runtime.Compile(context.Background(), checked, st)
	if err != nil {
		return nil, err
	}
	pending.Abort()
	return snap, nil
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
