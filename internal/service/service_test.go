package service

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fixed struct {
	name  string
	avail bool
	hits  atomic.Int32
}

func (f *fixed) Available() bool { return f.avail }
func (f *fixed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.hits.Add(1)
	io.WriteString(w, f.name)
}

func TestWeightedIsSmoothAndSkipsUnavailableArms(t *testing.T) {
	a, b, c := &fixed{name: "a", avail: true}, &fixed{name: "b", avail: true}, &fixed{name: "c", avail: true}
	ws, err := NewWeighted("shop", []Arm{{"a", a, 5}, {"b", b, 1}, {"c", c, 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var seq strings.Builder
	for i := 0; i < 7; i++ {
		seq.WriteString(ws.arms[ws.Pick()].Name)
	}
	if got := seq.String(); got != "aabacaa" {
		t.Fatalf("one round of 5:1:1 = %s, want aabacaa (no burst of five)", got)
	}
	b.avail = false
	for i := 0; i < 70; i++ {
		if ws.arms[ws.Pick()].Name == "b" {
			t.Fatal("picked an arm with no available server")
		}
	}
	if _, err := NewWeighted("x", []Arm{{"a", a, 0}}, nil); err == nil {
		t.Fatal("all-zero weights accepted")
	}
}

func TestWeightedStickyPinsAnArm(t *testing.T) {
	a, b := &fixed{name: "a", avail: true}, &fixed{name: "b", avail: true}
	ws, _ := NewWeighted("shop", []Arm{{"blue", a, 1}, {"green", b, 1}}, &Sticky{Name: "v", Path: "/", Key: []byte("0123456789abcdef")})
	rec := httptest.NewRecorder()
	ws.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	first := rec.Body.String()
	cookie := rec.Result().Cookies()[0]
	if strings.Contains(cookie.Value, "blue") || strings.Contains(cookie.Value, "green") {
		t.Fatalf("cookie reveals the arm: %q", cookie.Value)
	}
	for i := 0; i < 20; i++ {
		req := httptest.NewRequest("GET", "/", nil)
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		ws.ServeHTTP(rec, req)
		if rec.Body.String() != first {
			t.Fatalf("pinned to %s, got %s", first, rec.Body.String())
		}
	}
}

func TestMirrorSamplesExactlyItsPercent(t *testing.T) {
	for _, pct := range []int{0, 1, 10, 33, 50, 100} {
		m := &MirrorTarget{Percent: pct}
		n := 0
		for i := 0; i < 1000; i++ {
			if m.sample() {
				n++
			}
		}
		if n != pct*10 {
			t.Errorf("percent %d: %d of 1000 sampled, want %d", pct, n, pct*10)
		}
	}
}

func TestMirrorCopiesBodyAndDropsWhenSaturated(t *testing.T) {
	main := &fixed{name: "main", avail: true}
	var mu sync.Mutex
	var got []string
	release := make(chan struct{})
	slow := handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		<-release
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
	})
	m := NewMirror("main", main, []*MirrorTarget{{Name: "copy", Handler: slow, Percent: 100}}, 64)
	m.sem = make(chan struct{}, 2) // a small bound, to see drops
	for i := 0; i < 5; i++ {
		rec := httptest.NewRecorder()
		start := time.Now()
		m.ServeHTTP(rec, httptest.NewRequest("POST", "/", strings.NewReader("body")))
		if rec.Body.String() != "main" || time.Since(start) > time.Second {
			t.Fatalf("main answered %q after %v", rec.Body.String(), time.Since(start))
		}
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(got) != 2 || got[0] != "body" || m.Dropped() != 3 {
		t.Fatalf("mirrored %q, dropped %d; want 2 copies of the body and 3 dropped", got, m.Dropped())
	}
	// A body over the limit is not mirrored but still served.
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("POST", "/", bytes.NewReader(make([]byte, 100))))
	if rec.Body.String() != "main" {
		t.Fatalf("large body: %q", rec.Body.String())
	}
}

type handlerFunc func(http.ResponseWriter, *http.Request)

func (f handlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) { f(w, r) }
func (f handlerFunc) Available() bool                                  { return true }

func TestReplayBody(t *testing.T) {
	rb := newReplayBody(io.NopCloser(strings.NewReader("hello world")), 64)
	buf := make([]byte, 5)
	io.ReadFull(rb, buf)
	if !rb.rewindable() {
		t.Fatal("small body not rewindable")
	}
	all, _ := io.ReadAll(rb.rewind())
	if string(all) != "hello world" {
		t.Fatalf("replayed %q", all)
	}
	big := newReplayBody(io.NopCloser(strings.NewReader(strings.Repeat("x", 100))), 64)
	io.ReadAll(big)
	if big.rewindable() {
		t.Fatal("a body over the limit claims to be rewindable")
	}
}

func TestFailoverUsesFallbackOnlyWhenMainIsDown(t *testing.T) {
	main, fb := &fixed{name: "main", avail: true}, &fixed{name: "fallback", avail: true}
	f := &Failover{Main: main, Fallback: fb}
	for _, tc := range []struct {
		mainUp bool
		want   string
	}{{true, "main"}, {false, "fallback"}, {true, "main"}} {
		main.avail = tc.mainUp
		rec := httptest.NewRecorder()
		f.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Body.String() != tc.want {
			t.Errorf("main up=%v: served by %q, want %q", tc.mainUp, rec.Body.String(), tc.want)
		}
	}
}
