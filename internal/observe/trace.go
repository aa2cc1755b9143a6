package observe

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// TraceparentHeader is the W3C Trace Context header (canonical form).
const TraceparentHeader = "Traceparent"

// TraceContext is usher's hop of a W3C trace: the trace it belongs to, the
// span usher opens for the request (the parent of the servers' spans), the
// caller's span, and the trace flags passed on.
type TraceContext struct {
	TraceID  [16]byte
	SpanID   [8]byte // usher's span for this request
	ParentID [8]byte // the caller's span; zero when usher began the trace
	Flags    byte    // W3C trace flags; bit 0: sampled
}

// Sampled tells whether the trace is recorded (W3C sampled flag).
func (tc TraceContext) Sampled() bool { return tc.Flags&1 != 0 }

// IsValid tells whether tc holds a trace (StartTrace always makes one).
func (tc TraceContext) IsValid() bool { return tc.TraceID != [16]byte{} && tc.SpanID != [8]byte{} }

// Remote tells whether the trace began before usher (an incoming traceparent).
func (tc TraceContext) Remote() bool { return tc.ParentID != [8]byte{} }

// AppendTraceparent appends the traceparent header value usher sends on:
// version 00, the trace id, usher's span id and the flags.
func (tc TraceContext) AppendTraceparent(b []byte) []byte {
	b = append(b, '0', '0', '-')
	b = appendHex(b, tc.TraceID[:])
	b = append(b, '-')
	b = appendHex(b, tc.SpanID[:])
	return append(b, '-', hexDigits[tc.Flags>>4], hexDigits[tc.Flags&0xf])
}

// String is the traceparent value of tc.
func (tc TraceContext) String() string {
	var b [55]byte
	return string(tc.AppendTraceparent(b[:0]))
}

