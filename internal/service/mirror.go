package service

import (
	"bytes"
	"context"
	"hash/maphash"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/proxy"
)

// MirrorTarget is one service that gets copies of a share of the requests.
type MirrorTarget struct {
	Name    string
	Handler Handler
	Percent int // 0..100
	count   atomic.Uint64
	cmp     *targetCompare // with Compare
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
// responses are discarded, or, with Compare, compared with the main one and
// then discarded. Copies go out on goroutines of their own, bounded in
// number: when a mirror is slow and the bound is reached, copies are dropped
// rather than making the main request wait. A request whose body is larger than
// MaxBody (or of unknown length) is not copied: mirroring must not hold a large
// upload in memory.
type Mirror struct {
	name    string // of the main service
	self    string // of the mirror service
	main    Handler
	mirrors []*MirrorTarget
	maxBody int64
	sem     chan struct{}
	dropped atomic.Uint64
	cmp     *Compare
	seed    maphash.Seed // of the bodies' hashes
	logs    logLimit
}

// MirrorOptions are the optional parts of a mirror service.
type MirrorOptions struct {
	// Name is the mirror service's own name, for the comparisons' counters
	// and log lines.
	Name string
	// MaxBody is the largest request body copied.
	MaxBody int64
	// Compare, when set, compares each copy's response with the main one.
	Compare *Compare
}

// mirrorTimeout bounds a copy's life; the client of the main request may be long gone.
const mirrorTimeout = 30 * time.Second

// maxMirrorsInFlight bounds the copies under way for one mirror service.
const maxMirrorsInFlight = 512

// NewMirror returns a mirror service whose main service, name, is main.
func NewMirror(name string, main Handler, mirrors []*MirrorTarget, maxBody int64) *Mirror {
	return NewMirrorWith(name, main, mirrors, MirrorOptions{MaxBody: maxBody})
}

// NewMirrorWith returns a mirror service whose main service, name, is main.
func NewMirrorWith(name string, main Handler, mirrors []*MirrorTarget, o MirrorOptions) *Mirror {
	m := &Mirror{name: name, self: o.Name, main: main, mirrors: mirrors, maxBody: o.MaxBody, sem: make(chan struct{}, maxMirrorsInFlight), cmp: o.Compare}
	if m.cmp != nil {
		m.seed = maphash.MakeSeed()
		for _, t := range mirrors {
			t.cmp = m.cmp.counters(t.Name)
		}
	}
	return m
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
	var main *seen
	var shadows []*shadow
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
		if m.cmp == nil {
			go func(h Handler) {
				defer func() { <-m.sem }()
				defer cancel()
				h.ServeHTTP(&discard{h: http.Header{}}, cp)
			}(t.Handler)
			continue
		}
		if main == nil {
			main = m.newSeen()
		}
		sh := &shadow{m: m, t: t, main: main, method: r.Method, path: clipPath(r.URL.Path)}
		sh.mirror.sum.SetSeed(m.seed)
		sh.left.Store(2)
		shadows = append(shadows, sh)
		go func(h Handler) {
			defer func() { <-m.sem }()
			defer cancel()
			sink := &mirrorSink{h: http.Header{}, cmp: m.cmp, seen: &sh.mirror}
			h.ServeHTTP(sink, cp)
			sh.mirror.end(m.cmp, sink.h, ctx.Err() == nil)
			sh.done()
		}(t.Handler)
	}
	if main == nil {
		m.main.ServeHTTP(w, r)
		return
	}
	tee := &mainTee{ResponseWriter: w, cmp: m.cmp, seen: main}
	m.main.ServeHTTP(tee, r)
	main.end(m.cmp, w.Header(), ended(r.Context(), observe.From(w)))
	for _, sh := range shadows {
		sh.done()
	}
}

func (m *Mirror) newSeen() *seen {
	s := &seen{}
	s.sum.SetSeed(m.seed)
	return s
}

// discard is the ResponseWriter of a mirrored copy.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}
