package service

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/usher-lb/usher/internal/proxy"
)

// MirrorTarget is one service that gets copies of a share of the requests.
type MirrorTarget struct {
	Name    string
	Handler Handler
	Percent int // 0..100
	count   atomic.Uint64
}

// sample tells whether this request is one of the Percent in a hundred, spread
// evenly: exactly Percent of every 100 consecutive requests.
func (m *MirrorTarget) sample() bool {
	if m.Percent >= 100 {
		return true
	}
	c := m.count.Add(1)
	return c*uint64(m.Percent)/100 != (c-1)*uint64(m.Percent)/100
}

// Mirror serves every request from Main and sends copies to its mirrors, whose
// responses are discarded. Copies go out on goroutines of their own, bounded in
// number: when a mirror is slow and the bound is reached, copies are dropped
// rather than making the main request wait. A request whose body is larger than
// MaxBody (or of unknown length) is not copied: mirroring must not hold a large
// upload in memory.
type Mirror struct {
	name    string // of the main service
	main    Handler
	mirrors []*MirrorTarget
	maxBody int64
	sem     chan struct{}
	dropped atomic.Uint64
}

// mirrorTimeout bounds a copy's life; the client of the main request may be long gone.
const mirrorTimeout = 30 * time.Second

// maxMirrorsInFlight bounds the copies under way for one mirror service.
const maxMirrorsInFlight = 512

// NewMirror returns a mirror service whose main service, name, is main.
func NewMirror(name string, main Handler, mirrors []*MirrorTarget, maxBody int64) *Mirror {
	return &Mirror{name: name, main: main, mirrors: mirrors, maxBody: maxBody, sem: make(chan struct{}, maxMirrorsInFlight)}
}

// Available tells whether the main service can serve.
func (m *Mirror) Available() bool { return m.main.Available() }

// Dropped is the number of copies not sent because too many were under way.
func (m *Mirror) Dropped() uint64 { return m.dropped.Load() }

func (m *Mirror) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var chosen []*MirrorTarget
	for _, t := range m.mirrors {
		if t.sample() {
			chosen = append(chosen, t)
		}
	}
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	if len(chosen) == 0 || proxy.IsUpgrade(r) || (hasBody && (r.ContentLength < 0 || r.ContentLength > m.maxBody)) {
		m.main.ServeHTTP(w, r)
		return
	}
	var body []byte
	if hasBody {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, m.maxBody+1))
		r.Body.Close()
		if err != nil || int64(len(body)) != r.ContentLength {
			proxy.PlainError(w, http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	for _, t := range chosen {
		select {
		case m.sem <- struct{}{}:
		default:
			m.dropped.Add(1)
			continue
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), mirrorTimeout)
		cp := r.Clone(ctx)
		if hasBody {
			cp.Body = io.NopCloser(bytes.NewReader(body))
		}
		go func(h Handler) {
			defer func() { <-m.sem }()
			defer cancel()
			h.ServeHTTP(&discard{h: http.Header{}}, cp)
		}(t.Handler)
	}
	m.main.ServeHTTP(w, r)
}

// discard is the ResponseWriter of a mirrored copy.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}