func appendHex(b, src []byte) []byte {
	for _, c := range src {
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

// StartTrace is (*Tracer)(nil).StartTrace: propagation without recording.
func StartTrace(r *http.Request) TraceContext { return (*Tracer)(nil).StartTrace(r) }

// StartTrace opens usher's hop of the request's trace. It reads the incoming
// traceparent (W3C Trace Context, version 00; a later version is read as 00
// would be, as the specification asks), keeps its trace id and flags, makes a
// new span id for usher, and replaces the request's traceparent with one that
// names usher's span as the parent, so that servers' spans hang under it.
// tracestate is left as it came. With no valid incoming traceparent usher
// begins a new trace: sampled by t's sample ratio when t exports, and marked
// sampled when t is nil (usher records nothing then; the flag lets the
// servers record as they would at the root).
//
// A nil *Tracer costs no OpenTelemetry SDK work: parsing, two random numbers
// and the 55-byte header.
func (t *Tracer) StartTrace(r *http.Request) TraceContext {
	var tc TraceContext
	in := r.Header[TraceparentHeader]
	parent, ok := TraceContext{}, false
	if len(in) == 1 {
		parent, ok = parseTraceparent(in[0])
	}
	if !ok && t == nil {
		// Nothing to propagate and nothing to record: a trace begins where
		// someone records it (as with Envoy or Traefik without tracing).
		return tc
	}
	if ok {
		tc.TraceID = parent.TraceID
		tc.ParentID = parent.SpanID
		tc.Flags = parent.Flags & 0x03 // sampled and (level 2) random; the rest unknown to version 00
	} else {
		binary.BigEndian.PutUint64(tc.TraceID[:8], rand.Uint64())
		binary.BigEndian.PutUint64(tc.TraceID[8:], nonZero())
		tc.Flags = 0
		if t.sample(tc.TraceID) {
			tc.Flags = 1
		}
	}
	binary.BigEndian.PutUint64(tc.SpanID[:], nonZero())
	var b [55]byte
	if r.Header == nil {
		r.Header = http.Header{}
	}
	r.Header[TraceparentHeader] = []string{string(tc.AppendTraceparent(b[:0]))}
	return tc
}

func nonZero() uint64 {
	for {
		if v := rand.Uint64(); v != 0 {
			return v
		}
	}
}

// parseTraceparent reads a traceparent value; ok is false for anything the
// W3C specification calls invalid (then the trace restarts).
func parseTraceparent(s string) (tc TraceContext, ok bool) {
	if len(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return tc, false
	}
	ver, ok1 := hexByte(s[0], s[1])
	if !ok1 || ver == 0xff {
		return tc, false
	}
	if (ver == 0 && len(s) != 55) || (len(s) > 55 && s[55] != '-') {
		return tc, false
	}
	for i := range tc.TraceID {
		c, ok := hexByte(s[3+2*i], s[4+2*i])
		if !ok {
			return tc, false
		}
		tc.TraceID[i] = c
	}
	for i := range tc.SpanID {
		c, ok := hexByte(s[36+2*i], s[37+2*i])
		if !ok {
			return tc, false
		}
		tc.SpanID[i] = c
	}
	f, ok1 := hexByte(s[53], s[54])
	if !ok1 || !tc.IsValid() {
		return tc, false
	}
	tc.Flags = f
	return tc, true
}

// hexByte decodes two lowercase hex digits (the only case W3C allows).
func hexByte(a, b byte) (byte, bool) {
	x, ok1 := unhex(a)
	y, ok2 := unhex(b)
	return x<<4 | y, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// TracerConfig says where spans go.
type TracerConfig struct {
	// Endpoint is the OTLP/HTTP collector's URL, like http://127.0.0.1:4318;
	// /v1/traces is appended when it has no path. https uses TLS.
	Endpoint string
	// ServiceName is the spans' service.name ("usher" when empty).
	ServiceName string
	// SampleRatio is the share of new traces recorded, 0 to 1. A trace begun
	// upstream keeps the caller's decision (its sampled flag).
	SampleRatio float64
}

// Tracer records a span per request and exports it with the OpenTelemetry SDK
// over OTLP/HTTP (protobuf), in batches, off the request path: a full queue
// drops spans rather than waiting. A nil *Tracer is valid: it propagates
// traceparent and records nothing, and should then not be among the
// observers at all. The caller owns a Tracer and must Shutdown it.
type Tracer struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	bound    uint64 // a new trace is sampled when its id's low 63 bits are below it
	all      bool   // SampleRatio 1
}

// NewTracer starts the exporter. No connection is made until the first batch.
func NewTracer(cfg TracerConfig) (*Tracer, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("tracing: otlpEndpoint %q is not an http:// or https:// URL with a host", cfg.Endpoint)
	}
	if u.User != nil {
		return nil, errors.New("tracing: otlpEndpoint must not hold credentials")
	}
	if r := cfg.SampleRatio; math.IsNaN(r) || r < 0 || r > 1 {
		return nil, fmt.Errorf("tracing: sampleRatio %v is not between 0 and 1", r)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(u.String()))
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	name := cfg.ServiceName
	if name == "" {
		name = "usher"
	}
	p := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", name))),
		// The sampling decision is usher's own, made in StartTrace (so that
		// the flag sent to servers matches); Observe only starts the spans
		// of sampled traces.
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithIDGenerator(usherIDs{}),
	)
	t := &Tracer{
		provider: p,
		tracer:   p.Tracer("github.com/usher-lb/usher/internal/observe"),
		all:      cfg.SampleRatio >= 1,
		bound:    uint64(cfg.SampleRatio * (1 << 63)),
	}
	return t, nil
}

// sample decides for a new trace, as OpenTelemetry's TraceIDRatioBased does.
func (t *Tracer) sample(id [16]byte) bool {
	if t == nil || t.all {
		return true
	}
	return binary.BigEndian.Uint64(id[8:])>>1 < t.bound
}

// Shutdown exports the spans still queued and stops the exporter.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}

