//lint:file-ignore SA1019 x/net/http2 is deprecated for net/http's HTTP/2, which (Go 1.26) cannot serve a connection that is not a *tls.Conn (the guard's), nor one handed over with an h2c upgrade's settings; revisit with Go 1.27

package server

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"

	"golang.org/x/net/http2"

	"github.com/usher-lb/usher/internal/h2guard"
)

// newHTTP2 is the HTTP/2 server of an entrypoint, TLS or h2c. Every
// connection it serves goes through h2guard (see guard), which needs the
// server to advertise the RFC's initial frame size.
func newHTTP2(ep *entrypoint) *http2.Server {
	return &http2.Server{
		IdleTimeout:                  ep.cfg.IdleTimeout.D(),
		MaxUploadBufferPerConnection: 1 << 20,
		MaxReadFrameSize:             h2guard.MaxFrameSize,
	}
}

// guard puts h2guard between an HTTP/2 connection and the server: the RFC
// 9113 rules Go's server misses, and the rapid-reset and CONTINUATION flood
// bounds; a connection closed for a flood is logged.
func (ep *entrypoint) guard(c net.Conn, upgraded bool) net.Conn {
	mh := int(ep.cfg.MaxHeaderBytes)
	return h2guard.Wrap(c, h2guard.Options{
		Upgraded:        upgraded,
		MaxStringLength: max(mh, http.DefaultMaxHeaderBytes),
		OnFlood: func(c net.Conn, reason string) {
			ep.s.log.Warn("HTTP/2 connection closed", "entrypoint", ep.name, "remote", c.RemoteAddr().String(), "reason", reason)
		},
	})
}

// serveTLSHTTP2 makes hs serve the connections that choose h2 by ALPN with
// h2 through the guard. It registers h2 on hs's Shutdown (a GOAWAY to each
// connection) as net/http's own HTTP/2 does.
func serveTLSHTTP2(hs *http.Server, ep *entrypoint) error {
	h2 := newHTTP2(ep)
	if err := http2.ConfigureServer(hs, h2); err != nil {
		return err
	}
	hs.TLSNextProto["h2"] = func(hs *http.Server, c *tls.Conn, h http.Handler) {
		// net/http hands its per-connection context down on h, as it does
		// to its own HTTP/2.
		var ctx context.Context
		if bc, ok := h.(interface{ BaseContext() context.Context }); ok {
			ctx = bc.BaseContext()
		}
		h2.ServeConn(ep.guard(c, false), &http2.ServeConnOpts{Context: ctx, Handler: h, BaseConfig: hs})
	}
	return nil
}
