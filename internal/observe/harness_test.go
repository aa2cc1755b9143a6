package observe

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

// route is what the test entrypoint does with a path: the router and service
// that take it and the servers tried in order (the first that answers wins;
// each one before it is a retry). No route: 404, router none.
type route struct {
	router, service string
	servers         []string
	status          int // when no servers: the status the "service" answers itself
}

// testEntry is a small stand-in for internal/server's entrypoint and the
// proxy: it wraps the response in a Recorder as the entrypoint does, gives the
// request an id and a trace, proxies over real sockets, fills the Record the
// way the router, service and proxy do through From(w), and observes.
type testEntry struct {
	name     string
	routes   map[string]route
	obs      Observer
	tracer   *Tracer
	metrics  *Metrics // for RequestStarted/Done, when set
	upstream http.RoundTripper
}

func (e *testEntry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e.metrics != nil {
		e.metrics.RequestStarted()
		defer e.metrics.RequestDone()
	}
	rw := NewRecorder(w)
	defer rw.Release()
	rec := &rw.Rec
	rec.Start = time.Now()
	rec.Entrypoint = e.name
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		rec.ClientIP = ap.Addr().Unmap()
	}
	EnsureRequestID(rw, r)
	rec.Trace = e.tracer.StartTrace(r)
	e.route(rw, r)
	rec.Duration = time.Since(rec.Start)
	if e.obs != nil {
		e.obs.Observe(r, rec)
	}
}

func (e *testEntry) route(w http.ResponseWriter, r *http.Request) {
	rt, ok := e.routes[r.URL.Path]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "Not Found\n")
		return
	}
	rec := From(w)
	rec.Router = rt.router
	rec.Service = rt.service
	if len(rt.servers) == 0 {
		w.WriteHeader(rt.status)
		return
	}
	n, _ := io.Copy(io.Discard, r.Body)
	rec.BytesIn = n
	for i, srv := range rt.servers {
		u, _ := url.Parse(srv)
		out := r.Clone(r.Context())
		out.URL.Scheme, out.URL.Host, out.RequestURI, out.Host = u.Scheme, u.Host, "", r.Host
		out.Body = http.NoBody
		sent := time.Now()
		resp, err := e.upstream.RoundTrip(out)
		rec.Server = srv
		if err != nil {
			if i < len(rt.servers)-1 {
				rec.Retries++
				continue
			}
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		rec.TTFB = time.Since(sent)
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
}

// backend is a real server on 127.0.0.1 answering body to every request and
// remembering the last request's headers.
func backend(t *testing.T, body string) (*httptest.Server, *http.Header) {
	t.Helper()
	var last http.Header
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last = r.Header.Clone()
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s, &last
}

// deadAddr is an address on 127.0.0.1 where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// get sends a request with extra headers and returns the response, body read.
func get(t *testing.T, c *http.Client, u string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func hostPort(u string) string { return strings.TrimPrefix(u, "http://") }
