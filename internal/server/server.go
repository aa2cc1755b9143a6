// Package server runs the entrypoints: listeners, TLS, HTTP/1.1 and HTTP/2,
// timeouts and limits, forwarded headers, and the routing of each request into
// the running snapshot; it swaps snapshots atomically and shuts down gracefully.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/h1"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/proxy"
	"github.com/usher-lb/usher/internal/runtime"
)

// Server serves every HTTP entrypoint from the current snapshot.
type Server struct {
	log      *slog.Logger
	snap     atomic.Pointer[runtime.Snapshot]
	eps      []*entrypoint
	observer atomic.Pointer[observe.Observer]
	metrics  *observe.Metrics
	tracer   *observe.Tracer
	certs    atomic.Pointer[CertSource]
}

// CertSource is where certificates obtained automatically come from (the
// certResolvers, internal/acme).
type CertSource interface {
	// HandleHTTPChallenge answers an ACME HTTP-01 challenge request, and
	// tells whether r was one; plain entrypoints ask it before routing.
	HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool
	// ConfigForClient returns the config of a handshake on an entrypoint,
	// from base, the running snapshot's, whose certificates (the tls
	// section's) static describes.
	ConfigForClient(entrypoint string, hello *tls.ClientHelloInfo, base *tls.Config, static interface {
		Covers(name string) bool
		HasCertificates() bool
	}) *tls.Config
}

// SetCertSource makes TLS entrypoints take certificates from c too, and
// plain ones answer its HTTP-01 challenges.
func (s *Server) SetCertSource(c CertSource) { s.certs.Store(&c) }

// Options are what a Server reports to; nil fields report nowhere.
type Options struct {
	Metrics *observe.Metrics // in-flight requests and connections per entrypoint
	Tracer  *observe.Tracer  // spans exported over OTLP; traceparent is passed on either way
}

// SetObserver makes o receive every finished request (nil: none).
func (s *Server) SetObserver(o observe.Observer) {
	if o == nil {
		s.observer.Store(nil)
		return
	}
	s.observer.Store(&o)
}

// httpServer is what serves an entrypoint's connections: usher's own
// HTTP/1.1 server for plain entrypoints, net/http's for TLS (its HTTP/2
// connections handed to Go's HTTP/2 server through h2guard, h2.go).
type httpServer interface {
	Shutdown(ctx context.Context) error
	Close() error
}

type entrypoint struct {
	name     string
	cfg      *config.Entrypoint
	srv      httpServer
	serve    func() error
	ln       net.Listener
	rt       *runtime.Entrypoint
	redirect string // scheme of redirectTo's entrypoint, "" when none
	rport    string // ":port" of redirectTo's entrypoint, "" for the scheme's default
	s        *Server
	grace    time.Duration
	conns    connSet // closed when the grace period ends; tunnels are not in it
	limits   *connLimiter
	altSvc   []string // Alt-Svc announcing HTTP/3 on HTTP/1.1 and HTTP/2 responses; nil without http3
}

// New listens on every HTTP entrypoint of the static config. Listening happens
// here, so that a busy port is an error at start, before anything is served.
func New(cfg *config.Config, log *slog.Logger, opts Options) (*Server, error) {
	s := &Server{log: log, metrics: opts.Metrics, tracer: opts.Tracer}
	names := make([]string, 0, len(cfg.Entrypoints))
	for n := range cfg.Entrypoints {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		ec := cfg.Entrypoints[name]
		if ec.Protocol != "" && ec.Protocol != "http" {
			continue
		}
		ep, err := s.newEntrypoint(name, ec, cfg)
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("entrypoint %s: %w", name, err)
		}
		s.eps = append(s.eps, ep)
	}
	for _, ep := range s.eps {
		if ep.rport == ":0" {
			_, port, _ := net.SplitHostPort(s.Addr(ep.cfg.RedirectTo))
			ep.rport = ":" + port
		}
	}
	return s, nil
}

