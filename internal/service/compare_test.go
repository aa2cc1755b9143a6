package service

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/observe"
)

// answer is a service that always gives the same response.
type answer struct {
	hints  bool // a 103 first
	status int  // 0: none written (an implicit 200)
	header http.Header
	body   string
	wait   chan struct{} // when set, the body waits for it
}

func (a *answer) Available() bool { return true }
func (a *answer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.hints {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
	}
	for k, v := range a.header {
		w.Header()[k] = v
	}
	if a.status != 0 {
		w.WriteHeader(a.status)
	}
	if a.wait != nil {
		<-a.wait
	}
	// In two writes, as a stream comes.
	io.WriteString(w, a.body[:len(a.body)/2])
	io.WriteString(w, a.body[len(a.body)/2:])
}

func compareMirror(t *testing.T, main, shadow Handler, cmp *Compare) (*Mirror, *observe.Metrics) {
	t.Helper()
	metrics := observe.NewMetrics()
	cmp.Count = func(mirror, field, header, result string) observe.Counter {
		return metrics.MirrorCompare("shop-shadowed", mirror, field, header, result)
	}
	m := NewMirrorWith("shop", main, []*MirrorTarget{{Name: "shop-next", Handler: shadow, Percent: 100}}, MirrorOptions{Name: "shop-shadowed", MaxBody: 64, Compare: cmp})
	return m, metrics
}

// settled waits until every copy of m is over: each releases its place once
// it compared, and taking every place synchronizes with those releases.
func settled(t *testing.T, m *Mirror) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for range cap(m.sem) {
		select {
		case m.sem <- struct{}{}:
		case <-timeout:
			t.Fatal("the copies did not end")
		}
	}
	for range cap(m.sem) {
		<-m.sem
	}
}

// results renders the comparisons' counts as "field=result ..." for the
// fields counted at least once, in a fixed order.
func results(m *Mirror) string {
	var out []string
	add := func(field string, c *CompareCounts) {
		if c == nil {
			return
		}
		for _, x := range []struct {
			name string
			n    uint64
		}{{"match", c.Match}, {"differ", c.Differ}, {"skipped", c.Skipped}} {
			if x.n > 0 {
				out = append(out, field+"="+x.name)
			}
		}
	}
	for _, mc := range m.Comparisons() {
		add("status", mc.Status)
		add("body", mc.Body)
		for _, h := range []string{"Content-Type", "X-Version"} {
			if c, ok := mc.Headers[h]; ok {
				add(h, &c)
			}
		}
	}
	return strings.Join(out, " ")
}