// Observe records the span of a finished request whose trace is sampled,
// with the ids StartTrace chose (rec.Trace), from rec.Start to its end.
func (t *Tracer) Observe(r *http.Request, rec *Record) {
	tc := rec.Trace
	if t == nil || !tc.IsValid() || !tc.Sampled() {
		return
	}
	ctx := context.Background()
	if tc.Remote() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: tc.TraceID, SpanID: tc.ParentID, TraceFlags: trace.TraceFlags(tc.Flags), Remote: true,
		}))
	}
	ctx = context.WithValue(ctx, spanIDsKey{}, &tc)
	name := r.Method
	if rec.Router != "" {
		name += " " + rec.Router
	}
	status := statusOf(rec)
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", r.Method),
		attribute.String("url.path", cut(requestPath(r), maxPath)),
		attribute.String("url.scheme", schemeOf(r)),
		attribute.String("server.address", cut(hostOnly(r.Host), maxHost)),
		attribute.String("network.protocol.version", protoVersion(r)),
		attribute.Int("http.response.status_code", status),
		attribute.String("user_agent.original", cut(userAgent(r), maxUserAgent)),
		attribute.String("usher.entrypoint", rec.Entrypoint),
		attribute.String("usher.router", rec.Router),
		attribute.String("usher.service", rec.Service),
		attribute.String("usher.server", serverOf(rec)),
		attribute.Int("usher.retries", rec.Retries),
		attribute.String("usher.request_id", rec.RequestID),
	}
	if rec.ClientIP.IsValid() {
		attrs = append(attrs, attribute.String("client.address", rec.ClientIP.String()))
	}
	_, span := t.tracer.Start(ctx, name,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithTimestamp(rec.Start),
		trace.WithAttributes(attrs...))
	if status >= 500 {
		span.SetStatus(codes.Error, strconv.Itoa(status))
	}
	// A client span per try on a server, children of usher's span. (The
	// servers see usher's span as their parent: the traceparent they get is
	// written before the first try.)
	parent := trace.ContextWithSpan(context.Background(), span)
	for _, a := range rec.Attempts[:rec.NAttempts] {
		attempt := []attribute.KeyValue{attribute.String("usher.server", cut(redactURL(a.Server), maxServer))}
		if a.Status != 0 {
			attempt = append(attempt, attribute.Int("http.response.status_code", a.Status))
		}
		_, as := t.tracer.Start(parent, "attempt", trace.WithSpanKind(trace.SpanKindClient),
			trace.WithTimestamp(a.Start), trace.WithAttributes(attempt...))
		if a.Failed || a.Status >= 500 {
			as.SetStatus(codes.Error, "server failed")
		}
		as.End(trace.WithTimestamp(a.Start.Add(a.Duration)))
	}
	end := rec.Start.Add(rec.Duration)
	if rec.Start.IsZero() {
		end = time.Now()
	}
	span.End(trace.WithTimestamp(end))
}

func schemeOf(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

func protoVersion(r *http.Request) string {
	switch {
	case r.ProtoMajor == 1 && r.ProtoMinor == 1:
		return "1.1"
	case r.ProtoMajor == 2:
		return "2"
	case r.ProtoMajor == 3:
		return "3"
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		return "1.0"
	}
	return r.Proto
}

// hostOnly drops the port of a Host header.
func hostOnly(h string) string {
	if len(h) > 0 && h[0] == '[' { // [v6]:port
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
		return h
	}
	if i := strings.IndexByte(h, ':'); i >= 0 {
		return h[:i]
	}
	return h
}

// spanIDsKey carries, in the context given to the SDK, the ids StartTrace
// already sent to the servers, so that the exported span has exactly them.
type spanIDsKey struct{}

// usherIDs is the SDK's id generator: the ids of the context when there are
// (usher's request span), random ones otherwise. Spans started from a context
// derived from Observe's would reuse the id; Observe keeps that context to
// itself.
type usherIDs struct{}

func (usherIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if tc, ok := ctx.Value(spanIDsKey{}).(*TraceContext); ok {
		return tc.TraceID, tc.SpanID
	}
	var tid trace.TraceID
	binary.BigEndian.PutUint64(tid[:8], rand.Uint64())
	binary.BigEndian.PutUint64(tid[8:], nonZero())
	return tid, randomSpanID()
}

func (usherIDs) NewSpanID(ctx context.Context, traceID trace.TraceID) trace.SpanID {
	if tc, ok := ctx.Value(spanIDsKey{}).(*TraceContext); ok && tc.TraceID == traceID {
		return tc.SpanID
	}
	return randomSpanID()
}

func randomSpanID() trace.SpanID {
	var sid trace.SpanID
	binary.BigEndian.PutUint64(sid[:], nonZero())
	return sid
}