func (s *Server) newEntrypoint(name string, ec *config.Entrypoint, cfg *config.Config) (*entrypoint, error) {
	rt, err := runtime.NewEntrypoint(name, ec, ec.Address)
	if err != nil {
		return nil, err
	}
	ep := &entrypoint{name: name, cfg: ec, rt: rt, s: s, grace: ec.GracePeriod.D()}
	if ec.RedirectTo != "" {
		to := cfg.Entrypoints[ec.RedirectTo]
		if to == nil {
			return nil, fmt.Errorf("redirectTo: no entrypoint %q", ec.RedirectTo)
		}
		_, port, _ := net.SplitHostPort(to.Address)
		scheme := "http"
		if to.TLS != nil {
			scheme = "https"
		}
		ep.redirect = scheme
		if !(scheme == "https" && port == "443") && !(scheme == "http" && port == "80") {
			ep.rport = ":" + port // port 0 is resolved once the target listens, in New
		}
	}
	var udp *net.UDPConn
	var raw net.Listener
	if ec.HTTP3 != nil && ec.TLS != nil {
		raw, udp, err = listenTCPAndUDP(ec.Address)
	} else {
		raw, err = net.Listen("tcp", ec.Address)
	}
	if err != nil {
		return nil, err
	}
	ep.limits = &connLimiter{plain: ec.TLS == nil, entrypoint: name, metrics: s.metrics, log: s.log}
	ep.limits.set(ec.MaxConnections, ec.MaxConnectionsPerIP)
	ln := &limitListener{Listener: raw, l: ep.limits}
	ep.ln = ln
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ep.rt.SetPort(port)
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	var connState func(net.Conn, http.ConnState)
	if s.metrics != nil {
		connState = s.metrics.ConnState(name)
	}
	connState = ep.conns.hook(connState)
	if ec.TLS == nil {
		// Plain HTTP/1.1: usher's lean server (see internal/h1 for why).
		hs := &h1.Server{
			Handler:           ep,
			ReadHeaderTimeout: ec.ReadHeaderTimeout.D(),
			ReadTimeout:       ec.ReadTimeout.D(),
			WriteTimeout:      ec.WriteTimeout.D(),
			IdleTimeout:       ec.IdleTimeout.D(),
			BodyIdleTimeout:   ec.BodyIdleTimeout.D(),
			MaxHeaderBytes:    int(ec.MaxHeaderBytes),
			ConnState:         connState,
			ErrorLog:          errLog,
		}
		ep.srv, ep.serve = hs, func() error { return hs.Serve(ln) }
		if ec.H2C {
			h2c, err := newH2C(hs, ep, bodyIdle(ep, ec.BodyIdleTimeout.D(), ec.ReadTimeout.D()))
			if err != nil {
				ln.Close()
				return nil, err
			}
			ep.srv = h2c
		}
		return ep, nil
	}
	// The config of a handshake: the TLS options chosen by SNI (those of
	// the router whose Host names it, else the entrypoint's) from the
	// running snapshot, so that a reload applies to the next handshake;
	// with the certificate source's (ACME) certificates when there is one.
	tlsConf := func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		snap := s.snap.Load()
		if snap == nil {
			return nil, errors.New("no configuration yet")
		}
		base := snap.TLS.ConfigFor(name, hello.ServerName)
		if cs := s.certs.Load(); cs != nil {
			return (*cs).ConfigForClient(name, hello, base, snap.TLS), nil
		}
		if !snap.TLS.HasCertificates() {
			return nil, errors.New("no certificate configured")
		}
		return base, nil
	}
	handler := bodyIdle(ep, ec.BodyIdleTimeout.D(), ec.ReadTimeout.D())
	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: ec.ReadHeaderTimeout.D(),
		ReadTimeout:       ec.ReadTimeout.D(),
		WriteTimeout:      ec.WriteTimeout.D(),
		IdleTimeout:       ec.IdleTimeout.D(),
		MaxHeaderBytes:    int(ec.MaxHeaderBytes),
		ConnState:         connState,
		ErrorLog:          errLog,
		TLSConfig: &tls.Config{
			NextProtos:         []string{"h2", "http/1.1"},
			GetConfigForClient: tlsConf,
		},
	}
	if err := serveTLSHTTP2(hs, ep); err != nil {
		ln.Close()
		return nil, err
	}
	ep.srv, ep.serve = hs, func() error { return hs.ServeTLS(ln, "", "") }
	if ec.HTTP3 != nil {
		h3, altSvc, err := newH3(ep, udp, hs, handler, tlsConf)
		if err != nil {
			ln.Close()
			return nil, err
		}
		tcp := ep.serve
		ep.srv, ep.serve, ep.altSvc = h3, func() error { return h3.serve(tcp) }, []string{altSvc}
	}
	return ep, nil
}

