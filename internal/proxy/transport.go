//lint:file-ignore SA1019 x/net/http2 is deprecated for net/http's HTTP/2, which (Go 1.26) cannot serve a connection handed over with an h2c upgrade's settings, nor share one dial among concurrent first requests; revisit with Go 1.27

// Package proxy is usher's HTTP/1.1 upstream client and the forwarding of one
// request to one server: pooled keep-alive connections, streamed bodies in both
// directions, hop-by-hop headers, flushing of streams, protocol upgrades
// (WebSocket) and the errors a client sees when a server fails.
//
// Why not net/http.Transport: it runs two goroutines per connection and hands
// every request and response between them over channels, and it builds a fresh
// header map per response. On a 2-core box that is most of a proxy's CPU per
// request (see bench/RESULTS.md). Here one goroutine, the server's handler
// goroutine, writes the request and reads the response on a connection it owns
// for the exchange, and the parsed response headers land in a reused map. Only
// a request body over 16KiB, or of unknown length, gets a goroutine of its own
// to be written while the response is read, so that a server answering early
// (a 413 during an upload) is heard.
//
// A server is not trusted to frame its responses: a connection is reused only
// when nothing is left on it past the response (checked again, with one
// non-blocking peek, when it is taken from the pool); a body cut short is
// reported (IsTruncated) for the caller to abort the client's exchange; a
// request's own body failing is the client's error (BodyError), not the
// server's.
package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures how usher talks to servers: a load balancer's
// `transport`, whose defaults internal/config sets (ApplyDefaults), the one
// place that says what an absent key means; usher passes them whole. A zero
// field means none, as in package net: no dial (and TLS handshake) timeout,
// no response header timeout, idle connections kept until the server closes
// them, and with MaxIdleConnsPerHost 0 no idle connection kept at all.
type Options struct {
	DialTimeout           time.Duration
	ResponseHeaderTimeout time.Duration
	IdleConnTimeout       time.Duration
	MaxIdleConnsPerHost   int
	TLS                   *tls.Config // for https:// servers; nil = system roots
	// Protocol is what usher speaks to the server: ProtocolHTTP1 (also ""),
	// ProtocolH2 (https:// only), ProtocolH2C (http:// only) or
	// ProtocolAuto (ALPN over TLS; HTTP/1.1 in the clear).
	Protocol string
}

// Upstream is one server address with its pool of idle keep-alive connections.
// It is safe for concurrent use. An Upstream outlives config snapshots: the
// service compiler asks a Transport for it by URL, and gets the same one (with
// its warm connections) as long as the URL and options stay.
type Upstream struct {
	scheme string // http | https
	addr   string // host:port
	host   string // Host header when the client's is not passed
	prefix string // path prefix of the server URL, without trailing slash
	opts   Options
	dialer net.Dialer

	mu   sync.Mutex
	idle []*conn // most recently used last

	h2     *h2client    // HTTP/2, when Protocol asks for it
	auto   atomic.Int32 // Protocol auto: what the server chose (autoUnknown, autoH1, autoH2)
	autoMu sync.Mutex   // one auto question at a time
}

// NewUpstream returns an upstream for the server URL u.
func NewUpstream(u *url.URL, opts Options) (*Upstream, error) {
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("server url: scheme must be http or https")
	}
	if u.Host == "" {
		return nil, errors.New("server url: no host")
	}
	switch opts.Protocol {
	case "", ProtocolHTTP1, ProtocolAuto:
	case ProtocolH2:
		if u.Scheme != "https" {
			return nil, errors.New("protocol h2 is HTTP/2 over TLS: the server url must be https:// (h2c is HTTP/2 in the clear)")
		}
	case ProtocolH2C:
		if u.Scheme != "http" {
			return nil, errors.New("protocol h2c is HTTP/2 in the clear: the server url must be http:// (h2 is HTTP/2 over TLS)")
		}
	default:
		return nil, errors.New("protocol: not one of http1, h2, h2c, auto")
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	prefix := u.EscapedPath()
	for len(prefix) > 0 && prefix[len(prefix)-1] == '/' {
		prefix = prefix[:len(prefix)-1]
	}
	up := &Upstream{
		scheme: u.Scheme,
		addr:   net.JoinHostPort(u.Hostname(), port),
		host:   u.Host,
		prefix: prefix,
		opts:   opts,
	}
	up.dialer.Timeout = opts.DialTimeout
	up.dialer.KeepAlive = 30 * time.Second
	if up.scheme == "https" {
		tc := &tls.Config{}
		if opts.TLS != nil {
			tc = opts.TLS.Clone()
		}
		if tc.ServerName == "" {
			tc.ServerName = u.Hostname()
		}
		// HTTP/1.1 only: this client speaks nothing else (the HTTP/2 one
		// offers h2 on connections of its own).
		tc.NextProtos = []string{"http/1.1"}
		up.opts.TLS = tc
	}
	switch {
	case opts.Protocol == ProtocolH2C:
		up.h2 = newH2Client(up, true)
	case opts.Protocol == ProtocolH2, opts.Protocol == ProtocolAuto && up.scheme == "https":
		up.h2 = newH2Client(up, false)
	}
	return up, nil
}

