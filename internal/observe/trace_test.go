package observe

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

func TestParseTraceparent(t *testing.T) {
	const tid, sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	tests := []struct {
		in    string
		ok    bool
		flags byte
	}{
		{"00-" + tid + "-" + sid + "-01", true, 1},
		{"00-" + tid + "-" + sid + "-00", true, 0},
		{"00-" + tid + "-" + sid + "-09", true, 9},
		{"01-" + tid + "-" + sid + "-01-what-the-future-holds", true, 1}, // a later version, read as 00
		{"01-" + tid + "-" + sid + "-01", true, 1},
		{"00-" + tid + "-" + sid + "-01-extra", false, 0}, // version 00 is exactly 55 characters
		{"01-" + tid + "-" + sid + "-01x", false, 0},
		{"ff-" + tid + "-" + sid + "-01", false, 0},
		{"00-" + strings.ToUpper(tid) + "-" + sid + "-01", false, 0},
		{"00-00000000000000000000000000000000-" + sid + "-01", false, 0},
		{"00-" + tid + "-0000000000000000-01", false, 0},
		{"00-" + tid + "-" + sid + "-0g", false, 0},
		{"00_" + tid + "-" + sid + "-01", false, 0},
		{"00-" + tid + sid + "-01", false, 0},
		{"00-" + tid[:31] + "-" + sid + "-01", false, 0},
		{"", false, 0},
	}
	for _, tc := range tests {
		got, ok := parseTraceparent(tc.in)
		if ok != tc.ok {
			t.Errorf("parseTraceparent(%q) ok = %v, want %v", tc.in, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		if hex.EncodeToString(got.TraceID[:]) != tid || hex.EncodeToString(got.SpanID[:]) != sid || got.Flags != tc.flags {
			t.Errorf("parseTraceparent(%q) = %+v", tc.in, got)
		}
	}
}

func TestStartTrace(t *testing.T) {
	const tid, sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	never, err := NewTracer(TracerConfig{Endpoint: "http://127.0.0.1:1", SampleRatio: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer never.Shutdown(context.Background())
	tests := []struct {
		name     string
		tracer   *Tracer
		in       []string
		remote   bool
		sampled  bool
		outFlags string
	}{
		{"incoming sampled", nil, []string{"00-" + tid + "-" + sid + "-01"}, true, true, "01"},
		{"incoming not sampled", nil, []string{"00-" + tid + "-" + sid + "-00"}, true, false, "00"},
		{"unknown flags cleared", nil, []string{"00-" + tid + "-" + sid + "-ff"}, true, true, "03"},
		{"incoming sampled, tracer at ratio 0", never, []string{"00-" + tid + "-" + sid + "-01"}, true, true, "01"},
		{"none, tracer at ratio 0", never, nil, false, false, "00"},
		{"invalid, tracer restarts the trace", never, []string{"00-" + tid + "-0000000000000000-01"}, false, false, "00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tc.in != nil {
				r.Header["Traceparent"] = tc.in
			}
			tc1 := tc.tracer.StartTrace(r)
			if !tc1.IsValid() || tc1.Remote() != tc.remote || tc1.Sampled() != tc.sampled {
				t.Fatalf("got %+v (remote %v, sampled %v)", tc1, tc1.Remote(), tc1.Sampled())
			}
			if tc.remote {
				if hex.EncodeToString(tc1.TraceID[:]) != tid || hex.EncodeToString(tc1.ParentID[:]) != sid {
					t.Errorf("trace %x parent %x, want %s %s", tc1.TraceID, tc1.ParentID, tid, sid)
				}
				if hex.EncodeToString(tc1.SpanID[:]) == sid {
					t.Error("usher's span id is the caller's")
				}
			}
			out := r.Header["Traceparent"]
			want := "00-" + hex.EncodeToString(tc1.TraceID[:]) + "-" + hex.EncodeToString(tc1.SpanID[:]) + "-" + tc.outFlags
			if len(out) != 1 || out[0] != want || tc1.String() != want {
				t.Errorf("outgoing traceparent %q, want [%q]", out, want)
			}
			if _, ok := parseTraceparent(out[0]); !ok {
				t.Errorf("outgoing traceparent %q does not parse", out[0])
			}
		})
	}
	// Without a tracer, usher takes part only in a trace that arrived valid:
	// otherwise the request's headers are left as they are.
	for _, in := range [][]string{nil, {"00-" + tid + "-0000000000000000-01"}, {"00-" + tid + "-" + sid + "-01", "00-" + tid + "-" + sid + "-01"}} {
		r := httptest.NewRequest("GET", "/", nil)
		if in != nil {
			r.Header["Traceparent"] = in
		}
		if got := StartTrace(r); got.IsValid() {
			t.Errorf("no tracer, traceparent %q: started %v", in, got)
		}
		if out := r.Header["Traceparent"]; len(out) != len(in) {
			t.Errorf("no tracer, traceparent %q: changed to %q", in, out)
		}
	}
	// New traces and spans differ every time.
	never2, _ := NewTracer(TracerConfig{Endpoint: "http://127.0.0.1:1", SampleRatio: 0})
	defer never2.Shutdown(context.Background())
	a, b := never2.StartTrace(httptest.NewRequest("GET", "/", nil)), never2.StartTrace(httptest.NewRequest("GET", "/", nil))
	if a.TraceID == b.TraceID || a.SpanID == b.SpanID {
		t.Error("two new traces share ids")
	}
}

func TestSampleRatio(t *testing.T) {
	tr := &Tracer{bound: uint64(0.25 * (1 << 63))}
	n := 0
	const total = 20000
	for i := 0; i < total; i++ {
		if tr.StartTrace(httptest.NewRequest("GET", "/", nil)).Sampled() {
			n++
		}
	}
	if n < total/4-total/20 || n > total/4+total/20 {
		t.Errorf("%d of %d new traces sampled at ratio 0.25", n, total)
	}
}

// otlpReceiver is an OTLP/HTTP collector on 127.0.0.1 that keeps the spans
// it is sent.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
	res   []string // service.name of each span's resource
	paths []string
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req coltracepb.ExportTraceServiceRequest
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(body, &req) != nil {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	o.paths = append(o.paths, r.URL.Path)
	for _, rs := range req.GetResourceSpans() {
		name := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				name = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				o.spans = append(o.spans, s)
				o.res = append(o.res, name)
			}
		}
	}
	o.mu.Unlock()
	b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(b)
}