// Addr returns the address an entrypoint listens on (useful with port 0).
func (s *Server) Addr(name string) string {
	for _, ep := range s.eps {
		if ep.name == name {
			return ep.ln.Addr().String()
		}
	}
	return ""
}

// Entrypoints returns the entrypoints as routing sees them, on the ports they
// listen on, by name.
func (s *Server) Entrypoints() []*runtime.Entrypoint {
	out := make([]*runtime.Entrypoint, len(s.eps))
	for i, ep := range s.eps {
		out[i] = ep.rt
	}
	return out
}

// Swap makes snap the snapshot new requests are served from, and applies its
// entrypoints' connection limits (the one part of an entrypoint a reload
// changes).
func (s *Server) Swap(snap *runtime.Snapshot) {
	if snap != nil && snap.Config != nil {
		for _, ep := range s.eps {
			if ec := snap.Config.Entrypoints[ep.name]; ec != nil {
				ep.limits.set(ec.MaxConnections, ec.MaxConnectionsPerIP)
			}
		}
	}
	s.snap.Store(snap)
}

// Snapshot returns the running snapshot.
func (s *Server) Snapshot() *runtime.Snapshot { return s.snap.Load() }

// Serve serves until ctx ends, then shuts down gracefully: listeners close at
// once, in-flight requests get each entrypoint's grace period, then whatever is
// left (long polls, tunnels) is closed.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, len(s.eps))
	for _, ep := range s.eps {
		go func(ep *entrypoint) {
			err := ep.serve()
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}(ep)
		if ep.altSvc != nil {
			s.log.Info("entrypoint listening", "entrypoint", ep.name, "address", ep.ln.Addr().String(), "http3", true)
		} else {
			s.log.Info("entrypoint listening", "entrypoint", ep.name, "address", ep.ln.Addr().String())
		}
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil {
			s.shutdown()
			return err
		}
	}
	s.shutdown()
	return nil
}

// shutdown stops every entrypoint. Each closes its listener at once and gives
// its requests in flight its own grace period, then closes what is left of
// them. Tunnels (WebSockets and other upgrades, which the HTTP servers no
// longer see) get the longest grace period of all entrypoints, counted from
// the start of the shutdown as for requests, then are closed.
func (s *Server) shutdown() {
	start := time.Now()
	grace := time.Duration(0)
	for _, ep := range s.eps {
		grace = max(grace, ep.grace)
	}
	var wg sync.WaitGroup
	for _, ep := range s.eps {
		wg.Add(1)
		go func(ep *entrypoint) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), ep.grace)
			defer cancel()
			if err := ep.srv.Shutdown(ctx); err != nil {
				// Not ep.srv.Close: it would close the tunnels the server
				// still tracks (h1 does), before their grace is over.
				if n := ep.conns.closeAll(); n > 0 {
					s.log.Warn("grace period over, closing connections", "entrypoint", ep.name, "connections", n)
				}
			}
		}(ep)
	}
	wg.Wait()
	// The tunnels are watched rather than waited for (Tunnels.Wait): no
	// goroutine is left behind, and an upgrade that completes now cannot
	// meet a Wait in progress.
	deadline := start.Add(grace)
	for wait := time.Millisecond; proxy.DefaultTunnels.Len() > 0; wait = min(2*wait, 100*time.Millisecond) {
		left := time.Until(deadline)
		if left <= 0 {
			s.log.Warn("grace period over, closing tunnels", "tunnels", proxy.DefaultTunnels.Len())
			proxy.DefaultTunnels.CloseAll()
			break
		}
		time.Sleep(min(wait, left))
	}
	for _, ep := range s.eps {
		ep.srv.Close()
	}
}

