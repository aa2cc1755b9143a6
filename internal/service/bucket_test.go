package service

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/observe"
)

func TestBucketSplitsByWeightAndMovesFewUsers(t *testing.T) {
	b, err := NewBucket("cookie:uid", []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	const users = 20000
	before := make([]int, users)
	count := make([]int, 3)
	for u := range users {
		before[u] = b.Arm("user-"+strconv.Itoa(u), []int{60, 30, 10})
		count[before[u]]++
	}
	for i, want := range []float64{0.6, 0.3, 0.1} {
		if got := float64(count[i]) / users; math.Abs(got-want) > 0.02 {
			t.Errorf("arm %d has %.3f of the users, want %.2f", i, got, want)
		}
	}
	// c grows from 10 to 30: only users moving to c change arm, about a
	// fifth of all of them (the 20 points c gained).
	moved := 0
	for u := range users {
		after := b.Arm("user-"+strconv.Itoa(u), []int{60, 30, 30})
		if after != before[u] {
			if after != 2 {
				t.Fatalf("user %d moved from %d to %d, not to the arm that grew", u, before[u], after)
			}
			moved++
		}
	}
	if got := float64(moved) / users; math.Abs(got-(30.0/120-10.0/100)) > 0.02 {
		t.Errorf("%.3f of the users moved, want about 0.15", got)
	}
	// The same names give the same buckets: a reload or another usher.
	again, _ := NewBucket("cookie:uid", []string{"a", "b", "c"})
	for u := range 1000 {
		if again.Arm("user-"+strconv.Itoa(u), []int{60, 30, 10}) != before[u] {
			t.Fatalf("user %d bucketed differently by an equal Bucket", u)
		}
	}
	if b.Arm("x", []int{0, 0, 0}) != -1 {
		t.Fatal("an arm chosen with every weight 0")
	}
}

func TestBucketKeysAndFallback(t *testing.T) {
	a, b := &fixed{name: "a", avail: true}, &fixed{name: "b", avail: true}
	for _, spec := range []string{"cookie:uid", "header:X-User", "clientIP", "claim:sub"} {
		bk, err := NewBucket(spec, []string{"a", "b"})
		if err != nil {
			t.Fatal(err)
		}
		ws, err := NewWeightedWith("shop", []Arm{{"a", a, 1}, {"b", b, 1}}, WeightedOptions{Bucket: bk, VariantHeader: "x-usher-variant"})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for u := range 200 {
			var first string
			for i := range 5 {
				r := httptest.NewRequest("GET", "/", nil)
				r.RemoteAddr = "10.0.0." + strconv.Itoa(u%250) + ":" + strconv.Itoa(1000+i)
				r.Header.Set("Cookie", "a=b; uid=u"+strconv.Itoa(u)+"; z=1")
				r.Header.Set("X-User", "u"+strconv.Itoa(u))
				r.Header.Set("X-Usher-Variant", "forged")
				w := httptest.NewRecorder()
				ws.ServeHTTP(w, r)
				if got := r.Header.Get("X-Usher-Variant"); got != w.Body.String() {
					t.Fatalf("%s: variant header %q, served by %q", spec, got, w.Body.String())
				}
				if i == 0 {
					first = w.Body.String()
				} else if w.Body.String() != first {
					t.Fatalf("%s: user %d moved from %s to %s", spec, u, first, w.Body.String())
				}
			}
			seen[first] = true
		}
		if len(seen) != 2 {
			t.Fatalf("%s: 200 users all in %v", spec, seen)
		}
	}
	// An arm with no server: its users go elsewhere, and come back.
	bk, _ := NewBucket("header:X-User", []string{"a", "b"})
	ws, _ := NewWeightedWith("shop", []Arm{{"a", a, 1}, {"b", b, 1}}, WeightedOptions{Bucket: bk})
	a.avail = false
	r := httptest.NewRequest("GET", "/", nil)
	for u := range 50 {
		r.Header.Set("X-User", "u"+strconv.Itoa(u))
		w := httptest.NewRecorder()
		ws.ServeHTTP(w, r)
		if w.Body.String() != "b" {
			t.Fatalf("user %d sent to a down arm: %q", u, w.Body.String())
		}
	}
	a.avail = true
}

func TestLiveWeightsAndMeters(t *testing.T) {
	a, b := &fixed{name: "a", avail: true}, &fixed{name: "b", avail: true}
	live := NewLive([]int{1, 0})
	live.Meters = []*Meter{{}, {}}
	ws, err := NewWeightedWith("shop", []Arm{{"a", a, 1}, {"b", b, 0}}, WeightedOptions{Live: live})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		ws.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}
	live.SetPlan(NewPlan([]int{0, 1}))
	for range 10 {
		ws.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}
	if a.hits.Load() != 10 || b.hits.Load() != 10 {
		t.Fatalf("hits a %d b %d", a.hits.Load(), b.hits.Load())
	}
	if s := live.Meters[1].Snapshot(); s.Requests != 10 || s.Errors != 0 {
		t.Fatalf("meter %+v", s)
	}
	live.SetPlan(NewPlan([]int{0, 0}))
	w := httptest.NewRecorder()
	ws.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 503 || ws.Available() {
		t.Fatalf("every weight 0: %d, available %v", w.Code, ws.Available())
	}
}

func TestMeterQuantile(t *testing.T) {
	var m Meter
	for i := range 100 {
		m.Observe(200+300*(i/98), time.Duration(i+1)*time.Millisecond)
	}
	s := m.Snapshot()
	if s.Errors != 2 || s.ErrorRate() != 0.02 {
		t.Fatalf("errors %d rate %v", s.Errors, s.ErrorRate())
	}
	if p := s.Quantile(0.99); p < 93*time.Millisecond || p > 105*time.Millisecond {
		t.Fatalf("p99 %s, want about 99ms", p)
	}
	if d := s.Sub(s); d.Requests != 0 || d.Quantile(0.99) != 0 {
		t.Fatalf("empty span: %+v", d)
	}
}

func BenchmarkWeighted(b *testing.B) {
	arms := func() []Arm {
		return []Arm{{"a", &fixed{name: "a", avail: true}, 90}, {"b", &fixed{name: "b", avail: true}, 10}}
	}
	bk, _ := NewBucket("cookie:uid", []string{"a", "b"})
	live := NewLive([]int{90, 10})
	live.Meters = []*Meter{{}, {}}
	for _, c := range []struct {
		name string
		o    WeightedOptions
	}{
		{"schedule", WeightedOptions{}},
		{"canary-metered", WeightedOptions{Live: live}},
		{"bucketBy-cookie", WeightedOptions{Bucket: bk, VariantHeader: "X-Usher-Variant"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			ws, _ := NewWeightedWith("shop", arms(), c.o)
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Cookie", "session=abc; uid=user-12345")
			rec := observe.NewRecorder(&discardWriter{h: http.Header{}})
			b.ReportAllocs()
			for b.Loop() {
				ws.ServeHTTP(rec, r)
			}
		})
	}
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}
