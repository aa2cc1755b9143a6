//lint:file-ignore SA1019 x/net/http2 is deprecated for net/http's HTTP/2, which (Go 1.26) cannot serve a connection handed over with an h2c upgrade's settings, nor share one dial among concurrent first requests; revisit with Go 1.27

package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"

	"golang.org/x/net/http2"

	"github.com/usher-lb/usher/internal/h1"
	"github.com/usher-lb/usher/internal/h2guard"
)

// h2cServer serves a plain entrypoint with `h2c: true`: usher's HTTP/1.1
// server takes every connection, and hands those that speak HTTP/2 in the
// clear (the preface first, or an `Upgrade: h2c`) to Go's HTTP/2 server,
// the one TLS entrypoints use, through the same guard (h2.go).
type h2cServer struct {
	*h1.Server
	base *http.Server // the HTTP/2 server's settings, and its graceful shutdown
	h2   *http2.Server
	ep   *entrypoint

	mu    sync.Mutex
	conns map[net.Conn]struct{} // served by h2
	wg    sync.WaitGroup
}

func newH2C(hs *h1.Server, ep *entrypoint, handler http.Handler) (*h2cServer, error) {
	ec := ep.cfg
	s := &h2cServer{
		Server: hs,
		base: &http.Server{
			Handler:      handler,
			ReadTimeout:  ec.ReadTimeout.D(),
			WriteTimeout: ec.WriteTimeout.D(),
			IdleTimeout:  ec.IdleTimeout.D(),
			ErrorLog:     hs.ErrorLog,
		},
		h2:    newHTTP2(ep),
		ep:    ep,
		conns: map[net.Conn]struct{}{},
	}
	if mh := int(ec.MaxHeaderBytes); mh > 0 {
		s.base.MaxHeaderBytes = mh
	}
	// Registers the HTTP/2 server on base's Shutdown: it sends each
	// connection a GOAWAY and lets its streams finish.
	if err := http2.ConfigureServer(s.base, s.h2); err != nil {
		return nil, err
	}
	hs.H2C = s.serveConn
	return s, nil
}

// serveConn serves one h2c connection until it ends.
func (s *h2cServer) serveConn(c net.Conn, upgrade *http.Request, settings []byte) {
	s.mu.Lock()
	if s.conns == nil { // closed
		s.mu.Unlock()
		c.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	defer s.ep.s.metrics.ConnHandedOff(s.ep.name)()
	s.h2.ServeConn(s.ep.guard(c, upgrade != nil), &http2.ServeConnOpts{
		Context:        context.Background(),
		BaseConfig:     s.base,
		Handler:        s.base.Handler,
		UpgradeRequest: upgrade,
		Settings:       h2guard.DedupSettings(settings),
	})
	c.Close()
}

// Shutdown stops the HTTP/1.1 side as h1 does, and asks every HTTP/2
// connection to end (GOAWAY) after its streams; it returns when all are
// done, or with ctx's error, when it closes those left.
func (s *h2cServer) Shutdown(ctx context.Context) error {
	err := s.Server.Shutdown(ctx)
	_ = s.base.Shutdown(ctx) // no listener of its own: this only starts the GOAWAYs
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return err
	case <-ctx.Done():
		s.closeConns()
		return errors.Join(err, ctx.Err())
	}
}

// Close closes every connection at once.
func (s *h2cServer) Close() error {
	err := s.Server.Close()
	s.closeConns()
	return err
}

func (s *h2cServer) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}
