package headers

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/usher-lb/usher/internal/config"
)

// upstream answers as a proxied server would: it sets headers of its own, then
// writes. It records the request headers it got.
func upstream(got *http.Header, gotHost *string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*got = r.Header.Clone()
		*gotHost = r.Host
		w.Header().Set("Server", "upstream/1.0")
		w.Header().Set("X-Frame-Options", "ALLOWALL")
		w.Header().Add("X-Custom", "from-upstream")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("hello"))
	})
}

func TestHeadersRequest(t *testing.T) {
	cfg := &config.Headers{CustomRequestHeaders: map[string]string{
		"x-added":       "1",
		"X-Replaced":    "new",
		"X-Removed":     "",
		"x-not-present": "",
		"host":          "internal.example",
	}}
	var got http.Header
	var host string
	h, err := New(t.Context(), upstream(&got, &host), cfg, "h")
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header["X-Replaced"] = []string{"old1", "old2"}
	r.Header.Set("X-Removed", "secret")
	r.Header.Set("X-Kept", "k")
	h.ServeHTTP(httptest.NewRecorder(), r)
	want := http.Header{"X-Added": {"1"}, "X-Replaced": {"new"}, "X-Kept": {"k"}}
	for k, v := range want {
		if !slices.Equal(got[k], v) {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["X-Removed"]; ok {
		t.Errorf("X-Removed still there: %q", got["X-Removed"])
	}
	if host != "internal.example" {
		t.Errorf("Host %q, want internal.example", host)
	}
}

func TestHeadersResponse(t *testing.T) {
	tests := []struct {
		name  string
		cfg   config.Headers
		https bool
		xfp   string
		want  map[string]string // "" = absent
	}{
		{"custom overrides and removes upstream's", config.Headers{CustomResponseHeaders: map[string]string{
			"x-custom": "mine", "Server": "", "X-New": "n"}}, false, "",
			map[string]string{"X-Custom": "mine", "Server": "", "X-New": "n", "Content-Type": "text/plain"}},
		{"security headers", config.Headers{ContentTypeNosniff: true, FrameDeny: true,
			ReferrerPolicy: "no-referrer", ContentSecurityPolicy: "default-src 'self'"}, false, "",
			map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
				"Referrer-Policy": "no-referrer", "Content-Security-Policy": "default-src 'self'",
				"Strict-Transport-Security": ""}},
		{"cross-origin isolation and permissions", config.Headers{PermissionsPolicy: "camera=(), geolocation=(self)",
			CrossOriginOpenerPolicy: "same-origin", CrossOriginEmbedderPolicy: "require-corp", CrossOriginResourcePolicy: "same-site"}, false, "",
			map[string]string{"Permissions-Policy": "camera=(), geolocation=(self)", "Cross-Origin-Opener-Policy": "same-origin",
				"Cross-Origin-Embedder-Policy": "require-corp", "Cross-Origin-Resource-Policy": "same-site", "X-Frame-Options": "ALLOWALL"}},
		{"custom frame options win over frameDeny", config.Headers{FrameDeny: true, CustomFrameOptionsValue: "SAMEORIGIN"}, false, "",
			map[string]string{"X-Frame-Options": "SAMEORIGIN"}},
		{"frame options of upstream kept when not configured", config.Headers{ContentTypeNosniff: true}, false, "",
			map[string]string{"X-Frame-Options": "ALLOWALL", "X-Content-Type-Options": "nosniff"}},
		{"custom response header wins over security header", config.Headers{FrameDeny: true,
			CustomResponseHeaders: map[string]string{"X-Frame-Options": ""}}, false, "",
			map[string]string{"X-Frame-Options": ""}},
		{"HSTS not on HTTP", config.Headers{STSSeconds: 31536000}, false, "",
			map[string]string{"Strict-Transport-Security": ""}},
		{"HSTS on TLS", config.Headers{STSSeconds: 31536000}, true, "",
			map[string]string{"Strict-Transport-Security": "max-age=31536000"}},
		{"HSTS on X-Forwarded-Proto https", config.Headers{STSSeconds: 60, STSIncludeSubdomains: true}, false, "https",
			map[string]string{"Strict-Transport-Security": "max-age=60; includeSubDomains"}},
		{"HSTS not on X-Forwarded-Proto http over TLS", config.Headers{STSSeconds: 60}, true, "http",
			map[string]string{"Strict-Transport-Security": ""}},
		{"HSTS forced on HTTP", config.Headers{STSSeconds: 60, STSIncludeSubdomains: true, STSPreload: true, ForceSTSHeader: true}, false, "",
			map[string]string{"Strict-Transport-Security": "max-age=60; includeSubDomains; preload"}},
		{"HSTS max-age 0 sends nothing", config.Headers{STSSeconds: 0, STSPreload: true, ForceSTSHeader: true}, true, "",
			map[string]string{"Strict-Transport-Security": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got http.Header
			var host string
			h, err := New(t.Context(), upstream(&got, &host), &tt.cfg, "h")
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.https {
				r.TLS = &tls.ConnectionState{}
			}
			if tt.xfp != "" {
				r.Header.Set("X-Forwarded-Proto", tt.xfp)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			res := w.Result()
			for k, v := range tt.want {
				vv, ok := res.Header[k]
				switch {
				case v == "" && ok:
					t.Errorf("%s: %q, want none", k, vv)
				case v != "" && !slices.Equal(vv, []string{v}):
					t.Errorf("%s: %q, want [%q]", k, vv, v)
				}
			}
			if w.Body.String() != "hello" {
				t.Errorf("body %q", w.Body.String())
			}
		})
	}
}

// TestHeadersWhenWritten checks that the response headers are applied however
// the handler starts its response, and not on interim responses.
func TestHeadersWhenWritten(t *testing.T) {
	cfg := &config.Headers{CustomResponseHeaders: map[string]string{"X-Mine": "1", "X-Gone": ""}}
	tests := []struct {
		name  string
		write func(w http.ResponseWriter)
	}{
		{"WriteHeader", func(w http.ResponseWriter) { w.WriteHeader(http.StatusNotFound) }},
		{"Write", func(w http.ResponseWriter) { w.Write([]byte("x")) }},
		{"Flush", func(w http.ResponseWriter) { w.(http.Flusher).Flush() }},
		{"ResponseController Flush", func(w http.ResponseWriter) { http.NewResponseController(w).Flush() }},
		{"nothing", func(w http.ResponseWriter) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := New(t.Context(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Gone", "upstream")
				w.Header().Set("X-Mine", "upstream")
				tt.write(w)
				w.Header().Set("X-After", "ignored by a real server")
			}), cfg, "h")
			w := newFakeWriter()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
			w.finish()
			if got := w.sent.Get("X-Mine"); got != "1" {
				t.Errorf("X-Mine %q, want 1", got)
			}
			if got, ok := w.sent["X-Gone"]; ok {
				t.Errorf("X-Gone %q, want none", got)
			}
		})
	}
}

