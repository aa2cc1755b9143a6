package runtime

import (
	"errors"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/health"
)

// Checked is a configuration ready to compile: its defaults applied and
// validated. Only Check makes one, so that a compile never reads a value the
// defaults did not decide, and validation runs once per config.
type Checked struct{ cfg *config.Config }

// Check applies the defaults of cfg (in place) and validates it: every
// problem, each with its file:line, as a config.Problems.
func Check(cfg *config.Config) (Checked, error) {
	if cfg == nil {
		return Checked{}, errors.New("no configuration")
	}
	cfg.ApplyDefaults()
	if ps := config.Validate(cfg); len(ps) > 0 {
		return Checked{}, ps
	}
	return Checked{cfg: cfg}, nil
}

// Config is the checked configuration.
func (c Checked) Config() *config.Config { return c.cfg }

// Holder is anything that keeps state across snapshots and takes part in
// each reload (see the package doc for the order of things). Prepare readies
// the holder's share of next, a compiled snapshot about to be published,
// without changing anything that runs; an error refuses the whole config. The
// Manager runs one reload at a time, so a holder has at most one Change
// outstanding.
type Holder interface {
	Prepare(next *Snapshot) (Change, error)
}

// Change is a holder's share of one reload, readied off to the side. Exactly
// one of its methods is called, once: Commit after the snapshot is published,
// which applies it and cannot fail, or Abort when the reload is refused, which
// leaves the holder as it was.
type Change interface {
	Commit()
	Abort()
}

// healthHolder brings the health checks into reloads: their specs are
// compiled into the snapshot, the manager starts and stops probers.
type healthHolder struct{ m *health.Manager }

func (h healthHolder) Prepare(next *Snapshot) (Change, error) {
	p, err := h.m.Prepare(next.Health)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// certExpiry keeps the certificate expiry metrics those of the running
// snapshot: one gauge per certificate, gone with the certificate.
type certExpiry struct {
	set  func(name string, notAfter time.Time) // a zero time deletes
	last map[string]time.Time
}

func (c *certExpiry) Prepare(next *Snapshot) (Change, error) {
	return &certChange{c: c, now: next.TLS.Expiry()}, nil
}

type certChange struct {
	c   *certExpiry
	now map[string]time.Time
}

func (ch *certChange) Commit() {
	for name := range ch.c.last {
		if _, ok := ch.now[name]; !ok {
			ch.c.set(name, time.Time{})
		}
	}
	for name, notAfter := range ch.now {
		ch.c.set(name, notAfter)
	}
	ch.c.last = ch.now
}

func (ch *certChange) Abort() {}
