package observe

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches /metrics over a real socket and parses the text exposition.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: status %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return fams
}

// series flattens a family to "name{k=v,...}" → value (histograms: the
// sample count under name_count, the sum under name_sum).
func series(fams map[string]*dto.MetricFamily, name string) map[string]float64 {
	out := map[string]float64{}
	f := fams[name]
	if f == nil {
		return out
	}
	for _, m := range f.Metric {
		var ls []string
		for _, l := range m.Label {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(ls)
		key := "{" + strings.Join(ls, ",") + "}"
		switch {
		case m.Counter != nil:
			out[key] = m.Counter.GetValue()
		case m.Gauge != nil:
			out[key] = m.Gauge.GetValue()
		case m.Histogram != nil:
			out[key+"count"] = float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			out[key] = m.Untyped.GetValue()
		}
	}
	return out
}

func equalSeries(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]float64) {
	t.Helper()
	got := series(fams, name)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s:\n got %v\nwant %v", name, got, want)
	}
}

func TestMetricsAfterTraffic(t *testing.T) {
	good, _ := backend(t, "hello")
	m := NewMetrics()
	e := &testEntry{name: "web", obs: m, metrics: m, upstream: &http.Transport{}, routes: map[string]route{
		"/a":     {router: "api", service: "api", servers: []string{good.URL}},
		"/retry": {router: "api", service: "api", servers: []string{deadAddr(t), good.URL}},
		"/down":  {router: "api", service: "api", servers: []string{deadAddr(t)}},
		"/admin": {router: "admin", service: "", status: http.StatusFound},
	}}
	front := httptest.NewUnstartedServer(e)
	front.Config.ConnState = m.ConnState("web")
	front.Start()
	defer front.Close()

	c := &http.Client{Transport: &http.Transport{}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/a", "/a", "/a", "/retry", "/down", "/nope", "/nope?x=1", "/admin"} {
		get(t, c, front.URL+p, nil)
	}
	m.Retry("api")
	m.Retry("api")
	m.ReloadResult(false)
	before := time.Now()
	m.ReloadResult(true)
	notAfter := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	m.SetCertExpiry("example.com", notAfter)
	m.SetCertExpiry("gone.example.com", notAfter)
	m.SetCertExpiry("gone.example.com", time.Time{})
	m.SetServerSource(func() []ServerState {
		return []ServerState{
			{Service: "api", URL: "http://10.0.0.1:80", Healthy: true, InFlight: 3, Requests: 10, Failures: 1, Ejections: 2, Retries: 4, ProbeLatency: 1500 * time.Microsecond},
			{Service: "api", URL: "http://bob:hunter2@10.0.0.2:80/x", Ejected: true, Draining: true},
		}
	})

	fams := scrape(t, m)
	equalSeries(t, fams, "usher_requests_total", map[string]float64{
		"{code=2xx,entrypoint=web,router=api,service=api}":    4,
		"{code=5xx,entrypoint=web,router=api,service=api}":    1,
		"{code=4xx,entrypoint=web,router=none,service=none}":  2,
		"{code=3xx,entrypoint=web,router=admin,service=none}": 1,
	})
	equalSeries(t, fams, "usher_router_request_duration_seconds", map[string]float64{
		"{router=api}count": 5, "{router=none}count": 2, "{router=admin}count": 1,
	})
	equalSeries(t, fams, "usher_service_request_duration_seconds", map[string]float64{"{service=api}count": 5})
	equalSeries(t, fams, "usher_retries_total", map[string]float64{"{service=api}": 3}) // /retry's one, and two Retry calls
	equalSeries(t, fams, "usher_reloads_total", map[string]float64{"{result=success}": 1, "{result=failure}": 1})
	equalSeries(t, fams, "usher_cert_expiry_timestamp_seconds", map[string]float64{"{name=example.com}": float64(notAfter.Unix())})
	equalSeries(t, fams, "usher_requests_in_flight", map[string]float64{"{}": 0})
	equalSeries(t, fams, "usher_connections_total", map[string]float64{"{entrypoint=web}": 1})
	equalSeries(t, fams, "usher_open_connections", map[string]float64{"{entrypoint=web}": 1})
	const a, b = "{server=http://10.0.0.1:80,service=api}", "{server=http://10.0.0.2:80/x,service=api}"
	equalSeries(t, fams, "usher_server_healthy", map[string]float64{a: 1, b: 0})
	equalSeries(t, fams, "usher_server_ejected", map[string]float64{a: 0, b: 1})
	equalSeries(t, fams, "usher_server_draining", map[string]float64{a: 0, b: 1})
	equalSeries(t, fams, "usher_server_in_flight", map[string]float64{a: 3, b: 0})
	equalSeries(t, fams, "usher_server_requests_total", map[string]float64{a: 10, b: 0})
	equalSeries(t, fams, "usher_server_failures_total", map[string]float64{a: 1, b: 0})
	equalSeries(t, fams, "usher_server_ejections_total", map[string]float64{a: 2, b: 0})
	equalSeries(t, fams, "usher_server_retries_total", map[string]float64{a: 4, b: 0})
	equalSeries(t, fams, "usher_server_probe_latency_seconds", map[string]float64{a: 0.0015})
	last := series(fams, "usher_last_reload_success_timestamp_seconds")["{}"]
	if last < float64(before.Unix()) || last > float64(time.Now().Unix()+1) {
		t.Errorf("last reload time %v, want about %v", last, before.Unix())
	}
	if fams["go_goroutines"] == nil || fams["process_cpu_seconds_total"] == nil {
		t.Error("the Go and process collectors are missing")
	}

	// Closing the client's connection takes it out of the open count.
	c.CloseIdleConnections()
	waitFor(t, "the connection to close", func() bool {
		return series(scrape(t, m), "usher_open_connections")["{entrypoint=web}"] == 0
	})
	m.RequestStarted()
	m.RequestStarted()
	m.RequestDone()
	equalSeries(t, scrape(t, m), "usher_requests_in_flight", map[string]float64{"{}": 1})
}

