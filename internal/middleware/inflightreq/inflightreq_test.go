package inflightreq

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/observe"
)

// gate is a handler whose requests wait until released.
type gate struct {
	in      chan struct{}
	release chan struct{}
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Nowait") != "" {
		w.Write([]byte("ok"))
		return
	}
	g.in <- struct{}{}
	<-g.release
	if r.Header.Get("X-Panic") != "" {
		panic(http.ErrAbortHandler)
	}
	w.Write([]byte("ok"))
}

func build(t *testing.T, next http.Handler, cfg *config.InFlightReq, c env.Config, b *env.Build) *handler {
	t.Helper()
	h, err := New(env.With(context.Background(), env.New(c, b)), next, cfg, "conc")
	if err != nil {
		t.Fatal(err)
	}
	return h.(*handler)
}

func req(remote string, hdr ...string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return r
}

// TestFullGets429: amount requests of a key in progress, the next gets
// 429; other keys pass; when one ends, there is room again; requests that
// end in a panic release their place too.
func TestFullGets429(t *testing.T) {
	m := observe.NewMetrics()
	g := &gate{in: make(chan struct{}), release: make(chan struct{})}
	h := build(t, g, &config.InFlightReq{Amount: 2}, env.Config{Metrics: m}, nil)
	var wg sync.WaitGroup
	start := func(hdr ...string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { recover() }() // the panicking request's
			h.ServeHTTP(httptest.NewRecorder(), req("192.0.2.1:1", hdr...))
		}()
		<-g.in
	}
	start()
	start("X-Panic", "1")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req("192.0.2.1:2"))
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("third request in flight: %d %v, want 429 with Retry-After", w.Code, w.Header())
	}
	// Another client is not counted with the first.
	if w := httptest.NewRecorder(); func() int { h.ServeHTTP(w, req("192.0.2.2:1", "X-Nowait", "1")); return w.Code }() != 200 {
		t.Fatal("another client got no room")
	}
	g.release <- struct{}{}
	g.release <- struct{}{}
	wg.Wait()
	if n := h.counts.inFlight([]byte("i\xc0\x00\x02\x01")); n != 0 {
		t.Fatalf("%d still counted after every request ended (one by a panic)", n)
	}
	for range 2 {
		start()
	}
	close(g.release)
	wg.Wait()
	if got := testutil.ToFloat64(m.Decision("inFlightReq", "conc", "deny").Counter()); got != 1 {
		t.Errorf("%v limited counted, want 1", got)
	}
	if got := testutil.ToFloat64(m.Decision("inFlightReq", "conc", "allow").Counter()); got != 5 {
		t.Errorf("%v allowed counted, want 5", got)
	}
}

// TestCountsKeptAcrossReloads: a request in flight on the old
// configuration counts against the new one of the same name.
func TestCountsKeptAcrossReloads(t *testing.T) {
	st := env.NewStore()
	g := &gate{in: make(chan struct{}), release: make(chan struct{})}
	b1 := st.Begin()
	old := build(t, g, &config.InFlightReq{Amount: 1, Key: "header:X-User"}, env.Config{}, b1)
	b1.Commit()
	done := make(chan struct{})
	go func() {
		old.ServeHTTP(httptest.NewRecorder(), req("192.0.2.1:1", "X-User", "alice"))
		close(done)
	}()
	<-g.in
	b2 := st.Begin()
	cur := build(t, g, &config.InFlightReq{Amount: 1, Key: "header:X-User"}, env.Config{}, b2)
	b2.Commit()
	w := httptest.NewRecorder()
	cur.ServeHTTP(w, req("192.0.2.9:1", "X-User", "alice"))
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("alice's second request, on the new config: %d, want 429", w.Code)
	}
	close(g.release)
	<-done
	w = httptest.NewRecorder()
	cur.ServeHTTP(w, req("192.0.2.9:1", "X-User", "alice", "X-Nowait", "1"))
	if w.Code != 200 {
		t.Fatalf("after the old request ended: %d", w.Code)
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []*config.InFlightReq{{Amount: 0}, {Amount: 1, Key: "cookie:x"}, {Amount: 1, IPv6Subnet: 129}} {
		if _, err := New(context.Background(), http.NotFoundHandler(), c, "x"); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