func attrs(s *tracepb.Span) map[string]string {
	out := map[string]string{}
	for _, a := range s.GetAttributes() {
		v := a.GetValue()
		switch {
		case v.GetStringValue() != "":
			out[a.GetKey()] = v.GetStringValue()
		default:
			out[a.GetKey()] = strings.TrimSpace(strings.TrimPrefix(v.String(), "int_value:"))
		}
	}
	return out
}

// Spans of sampled requests reach a real OTLP/HTTP endpoint with the trace id
// the client sent and the span id the server saw as its parent.
func TestTracerExportsOTLP(t *testing.T) {
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	var mu sync.Mutex
	var seen []string
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Traceparent"))
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	defer be.Close()

	tr, err := NewTracer(TracerConfig{Endpoint: collector.URL, ServiceName: "edge", SampleRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	e := &testEntry{name: "web", tracer: tr, obs: Tee(tr), upstream: &http.Transport{}, routes: map[string]route{
		"/api": {router: "api", service: "api", servers: []string{be.URL}},
		"/err": {router: "api", service: "api", servers: []string{deadAddr(t)}},
	}}
	front := httptest.NewServer(e)
	defer front.Close()

	const tid, caller = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	c := &http.Client{}
	get(t, c, front.URL+"/api?secret=x", map[string]string{"Traceparent": "00-" + tid + "-" + caller + "-01", "Authorization": "Bearer t0k"})
	get(t, c, front.URL+"/api", map[string]string{"Traceparent": "00-" + tid + "-" + caller + "-00"}) // not sampled: no span
	get(t, c, front.URL+"/api", nil)                                                                  // new trace
	get(t, c, front.URL+"/err", nil)                                                                  // 502: error status
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.spans) != 3 {
		t.Fatalf("%d spans exported, want 3", len(recv.spans))
	}
	for _, p := range recv.paths {
		if p != "/v1/traces" {
			t.Errorf("exported to %q, want /v1/traces", p)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	byTrace := map[string]*tracepb.Span{}
	for i, s := range recv.spans {
		byTrace[hex.EncodeToString(s.GetTraceId())] = s
		if recv.res[i] != "edge" {
			t.Errorf("service.name %q, want edge", recv.res[i])
		}
		if s.GetKind() != tracepb.Span_SPAN_KIND_SERVER || s.GetEndTimeUnixNano() <= s.GetStartTimeUnixNano() {
			t.Errorf("span %v: kind %v, %d..%d", s.GetName(), s.GetKind(), s.GetStartTimeUnixNano(), s.GetEndTimeUnixNano())
		}
	}
	s := byTrace[tid]
	if s == nil {
		t.Fatalf("no span of trace %s", tid)
	}
	// The server saw usher's span as its parent; usher's span's parent is the caller.
	want := "00-" + tid + "-" + hex.EncodeToString(s.GetSpanId()) + "-01"
	if seen[0] != want {
		t.Errorf("server got traceparent %q, want %q", seen[0], want)
	}
	if got := hex.EncodeToString(s.GetParentSpanId()); got != caller {
		t.Errorf("parent span %s, want %s", got, caller)
	}
	a := attrs(s)
	for k, v := range map[string]string{"http.request.method": "GET", "url.path": "/api", "http.response.status_code": "200",
		"usher.router": "api", "usher.service": "api", "usher.server": be.URL, "usher.entrypoint": "web", "client.address": "127.0.0.1"} {
		if a[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, a[k], v)
		}
	}
	if s.GetName() != "GET api" {
		t.Errorf("span name %q", s.GetName())
	}
	for k, v := range a {
		if strings.Contains(v, "t0k") || strings.Contains(v, "secret") {
			t.Errorf("attribute %s = %q leaks a secret", k, v)
		}
	}
	if !strings.HasSuffix(seen[1], "-00") {
		t.Errorf("unsampled trace passed on as %q", seen[1])
	}
	var errSpans int
	for _, s := range recv.spans {
		if s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR {
			errSpans++
			if len(s.GetParentSpanId()) != 0 {
				t.Error("a new trace's span has a parent")
			}
		}
	}
	if errSpans != 1 {
		t.Errorf("%d error spans, want 1 (the 502)", errSpans)
	}
}

func TestNewTracerRefuses(t *testing.T) {
	for _, cfg := range []TracerConfig{
		{Endpoint: "127.0.0.1:4318", SampleRatio: 1},
		{Endpoint: "ftp://h", SampleRatio: 1},
		{Endpoint: "http://u:p@h", SampleRatio: 1},
		{Endpoint: "http://h", SampleRatio: 1.5},
	} {
		if tr, err := NewTracer(cfg); err == nil {
			tr.Shutdown(context.Background())
			t.Errorf("NewTracer(%+v) accepted it", cfg)
		}
	}
	var nilTracer *Tracer
	nilTracer.Observe(httptest.NewRequest("GET", "/", nil), &Record{})
	if err := nilTracer.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

func BenchmarkStartTrace(b *testing.B) {
	r := httptest.NewRequest("GET", "/", nil)
	in := []string{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	b.ReportAllocs()
	for b.Loop() {
		r.Header["Traceparent"] = in
		StartTrace(r)
	}
}

// A request tried on two servers gives usher's server span and two client
// spans under it, the failed try marked as an error.
func TestTracerExportsAttemptSpans(t *testing.T) {
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	tr, err := NewTracer(TracerConfig{Endpoint: collector.URL, SampleRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/x", nil)
	rec := &Record{Start: time.Now(), Duration: 30 * time.Millisecond, Router: "api", Service: "api", Status: 200, Retries: 1}
	rec.Trace = tr.StartTrace(r)
	rec.AddAttempt(Attempt{Server: "http://user:pw@10.0.0.1:80", Start: rec.Start, Duration: 10 * time.Millisecond, Status: 503})
	rec.AddAttempt(Attempt{Server: "http://10.0.0.2:80", Start: rec.Start.Add(10 * time.Millisecond), Duration: 15 * time.Millisecond, Status: 200})
	tr.Observe(r, rec)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	var server *tracepb.Span
	var tries []*tracepb.Span
	for _, s := range recv.spans {
		switch s.GetKind() {
		case tracepb.Span_SPAN_KIND_SERVER:
			server = s
		case tracepb.Span_SPAN_KIND_CLIENT:
			tries = append(tries, s)
		}
	}
	if server == nil || len(tries) != 2 {
		t.Fatalf("exported %d spans: want a server span and 2 attempts", len(recv.spans))
	}
	for _, s := range tries {
		if string(s.GetParentSpanId()) != string(server.GetSpanId()) || string(s.GetTraceId()) != string(server.GetTraceId()) {
			t.Errorf("attempt %v is not a child of usher's span", attrs(s))
		}
		if strings.Contains(attrs(s)["usher.server"], "pw") {
			t.Errorf("an attempt span leaks the server's password: %v", attrs(s))
		}
	}
	errs := 0
	for _, s := range tries {
		if s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR {
			errs++
		}
	}
	if errs != 1 {
		t.Errorf("%d attempts marked as errors, want the 503 only", errs)
	}
}
