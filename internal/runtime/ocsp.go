package runtime

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ocsp"
)

// staples keeps an OCSP response stapled to each certificate of the tls
// section whose certificate names a responder (its AIA OCSP URL), as
// certmagic does for the certificates of certResolvers: a client then
// learns the certificate's status in the handshake, without asking the CA.
// It takes part in reloads as a Holder: a certificate that stays (by its
// DER) keeps its response and its refresh; a new one is asked for when its
// snapshot is committed; one that leaves stops being refreshed.
//
// A response is asked for again halfway between its thisUpdate and
// nextUpdate, and after a failure with backoff (1 minute doubling to an
// hour), the last good response stapled meanwhile until its nextUpdate. A
// response that says Revoked is stapled too (it is the truth, and clients
// refuse the certificate) and logged as an error; Unknown is not stapled.
type staples struct {
	log    *slog.Logger
	client *http.Client

	mu      sync.Mutex
	entries map[[32]byte]*staple
}

// staple is one certificate's OCSP state, shared by the certEntries of
// every snapshot that has the certificate.
type staple struct {
	base     tls.Certificate
	leaf     *x509.Certificate
	issuer   *x509.Certificate // nil when certFile holds no issuer: nothing is asked
	certFile string
	cur      atomic.Pointer[tls.Certificate] // base with the response, nil without one
	stop     chan struct{}
	started  bool
}

// serving is the certificate a handshake gets: with its OCSP response
// once there is one.
func (c *certEntry) serving() *tls.Certificate {
	if s := c.staple; s != nil {
		if cur := s.cur.Load(); cur != nil {
			return cur
		}
	}
	return &c.cert
}

func (st *staples) Prepare(next *Snapshot) (Change, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.entries == nil {
		st.entries = map[[32]byte]*staple{}
	}
	ch := &stapleChange{st: st, keep: map[[32]byte]*staple{}}
	if next.TLS == nil {
		return ch, nil
	}
	for _, c := range next.TLS.certs {
		if len(c.leaf.OCSPServer) == 0 {
			continue
		}
		key := sha256.Sum256(c.leaf.Raw)
		s := st.entries[key]
		if s == nil {
			s = ch.keep[key]
		}
		if s == nil {
			s = &staple{base: c.cert, leaf: c.leaf, certFile: c.certFile, stop: make(chan struct{})}
			if len(c.cert.Certificate) > 1 {
				s.issuer, _ = x509.ParseCertificate(c.cert.Certificate[1])
			}
		}
		c.staple = s
		ch.keep[key] = s
	}
	return ch, nil
}

type stapleChange struct {
	st   *staples
	keep map[[32]byte]*staple
}

func (ch *stapleChange) Commit() {
	st := ch.st
	st.mu.Lock()
	defer st.mu.Unlock()
	for key, s := range st.entries {
		if ch.keep[key] == nil {
			close(s.stop)
		}
	}
	st.entries = ch.keep
	for _, s := range st.entries {
		if !s.started {
			s.started = true
			go st.run(s)
		}
	}
}

func (ch *stapleChange) Abort() {}

// run keeps s's response fresh until s leaves the configuration.
func (st *staples) run(s *staple) {
	log := st.log.With("certFile", s.certFile, "responder", s.leaf.OCSPServer[0])
	if s.issuer == nil {
		log.Warn("the certificate names an OCSP responder but its file holds no issuer certificate: no OCSP response is stapled (put the chain after the certificate in certFile)")
		return
	}
	backoff := time.Minute
	var last ocsp.Response
	for {
		resp, raw, err := st.fetch(s)
		var wait time.Duration
		switch {
		case err != nil:
			wait, backoff = backoff, min(2*backoff, time.Hour)
			if cur := s.cur.Load(); cur != nil && !last.NextUpdate.IsZero() && time.Now().After(last.NextUpdate) {
				s.cur.Store(nil) // stale: a client would refuse it
			}
			log.Warn("cannot get the certificate's OCSP response; retrying", "error", err.Error(), "retryIn", wait.String())
		case resp.Status == ocsp.Unknown:
			wait, backoff = backoff, min(2*backoff, time.Hour)
			log.Warn("the OCSP responder does not know the certificate: nothing stapled; retrying", "retryIn", wait.String())
		default:
			backoff = time.Minute
			cp := s.base
			cp.OCSPStaple = raw
			s.cur.Store(&cp)
			if resp.Status == ocsp.Revoked {
				if last.Status != ocsp.Revoked || last.SerialNumber == nil {
					log.Error("the certificate is revoked, says its OCSP responder: clients refuse it; replace it",
						"revokedAt", resp.RevokedAt, "reason", resp.RevocationReason)
				}
			} else if last.SerialNumber == nil || last.Status != resp.Status {
				log.Info("OCSP response stapled", "status", "good", "nextUpdate", resp.NextUpdate)
			}
			last = *resp
			wait = time.Hour
			if !resp.NextUpdate.IsZero() {
				wait = resp.NextUpdate.Sub(resp.ThisUpdate) / 2
				wait = max(time.Until(resp.ThisUpdate.Add(wait)), time.Minute)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// fetch asks s's responder (by POST, as RFC 6960 allows for any size) and
// checks the answer is for s's certificate, signed by its issuer or a
// responder the issuer delegated to.
func (st *staples) fetch(s *staple) (*ocsp.Response, []byte, error) {
	req, err := ocsp.CreateRequest(s.leaf, s.issuer, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("OCSP request: %w", err)
	}
	hr, err := http.NewRequest(http.MethodPost, s.leaf.OCSPServer[0], bytes.NewReader(req))
	if err != nil {
		return nil, nil, fmt.Errorf("OCSP responder URL: %w", err)
	}
	hr.Header.Set("Content-Type", "application/ocsp-request")
	hr.Header.Set("Accept", "application/ocsp-response")
	resp, err := st.client.Do(hr)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("OCSP responder answered %s", resp.Status)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("OCSP response: %w", err)
	}
	parsed, err := ocsp.ParseResponseForCert(raw, s.leaf, s.issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("OCSP response: %w", err)
	}
	if !parsed.NextUpdate.IsZero() && time.Now().After(parsed.NextUpdate) {
		return nil, nil, errors.New("OCSP response: already past its nextUpdate")
	}
	return parsed, raw, nil
}