// No label ever comes from what the client sends.
func TestMetricsLabelsBounded(t *testing.T) {
	m := NewMetrics()
	m.SetServerSource(nil)
	r := httptest.NewRequest("GET", "http://evil.example/secret/path?token=t0ps3cret", nil)
	r.Header.Set("Authorization", "Basic c2VjcmV0")
	for i := 0; i < 50; i++ {
		r.Host = fmt.Sprintf("h%d.example", i)
		m.Observe(r, &Record{Entrypoint: "web", Router: "api", Service: "api", Status: 200 + i, ClientIP: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})})
	}
	fams := scrape(t, m)
	if n := len(fams["usher_requests_total"].Metric); n != 1 {
		t.Errorf("%d request series, want 1", n)
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	_, body := get(t, http.DefaultClient, srv.URL, nil)
	for _, bad := range []string{"evil", "secret", "t0ps3cret", "c2VjcmV0", "10.0.0.", "h1.example"} {
		if strings.Contains(body, bad) {
			t.Errorf("the exposition holds %q", bad)
		}
	}
}

func TestClassOf(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   string
	}{{0, "2xx"}, {101, "1xx"}, {200, "2xx"}, {204, "2xx"}, {301, "3xx"}, {404, "4xx"}, {498, "4xx"}, {499, "499"}, {502, "5xx"}, {599, "5xx"}, {600, "other"}, {42, "other"}} {
		if got := classes[classOf(tc.status)]; got != tc.want {
			t.Errorf("classOf(%d) = %s, want %s", tc.status, got, tc.want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://10.0.0.1:8080":           "http://10.0.0.1:8080",
		"http://u:p@10.0.0.1:8080/a":     "http://10.0.0.1:8080/a",
		"https://u@h/x@y":                "https://h/x@y",
		"http://h/p?q=a@b":               "http://h/p?q=a@b",
		"http://a:b@c@h":                 "http://h",
		"":                               "",
		"not a url":                      "not a url",
		"http://[::1]:80":                "http://[::1]:80",
		"http://user:pa%40ss@[::1]:80/p": "http://[::1]:80/p",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMetricsObserveAllocs(t *testing.T) {
	m := NewMetrics()
	r := httptest.NewRequest("GET", "/", nil)
	rec := &Record{Entrypoint: "web", Router: "api", Service: "api", Status: 200, Duration: 3 * time.Millisecond}
	m.Observe(r, rec)
	if n := testing.AllocsPerRun(1000, func() { m.Observe(r, rec) }); n != 0 {
		t.Errorf("Metrics.Observe: %v allocations per request, want 0", n)
	}
	retried := &Record{Entrypoint: "web", Router: "api", Service: "api", Status: 200, Retries: 1}
	m.Observe(r, retried)
	if n := testing.AllocsPerRun(1000, func() { m.Observe(r, retried) }); n != 0 {
		t.Errorf("Metrics.Observe of a retried request: %v allocations, want 0", n)
	}
	m.Retry("api")
	if n := testing.AllocsPerRun(1000, func() { m.Retry("api") }); n != 0 {
		t.Errorf("Metrics.Retry: %v allocations, want 0", n)
	}
}

func BenchmarkMetricsObserve(b *testing.B) {
	m := NewMetrics()
	r := httptest.NewRequest("GET", "/", nil)
	recs := make([]Record, 16)
	for i := range recs {
		recs[i] = Record{Entrypoint: "web", Router: fmt.Sprintf("r%d", i%4), Service: fmt.Sprintf("s%d", i%4), Status: []int{200, 404, 502, 301}[i%4], Duration: time.Duration(i) * time.Millisecond}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			m.Observe(r, &recs[i&15])
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				m.Observe(r, &recs[i&15])
				i++
			}
		})
	})
}