func TestCompareFields(t *testing.T) {
	json := http.Header{"Content-Type": {"application/json"}}
	html := http.Header{"Content-Type": {"text/html"}}
	long := strings.Repeat("x", 100) // past MaxBody (64)
	all := func() *Compare {
		return &Compare{Status: true, Body: true, Headers: []string{"Content-Type", "X-Version"}, MaxBody: 64}
	}
	for _, tt := range []struct {
		name         string
		main, shadow *answer
		cmp          *Compare
		want         string
	}{
		{"same", &answer{status: 200, header: json, body: `{"a":1}`}, &answer{status: 200, header: json, body: `{"a":1}`}, all(),
			"status=match body=match Content-Type=match X-Version=match"},
		{"status", &answer{status: 200, body: "ok"}, &answer{status: 500, body: "ok"}, all(),
			"status=differ body=match Content-Type=match X-Version=match"},
		{"body of the same length", &answer{status: 200, body: "abcd"}, &answer{status: 200, body: "abce"}, all(),
			"status=match body=differ Content-Type=match X-Version=match"},
		{"body of another length", &answer{status: 200, body: "abcd"}, &answer{status: 200, body: "abcde"}, all(),
			"status=match body=differ Content-Type=match X-Version=match"},
		{"a header", &answer{status: 200, header: json, body: "x"}, &answer{status: 200, header: html, body: "x"}, all(),
			"status=match body=match Content-Type=differ X-Version=match"},
		{"a header on one side only", &answer{status: 200, body: "x"}, &answer{status: 200, header: http.Header{"X-Version": {"2"}}, body: "x"}, all(),
			"status=match body=match Content-Type=match X-Version=differ"},
		{"bodies past maxBodySize, alike at first", &answer{status: 200, body: long + "a"}, &answer{status: 200, body: long + "b"}, all(),
			"status=match body=skipped Content-Type=match X-Version=match"},
		{"one body past maxBodySize", &answer{status: 200, body: long}, &answer{status: 200, body: "short"}, all(),
			"status=match body=differ Content-Type=match X-Version=match"},
		{"early hints are not the status", &answer{hints: true, status: 201, body: "x"}, &answer{status: 201, body: "x"}, all(),
			"status=match body=match Content-Type=match X-Version=match"},
		{"nothing written is an empty 200", &answer{body: ""}, &answer{status: 200, body: ""}, all(),
			"status=match body=match Content-Type=match X-Version=match"},
		{"status only", &answer{status: 200, body: "a"}, &answer{status: 404, body: "b"}, &Compare{Status: true, MaxBody: 64},
			"status=differ"},
		{"body only", &answer{status: 200, body: "a"}, &answer{status: 404, body: "a"}, &Compare{Body: true, MaxBody: 64},
			"body=match"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := compareMirror(t, tt.main, tt.shadow, tt.cmp)
			srv := httptest.NewServer(m)
			defer srv.Close()
			resp, err := http.Get(srv.URL + "/x")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			settled(t, m)
			want := tt.main.status
			if want == 0 {
				want = 200
			}
			if resp.StatusCode != want || string(body) != tt.main.body {
				t.Fatalf("the client got %d %q, not the main response", resp.StatusCode, body)
			}
			if got := results(m); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// The counts are those of usher_mirror_compare_total.
func TestCompareMetrics(t *testing.T) {
	m, metrics := compareMirror(t, &answer{status: 200, body: "a"}, &answer{status: 503, body: "a"}, &Compare{Status: true, Body: true, MaxBody: 64})
	for range 3 {
		m.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}
	settled(t, m)
	rec := httptest.NewRecorder()
	metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range []string{
		`usher_mirror_compare_total{field="status",header="",mirror="shop-next",result="differ",service="shop-shadowed"} 3`,
		`usher_mirror_compare_total{field="body",header="",mirror="shop-next",result="match",service="shop-shadowed"} 3`,
	} {
		if !strings.Contains(rec.Body.String(), line) {
			t.Errorf("no %s in\n%s", line, grepLines(rec.Body.String(), "usher_mirror_compare_total"))
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A main response cut short, or a client gone, is no answer to compare.
func TestCompareSkipsAnAbortedMain(t *testing.T) {
	cut := HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part")
		observe.From(w).Abort = true
	})
	m, _ := compareMirror(t, cut, &answer{status: 200, body: "part"}, &Compare{Status: true, Body: true, Headers: []string{"X-Version"}, MaxBody: 64})
	rec := observe.NewRecorder(httptest.NewRecorder())
	m.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	settled(t, m)
	if got := results(m); got != "status=skipped body=skipped X-Version=skipped" {
		t.Errorf("got %s", got)
	}
}

// HandlerFunc is a service from a function, always available.
type HandlerFunc func(http.ResponseWriter, *http.Request)

func (f HandlerFunc) Available() bool                                  { return true }
func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) { f(w, r) }

// syncWriter serializes writes: log lines come from the copies' goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// The main response streams to the client while a slow mirror has not
// answered; the comparison waits for the mirror, the client does not.
func TestCompareNeverDelaysTheMain(t *testing.T) {
	release := make(chan struct{})
	mainWait := make(chan struct{})
	streaming := HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		io.WriteString(w, "first|")
		w.(http.Flusher).Flush()
		<-mainWait
		io.WriteString(w, "second")
	})
	m, _ := compareMirror(t, streaming, &answer{status: 200, body: "first|second", wait: release}, &Compare{Status: true, Body: true, MaxBody: 64})
	srv := httptest.NewServer(m)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadString('|')
	if err != nil || first != "first|" {
		t.Fatalf("the first part did not stream: %q %v", first, err)
	}
	close(mainWait)
	rest, _ := io.ReadAll(br)
	if string(rest) != "second" {
		t.Fatalf("rest %q", rest)
	}
	if got := results(m); got != "" {
		t.Fatalf("compared before the mirror answered: %s", got)
	}
	close(release)
	settled(t, m)
	if got := results(m); got != "status=match body=match" {
		t.Fatalf("got %s", got)
	}
}

// Differences are logged at most once a second, with what differed and
// both statuses, never a body or a header's value.
func TestCompareLogsBounded(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&syncWriter{w: &buf}, nil))
	secret := http.Header{"X-Version": {"token-abc"}}
	m, _ := compareMirror(t, &answer{status: 200, body: "main-body"}, &answer{status: 500, header: secret, body: "mirror-body"},
		&Compare{Status: true, Body: true, Headers: []string{"X-Version"}, MaxBody: 64, Log: log})
	for range 10 {
		m.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/api/orders?card=4111", strings.NewReader("")))
	}
	settled(t, m)
	out := buf.String()
	if n := strings.Count(out, "\n"); n != 1 {
		t.Fatalf("%d lines for 10 differences in a second:\n%s", n, out)
	}
	for _, want := range []string{`"msg":"mirror: response differs"`, `"service":"shop-shadowed"`, `"mirror":"shop-next"`, `"method":"POST"`, `"path":"/api/orders"`,
		`"differ":"status, header X-Version, body"`, `"status":200`, `"mirrorStatus":500`} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in %s", want, out)
		}
	}
	for _, never := range []string{"main-body", "mirror-body", "token-abc", "4111"} {
		if strings.Contains(out, never) {
			t.Errorf("%q logged: %s", never, out)
		}
	}
	// A second later the next line says how many were held back.
	m.logs.next.Store(0)
	m.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	settled(t, m)
	if !strings.Contains(buf.String(), `"suppressed":9`) {
		t.Errorf("the next line does not count the 9 held back:\n%s", buf.String())
	}
}

