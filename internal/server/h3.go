package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// altSvcMaxAge is how long (seconds) a client may remember that HTTP/3 is
// offered: a day, so that turning http3 off is forgotten by the next day
// (clients fall back to TCP at once when QUIC fails anyway).
const altSvcMaxAge = 86400

// h3Server serves a TLS entrypoint with `http3`: net/http's server on TCP
// (HTTP/1.1 and HTTP/2) and quic-go's HTTP/3 server on a UDP socket of the
// same port, both with the entrypoint's handler and its snapshot's
// certificates.
type h3Server struct {
	tcp   *http.Server
	h3    *http3.Server
	udp   *net.UDPConn
	tr    *quic.Transport
	ln    *quic.EarlyListener
	close sync.Once
}

// listenTCPAndUDP listens on addr over TCP, and over UDP on the same host
// and port, at start: a busy UDP port is an error then, not later. With
// port 0 the UDP twin of the free TCP port the kernel picked may be taken:
// another pair is tried.
func listenTCPAndUDP(addr string) (net.Listener, *net.UDPConn, error) {
	host, port, _ := net.SplitHostPort(addr)
	for try := 0; ; try++ {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		_, p, _ := net.SplitHostPort(ln.Addr().String())
		ua, err := net.ResolveUDPAddr("udp", net.JoinHostPort(host, p))
		if err != nil {
			ln.Close()
			return nil, nil, fmt.Errorf("http3: %w", err)
		}
		udp, err := net.ListenUDP("udp", ua)
		if err == nil {
			return ln, udp, nil
		}
		ln.Close()
		if port != "0" || try == 9 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("http3: %w", err)
		}
	}
}

// newH3 makes the QUIC listener of ep on udp, the UDP twin of its TCP
// listener, and its HTTP/3 server.
func newH3(ep *entrypoint, udp *net.UDPConn, tcp *http.Server, handler http.Handler, tlsConf func(*tls.ClientHelloInfo) (*tls.Config, error)) (*h3Server, string, error) {
	ec, o := ep.cfg, ep.cfg.HTTP3
	_, port, _ := net.SplitHostPort(ep.ln.Addr().String())
	quietQUICBufferWarning()
	tr := &quic.Transport{Conn: udp}
	// The h3 variant of the snapshot's config is made once per config (a
	// reload makes a new one), not on every handshake.
	var cache atomic.Pointer[[2]*tls.Config]
	base := &tls.Config{
		NextProtos: []string{http3.NextProtoH3},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			c, err := tlsConf(hello)
			if err != nil {
				return nil, err
			}
			if p := cache.Load(); p != nil && p[0] == c {
				return p[1], nil
			}
			h := http3.ConfigureTLSConfig(c)
			cache.Store(&[2]*tls.Config{c, h})
			return h, nil
		},
	}
	ln, err := tr.ListenEarly(base, &quic.Config{Allow0RTT: o.ZeroRTT})
	if err != nil {
		tr.Close()
		udp.Close()
		return nil, "", fmt.Errorf("http3: %w", err)
	}
	warnUDPBuffers(ep.s.log, ep.name, udp)
	// QUIC connections count in the entrypoint's connection metrics as
	// TCP ones do (not in maxConnections: see docs/CONFIG.md).
	var connState func(net.Conn, http.ConnState)
	if ep.s.metrics != nil {
		connState = ep.s.metrics.ConnState(ep.name)
	}
	h := handler
	if o.ZeroRTT {
		h = earlyData(handler)
	}
	s := &h3Server{
		tcp: tcp,
		h3: &http3.Server{
			Handler:        h,
			IdleTimeout:    ec.IdleTimeout.D(),
			MaxHeaderBytes: int(ec.MaxHeaderBytes),
			Logger:         ep.s.log.With("entrypoint", ep.name),
			ConnContext: func(ctx context.Context, c *quic.Conn) context.Context {
				if connState != nil {
					connState(nil, http.StateNew)
					context.AfterFunc(c.Context(), func() { connState(nil, http.StateClosed) })
				}
				return context.WithValue(ctx, quicConnKey{}, c)
			},
		},
		udp: udp,
		tr:  tr,
		ln:  ln,
	}
	adv := port
	if o.AdvertisedPort > 0 {
		adv = strconv.Itoa(o.AdvertisedPort)
	}
	return s, fmt.Sprintf(`%s=":%s"; ma=%d`, http3.NextProtoH3, adv, altSvcMaxAge), nil
}