func (s *Server) closeListeners() {
	for _, ep := range s.eps {
		ep.ln.Close()
		if h3, ok := ep.srv.(*h3Server); ok {
			h3.closeListeners()
		}
	}
}

var notFoundBody = []byte("Not Found\n")

var misdirectedBody = []byte("Misdirected Request: this host's TLS options differ from the connection's; open a new connection for it\n")

// misdirected answers 421: the request's host needs other TLS options (client
// certificates, versions) than those its connection was made with.
func misdirected(w http.ResponseWriter) {
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(http.StatusMisdirectedRequest)
	w.Write(misdirectedBody)
}

func (ep *entrypoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ep.cfg.TLS == nil {
		if cs := ep.s.certs.Load(); cs != nil && (*cs).HandleHTTPChallenge(w, r) {
			return
		}
	}
	if m := ep.s.metrics; m != nil {
		m.RequestStarted()
		defer m.RequestDone()
	}
	var gw *grpcWriter
	if isGRPC(r) {
		gw = &grpcWriter{ResponseWriter: w}
		w = gw
		var cancel context.CancelFunc
		r, cancel = withGRPCDeadline(r)
		defer cancel()
	}
	rw := observe.NewRecorder(w)
	rec := &rw.Rec
	rec.Start = time.Now()
	rec.Entrypoint = ep.name
	var p runtime.Peer
	if ep.redirect == "" {
		p = ep.rt.Clean(r) // before usher sets a field of its own
	}
	observe.EnsureRequestID(rw, r)
	rec.Trace = ep.s.tracer.StartTrace(r)
	if ep.redirect != "" {
		ep.redirectTo(rw, r)
	} else {
		ep.route(rw, r, rec, p)
	}
	rec.Duration = time.Since(rec.Start)
	if rec.Abort && gw != nil && !gw.wrote && errors.Is(context.Cause(r.Context()), errGRPCDeadline) {
		// The call's own deadline passed before the server answered: the
		// client gets DEADLINE_EXCEEDED, not a reset stream.
		gw.WriteHeader(http.StatusGatewayTimeout)
		rec.Abort, rec.Status = false, http.StatusGatewayTimeout
	}
	if o := ep.s.observer.Load(); o != nil {
		(*o).Observe(r, rec)
	}
	abort := rec.Abort
	rw.Release()
	if abort {
		// The response was cut short (or the client is gone): the server
		// closes the connection without the response's end, or resets the
		// HTTP/2 stream, so that the client never takes it for whole.
		panic(http.ErrAbortHandler)
	}
}

func (ep *entrypoint) route(w http.ResponseWriter, r *http.Request, rec *observe.Record, p runtime.Peer) {
	snap := ep.s.snap.Load()
	rt, client, err := snap.Route(ep.rt, r, p)
	rec.ClientIP = client
	if err != nil {
		badRequest(w, err)
		return
	}
	if rt == nil {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain; charset=utf-8"}
		h["X-Content-Type-Options"] = []string{"nosniff"}
		w.WriteHeader(http.StatusNotFound)
		w.Write(notFoundBody)
		return
	}
	rec.Router = rt.Name
	if snap.TLS.Misdirected(ep.name, r) {
		misdirected(w)
		return
	}
	if ep.altSvc != nil && r.ProtoMajor < 3 {
		// Only here, on a host routed on this entrypoint: a client is not
		// sent to HTTP/3 for a name usher does not serve there.
		w.Header()["Alt-Svc"] = ep.altSvc
	}
	body := countBody(r)
	rt.Handler.ServeHTTP(w, r)
	if body != nil {
		rec.BytesIn = body.n.Load()
	}
}

func (ep *entrypoint) redirectTo(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	w.Header().Set("Location", ep.redirect+"://"+host+ep.rport+r.URL.RequestURI())
	w.WriteHeader(http.StatusPermanentRedirect)
}