// Addr is the server's host:port.
func (up *Upstream) Addr() string { return up.addr }

// conn is one connection to a server with its buffers.
type conn struct {
	nc       net.Conn
	raw      net.Conn // the TCP connection: nc, or the one under nc's TLS
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
	reused   bool      // served an exchange before this one
	deadline time.Time // read deadline in force on nc (zero: none)

	interned   [internSize]internEntry
	internNext int

	resp Response // the response of the exchange under way (see newResponse)
	body sendBody // the request body under way (see sendBody)
	peek idlePeek // looks at the socket before the connection is reused

	// The body writer of an exchange whose body is written by a goroutine of
	// its own (see exchange): its result, when it finished writing (unix
	// nanoseconds, 0 while it writes), and whether it stopped on the
	// client's body.
	wdone      chan error
	wroteAt    atomic.Int64
	bodyFailed atomic.Bool
}

const (
	readBufSize  = 16 << 10 // also the longest response header line accepted
	writeBufSize = 4 << 10
)

// get returns an idle connection, or dials a new one. An idle connection on
// which anything arrived while it was pooled (an unsolicited response, bytes
// a server sent past its last response, its close) is closed, never used: a
// server must not be able to answer a request it has not been sent yet.
func (up *Upstream) get(ctx context.Context) (*conn, error) {
	now := time.Now()
	for {
		up.mu.Lock()
		n := len(up.idle)
		if n == 0 {
			up.mu.Unlock()
			return up.dial(ctx)
		}
		c := up.idle[n-1]
		up.idle[n-1] = nil
		up.idle = up.idle[:n-1]
		up.mu.Unlock()
		if (up.opts.IdleConnTimeout > 0 && now.Sub(c.lastUsed) >= up.opts.IdleConnTimeout) || !c.idleQuiet(now) {
			c.nc.Close()
			continue
		}
		c.reused = true
		return c, nil
	}
}

// idleQuiet tells whether nothing came on a pooled connection while it was
// idle. It also puts a fresh watch deadline in force (see watch), which the
// check needs.
func (c *conn) idleQuiet(now time.Time) bool {
	c.watch(now)
	if c.br.Buffered() > 0 {
		return false
	}
	if c.raw != c.nc {
		// TLS may hold whole records it read from the socket but has not
		// returned yet: a read that cannot wait finds them.
		c.nc.SetReadDeadline(aLongTimeAgo)
		_, err := c.br.Peek(1)
		c.deadline = time.Time{}
		c.watch(now)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return false
		}
	}
	return c.peek.quiet(c.raw)
}

// aLongTimeAgo is a deadline that has passed: reads fail at once.
var aLongTimeAgo = time.Unix(1, 0)

func (up *Upstream) dial(ctx context.Context) (*conn, error) {
	nc, err := up.dialer.DialContext(ctx, "tcp", up.addr)
	if err != nil {
		return nil, err
	}
	raw := nc
	if up.scheme == "https" {
		tc := tls.Client(nc, up.opts.TLS)
		hctx, cancel := ctx, context.CancelFunc(func() {})
		if up.opts.DialTimeout > 0 {
			hctx, cancel = context.WithTimeout(ctx, up.opts.DialTimeout)
		}
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	c := &conn{
		nc:  nc,
		raw: raw,
		br:  bufio.NewReaderSize(nc, readBufSize),
		bw:  bufio.NewWriterSize(nc, writeBufSize),
	}
	return c, nil
}

// put returns a connection whose last exchange ended cleanly to the pool.
// Its lastUsed is when that exchange began: close enough for an idle timeout,
// and it saves reading the clock again.
func (up *Upstream) put(c *conn) {
	up.mu.Lock()
	if len(up.idle) < up.opts.MaxIdleConnsPerHost {
		up.idle = append(up.idle, c)
		up.mu.Unlock()
		return
	}
	up.mu.Unlock()
	c.nc.Close()
}

// CloseIdle closes every idle connection, for a server removed from the config.
func (up *Upstream) CloseIdle() {
	up.mu.Lock()
	idle := up.idle
	up.idle = nil
	up.mu.Unlock()
	for _, c := range idle {
		c.nc.Close()
	}
	if up.h2 != nil {
		up.h2.t.CloseIdleConnections()
	}
}

// IdleConns is the number of pooled idle connections (for tests and the admin API).
func (up *Upstream) IdleConns() int {
	up.mu.Lock()
	defer up.mu.Unlock()
	return len(up.idle)
}