// serve serves TCP on ln and QUIC until both stop; the first failure of
// either ends it.
func (s *h3Server) serve(tcp func() error) error {
	errc := make(chan error, 2)
	go func() { errc <- s.h3.ServeListener(s.ln) }()
	go func() { errc <- tcp() }()
	err := <-errc
	if errors.Is(err, http.ErrServerClosed) {
		err = <-errc
	}
	return err
}

// Shutdown stops both at once: TCP connections end after their requests,
// QUIC connections get a GOAWAY and end after theirs; with ctx's end, what
// is left of QUIC is closed (TCP's is closed by the caller).
func (s *h3Server) Shutdown(ctx context.Context) error {
	h3err := make(chan error, 1)
	go func() { h3err <- s.h3.Shutdown(ctx) }()
	err := s.tcp.Shutdown(ctx)
	err = errors.Join(err, <-h3err)
	s.closeUDP()
	return err
}

// Close closes every connection at once.
func (s *h3Server) Close() error {
	err := errors.Join(s.tcp.Close(), s.h3.Close())
	s.closeUDP()
	return err
}

func (s *h3Server) closeUDP() {
	s.close.Do(func() {
		s.ln.Close()
		s.tr.Close() // closes the QUIC connections left, then the socket
		s.udp.Close()
	})
}

// closeListeners closes the sockets of a server that never served.
func (s *h3Server) closeListeners() { s.closeUDP() }

type quicConnKey struct{}

// earlyData marks requests that came in 0-RTT early data, before the
// handshake was complete, with Early-Data: 1 (RFC 8470, section 5.1): an
// attacker can replay them, and a server that must not act twice answers
// 425 Too Early, which tells the client to send it again after the
// handshake.
func earlyData(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(quicConnKey{}).(*quic.Conn); ok {
			select {
			case <-c.HandshakeComplete():
			default:
				r.Header["Early-Data"] = []string{"1"}
			}
		}
		h.ServeHTTP(w, r)
	})
}

var (
	quietOnce sync.Once
	userQuiet bool // the user turned the warning off, for quic-go and so for usher
)

// quietQUICBufferWarning turns off quic-go's own warning about small UDP
// buffers, printed with the standard log package (a line of plain text in
// a JSON log): warnUDPBuffers says it in usher's log, with the fix. A
// variable set by the user is left as it is, and obeyed by usher too.
func quietQUICBufferWarning() {
	quietOnce.Do(func() {
		const k = "QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING"
		if v, set := os.LookupEnv(k); set {
			userQuiet, _ = strconv.ParseBool(v)
			return
		}
		os.Setenv(k, "true")
	})
}

// wantUDPBuffer is the socket buffer size quic-go asks the kernel for (and
// checks, as here, after asking): 7 MiB, so that a burst of packets at high
// bandwidth is not dropped while the connection's goroutine is busy.
const wantUDPBuffer = 7 << 20

var udpWarnOnce sync.Once

// warnUDPBuffers warns, once per process, when the kernel gave the socket
// smaller buffers than quic-go asked for, with the sysctl that fixes it.
func warnUDPBuffers(log *slog.Logger, entrypoint string, c *net.UDPConn) {
	rcv, snd, err := udpBuffers(c)
	if userQuiet || err != nil || (rcv >= wantUDPBuffer && snd >= wantUDPBuffer) {
		return
	}
	udpWarnOnce.Do(func() {
		log.Warn("UDP socket buffers are smaller than HTTP/3 needs: fast transfers will lose packets and slow down; raise the kernel's limits with: sysctl -w net.core.rmem_max=7500000 net.core.wmem_max=7500000 (and put them in /etc/sysctl.d/ to keep them)",
			"entrypoint", entrypoint, "receiveBufferKiB", rcv>>10, "sendBufferKiB", snd>>10, "wantKiB", wantUDPBuffer>>10)
	})
}
