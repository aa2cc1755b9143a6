package runtime

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"os"
	"time"

	"github.com/usher-lb/usher/internal/clienttls"
	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/proxy"
)

// transportKey is a load balancer's transport by value: comparable, so that it
// finds the same upstream pools again from one snapshot to the next.
type transportKey struct {
	dial, responseHeader, idle time.Duration
	maxIdle                    int
	tls                        tlsKey
	protocol                   string
}

// tlsKey is a transport.tls by value, with a digest of what its files held:
// the same settings and files give the same TLS client config (and keep the
// pools and probers that use it); a rotated certificate or CA gives a new one.
type tlsKey struct {
	on    bool
	cfg   config.ClientTLS
	files [sha256.Size]byte
}

// transport compiles how a load balancer talks to its servers: the options
// of its upstreams, and their key. t has its defaults applied.
func (c *compiler) transport(path string, t *config.Transport) (proxy.Options, transportKey, bool) {
	if t == nil {
		t = &config.Transport{}
	}
	tc, tk, ok := c.clientTLS(path+".tls", t.TLS)
	opts := proxy.Options{
		DialTimeout:           t.DialTimeout.D(),
		ResponseHeaderTimeout: t.ResponseHeaderTimeout.D(),
		IdleConnTimeout:       t.IdleConnTimeout.D(),
		MaxIdleConnsPerHost:   t.MaxIdleConnsPerHost,
		TLS:                   tc,
		Protocol:              t.Protocol,
	}
	key := transportKey{
		dial:           opts.DialTimeout,
		responseHeader: opts.ResponseHeaderTimeout,
		idle:           opts.IdleConnTimeout,
		maxIdle:        opts.MaxIdleConnsPerHost,
		tls:            tk,
		protocol:       t.Protocol,
	}
	return opts, key, ok
}

// clientTLS returns the TLS client config of a transport.tls (nil for none:
// the system roots and each server's name): the one config of usher's
// requests to the servers (internal/proxy) and of their health probes
// (internal/health). A snapshot that has the same settings and files as a
// running one gets the running one's *tls.Config.
func (c *compiler) clientTLS(path string, ct *config.ClientTLS) (*tls.Config, tlsKey, bool) {
	if ct == nil {
		return nil, tlsKey{}, true
	}
	if ct.InsecureSkipVerify && c.st.Log != nil {
		// Said at every load: it is a choice to be reminded of, not a default.
		c.st.Log.Warn("insecureSkipVerify: the servers' certificates are not verified, so anyone on the path can pose as them", "key", path+".insecureSkipVerify")
	}
	files := map[string][]byte{}
	ok := true
	digest := sha256.New()
	for _, f := range []struct{ key, name string }{{"ca", ct.CA}, {"cert", ct.Cert}, {"key", ct.Key}} {
		var b []byte
		if f.name != "" {
			var err error
			if b, err = os.ReadFile(f.name); err != nil {
				c.problem(path+"."+f.key, "%v", err)
				ok = false
			}
		}
		files[f.key] = b
		binary.Write(digest, binary.BigEndian, uint64(len(b)))
		digest.Write(b)
	}
	if !ok {
		return nil, tlsKey{}, false
	}
	key := tlsKey{on: true, cfg: *ct}
	digest.Sum(key.files[:0])
	if tc := c.st.tlsConfig(c.ups, key); tc != nil {
		return tc, key, true
	}
	tc, field, err := clienttls.Build(ct, files["ca"], files["cert"], files["key"])
	if err != nil {
		c.problem(path+field, "%v", err)
		return nil, tlsKey{}, false
	}
	c.ups.tls[key] = tc
	return tc, key, true
}