func TestHeadersInterimResponse(t *testing.T) {
	cfg := &config.Headers{CustomResponseHeaders: map[string]string{"X-Mine": "1"}}
	h, _ := New(t.Context(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusOK)
	}), cfg, "h")
	w := newFakeWriter()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if len(w.interim) != 1 || w.interim[0].Get("X-Mine") != "" {
		t.Errorf("interim responses %v, want one without X-Mine", w.interim)
	}
	if w.code != http.StatusOK || w.sent.Get("X-Mine") != "1" {
		t.Errorf("final %d %v", w.code, w.sent)
	}
}

// TestHeadersStreaming checks that the writer passed on does not buffer: a
// flush reaches the underlying writer at once, and ResponseController reaches
// Hijack and deadlines through Unwrap.
func TestHeadersStreaming(t *testing.T) {
	cfg := &config.Headers{ContentTypeNosniff: true}
	w := newFakeWriter()
	h, _ := New(t.Context(), http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Write([]byte("chunk1"))
		rc := http.NewResponseController(rw)
		if err := rc.Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		if w.flushes != 1 || w.body != "chunk1" {
			t.Errorf("after flush: %d flushes, body %q", w.flushes, w.body)
		}
		if _, _, err := rc.Hijack(); !errors.Is(err, errHijacked) {
			t.Errorf("Hijack: %v, want the underlying writer's", err)
		}
		if err := rc.EnableFullDuplex(); !errors.Is(err, http.ErrNotSupported) {
			t.Errorf("EnableFullDuplex: %v", err)
		}
		if _, ok := rw.(interface{ Unwrap() http.ResponseWriter }); !ok {
			t.Error("no Unwrap")
		}
	}), cfg, "h")
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.sent.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("sent %v", w.sent)
	}
}