// Several mirrors of one request are compared with the same main response,
// each on its own.
func TestCompareSeveralMirrors(t *testing.T) {
	metrics := observe.NewMetrics()
	cmp := &Compare{Status: true, Body: true, MaxBody: 64, Count: func(mirror, field, header, result string) observe.Counter {
		return metrics.MirrorCompare("s", mirror, field, header, result)
	}}
	targets := []*MirrorTarget{
		{Name: "same", Handler: &answer{status: 200, body: "abc"}, Percent: 100},
		{Name: "other", Handler: &answer{status: 200, body: "abd"}, Percent: 100},
		{Name: "half", Handler: &answer{status: 404, body: "abc"}, Percent: 50},
	}
	m := NewMirrorWith("main", &answer{status: 200, body: "abc"}, targets, MirrorOptions{Name: "s", MaxBody: 64, Compare: cmp})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				m.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
			}
		}()
	}
	wg.Wait()
	settled(t, m)
	got := map[string]MirrorComparison{}
	for _, mc := range m.Comparisons() {
		got[mc.Mirror] = mc
	}
	for _, tt := range []struct {
		mirror       string
		status, body CompareCounts
	}{
		{"same", CompareCounts{Match: 80}, CompareCounts{Match: 80}},
		{"other", CompareCounts{Match: 80}, CompareCounts{Differ: 80}},
		{"half", CompareCounts{Differ: 40}, CompareCounts{Match: 40}},
	} {
		if mc := got[tt.mirror]; *mc.Status != tt.status || *mc.Body != tt.body || mc.Headers != nil {
			t.Errorf("%s: status %+v body %+v headers %v", tt.mirror, *mc.Status, *mc.Body, mc.Headers)
		}
	}
}
