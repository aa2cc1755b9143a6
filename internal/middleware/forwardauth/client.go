package forwardauth

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usher-lb/usher/internal/clienttls"
	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
)

// probeEvery is how often, while the auth server cannot be reached (a
// connection to it could not be opened), one request tries again; the others
// get their 503 at once instead of each dialing, or waiting out the timeout
// on an address that drops packets.
var probeEvery = 500 * time.Millisecond // a variable for the tests

// logEvery bounds the warnings about a failing auth server: one, then at most
// one per logEvery with the count of failures not logged in between. Under
// load an auth server that is down must not flood the log.
const logEvery = time.Second

// epoch is where the monotonic times of this package count from.
var epoch = time.Now()

func monoNow() int64 { return int64(time.Since(epoch)) }

// client is a middleware's way to its auth server: a pool of at most
// maxConns connections (requests over it wait for one, within their
// timeout), and what it knows of the auth server being reachable. Kept
// across reloads while the address, TLS and pool settings stay the same.
type client struct {
	rt         *http.Transport
	tlsDigest  [sha256.Size]byte
	probeEvery time.Duration

	// downUntil is the monotonic time before which no request dials the
	// auth server again; 0 while it is reachable.
	downUntil atomic.Int64
	downWhy   atomic.Pointer[string]

	mu        sync.Mutex
	lastLog   time.Time
	notLogged int
}

// keepClient returns the client kept for middleware name with cfg's
// settings and server (the address's scheme://host), or a new one.
func keepClient(e *env.Env, name, server string, cfg *config.ForwardAuth, timeout time.Duration) (*client, error) {
	var tc *tls.Config
	var digest [sha256.Size]byte
	if cfg.TLS != nil {
		var err error
		if tc, digest, err = clienttls.Load(cfg.TLS); err != nil {
			return nil, fmt.Errorf("forwardAuth: %w", err)
		}
	} else {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	maxConns := cfg.MaxConns
	if maxConns == 0 {
		maxConns = config.ForwardAuthMaxConns
	}
	settings, _ := json.Marshal(struct {
		Server   string
		TLS      *config.ClientTLS
		Files    [sha256.Size]byte
		MaxConns int
		Timeout  time.Duration
	}{server, cfg.TLS, digest, maxConns, timeout})
	sum := sha256.Sum256(settings)
	return env.Keep(e, kind, name, "client "+hex.EncodeToString(sum[:]), func() (*client, func(), error) {
		c := &client{tlsDigest: digest, probeEvery: probeEvery, rt: &http.Transport{
			Proxy:                  nil, // never an environment's proxy
			DialContext:            (&net.Dialer{Timeout: dialTimeout(timeout), KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:        tc,
			TLSHandshakeTimeout:    timeout,
			MaxIdleConns:           maxConns,
			MaxIdleConnsPerHost:    maxConns,
			MaxConnsPerHost:        maxConns,
			IdleConnTimeout:        90 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
		}}
		return c, c.rt.CloseIdleConnections, nil
	})
}

// admit tells whether a request may ask the auth server now: always while
// it is reachable; while it is not, one request per probeEvery.
func (c *client) admit() bool {
	until := c.downUntil.Load()
	if until == 0 {
		return true
	}
	now := monoNow()
	return now >= until && c.downUntil.CompareAndSwap(until, now+int64(c.probeEvery))
}

// downErr is the reason a request was not let ask.
func (c *client) downErr() error {
	why := "unreachable"
	if p := c.downWhy.Load(); p != nil {
		why = *p
	}
	return fmt.Errorf("%s (not tried again for %v)", why, c.probeEvery)
}

// failed notes a failed exchange and returns what to log of it: one that
// could not open a connection makes the auth server unreachable for
// probeEvery.
func (c *client) failed(err error) error {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		return unwrapURL(err)
	}
	why := "unreachable: " + op.Err.Error()
	c.downWhy.Store(&why)
	c.downUntil.Store(monoNow() + int64(c.probeEvery))
	return errors.New(why)
}

// reached notes an answer: the auth server is reachable.
func (c *client) reached() {
	if c.downUntil.Load() != 0 {
		c.downUntil.Store(0)
	}
}

// report logs a failure, at most once per logEvery.
func (c *client) report(log *slog.Logger, address string, err error) {
	now := time.Now()
	c.mu.Lock()
	if !c.lastLog.IsZero() && now.Sub(c.lastLog) < logEvery {
		c.notLogged++
		c.mu.Unlock()
		return
	}
	n := c.notLogged
	c.notLogged, c.lastLog = 0, now
	c.mu.Unlock()
	log.Warn("authentication server failed; the request got 503", "address", address, "reason", err.Error(), "failuresNotLogged", n)
}

// dialTimeout bounds the opening of a connection to the auth server: half the
// timeout, at most 2s. Shorter than the timeout, so that an address that
// drops packets fails as unreachable (and is tried again only every
// probeEvery), not as one more request out of time.
func dialTimeout(timeout time.Duration) time.Duration {
	return min(timeout/2, 2*time.Second)
}