// TestHeadersNoWrap checks that a config that changes only the request passes
// the writer on as it is.
func TestHeadersNoWrap(t *testing.T) {
	w := newFakeWriter()
	var got http.ResponseWriter
	h, _ := New(t.Context(), http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { got = rw }),
		&config.Headers{CustomRequestHeaders: map[string]string{"X-A": "1"}}, "h")
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if got != http.ResponseWriter(w) {
		t.Errorf("writer %T, want the original", got)
	}
}

// TestHeadersReuse checks that a reused writer does not carry state over.
func TestHeadersReuse(t *testing.T) {
	h, _ := New(t.Context(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}), &config.Headers{STSSeconds: 10}, "h")
	for i, https := range []bool{true, false, true, false} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if https {
			r.TLS = &tls.ConnectionState{}
		}
		w := newFakeWriter()
		h.ServeHTTP(w, r)
		if got := w.sent.Get("Strict-Transport-Security") != ""; got != https {
			t.Errorf("request %d (https %v): HSTS sent %v", i, https, got)
		}
	}
}

func TestHeadersConfig(t *testing.T) {
	tests := []struct {
		cfg config.Headers
		err string
	}{
		{config.Headers{CustomRequestHeaders: map[string]string{"Bad Name": "x"}},
			`headers: customRequestHeaders: "Bad Name" is not a valid header name`},
		{config.Headers{CustomResponseHeaders: map[string]string{"X-A": "a\r\nInjected: 1"}},
			`headers: customResponseHeaders: X-A value "a\r\nInjected: 1" has a control character`},
		{config.Headers{CustomResponseHeaders: map[string]string{"X-A": "1", "x-a": "2"}},
			`headers: customResponseHeaders: "X-A" and "x-a" are the same header`},
		{config.Headers{CustomRequestHeaders: map[string]string{"Host": ""}},
			`headers: customRequestHeaders: Host cannot be removed`},
		{config.Headers{STSSeconds: -1}, `headers: stsSeconds -1 is negative`},
		{config.Headers{ContentSecurityPolicy: "a\nb"}, `headers: contentSecurityPolicy "a\nb" has a control character`},
		{config.Headers{PermissionsPolicy: "a\rb"}, `headers: permissionsPolicy "a\rb" has a control character`},
	}
	for _, tt := range tests {
		_, err := New(t.Context(), http.NotFoundHandler(), &tt.cfg, "h")
		if err == nil || err.Error() != tt.err {
			t.Errorf("error %v, want %s", err, tt.err)
		}
	}
}

// fakeWriter records what would go on the wire: the headers as they are when
// the final status is written, interim responses, and flushes.
type fakeWriter struct {
	hdr     http.Header
	sent    http.Header
	interim []http.Header
	code    int
	body    string
	flushes int
}

var errHijacked = errors.New("fake hijack")

func newFakeWriter() *fakeWriter { return &fakeWriter{hdr: http.Header{}} }

func (f *fakeWriter) Header() http.Header { return f.hdr }

func (f *fakeWriter) WriteHeader(code int) {
	if code < 200 && code != http.StatusSwitchingProtocols {
		f.interim = append(f.interim, f.hdr.Clone())
		return
	}
	if f.sent == nil {
		f.code, f.sent = code, f.hdr.Clone()
	}
}

func (f *fakeWriter) Write(p []byte) (int, error) {
	f.WriteHeader(http.StatusOK)
	f.body += string(p)
	return len(p), nil
}

func (f *fakeWriter) Flush() {
	f.WriteHeader(http.StatusOK)
	f.flushes++
}

func (f *fakeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) { return nil, nil, errHijacked }

// finish is what a server does when the handler returns.
func (f *fakeWriter) finish() { f.WriteHeader(http.StatusOK) }

func BenchmarkHeaders(b *testing.B) {
	cfg := &config.Headers{
		CustomRequestHeaders:  map[string]string{"X-Request-Source": "usher", "X-Internal": ""},
		CustomResponseHeaders: map[string]string{"X-Served-By": "usher", "Server": ""},
		STSSeconds:            31536000, STSIncludeSubdomains: true,
		ContentTypeNosniff: true, FrameDeny: true, ReferrerPolicy: "same-origin",
		ContentSecurityPolicy: "default-src 'self'",
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	h, err := New(b.Context(), next, cfg, "h")
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.TLS = &tls.ConnectionState{}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
