package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const observedTpl = `
accessLog: { path: "{{log}}", format: json }
admin: { address: "127.0.0.1:0", dashboard: true }
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    app:   { rule: "PathPrefix(` + "`/app`" + `)", service: app }
    flaky: { rule: "PathPrefix(` + "`/flaky`" + `)", service: flaky }
  services:
    app:   { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
    flaky: { loadBalancer: { servers: [ { url: "{{bad}}" }, { url: "{{be}}" } ], retry: { attempts: 1, onStatus: [503] } } }
`

func TestMetricsAccessLogRequestIDAndTraceparent(t *testing.T) {
	seen := make(chan http.Header, 16)
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		io.WriteString(w, "ok")
	})
	bad := backendFunc(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	logPath := filepath.Join(t.TempDir(), "access.log")
	u := startUsher(t, config(observedTpl, "log", logPath, "be", be.URL, "bad", bad.URL))

	// 3 proxied GETs, one with a secret, one with a trace; one 404; one retried.
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest("GET", u.url("web")+"/app/x?token=secret-in-query", nil)
		if i == 0 {
			req.Header.Set("Authorization", "Basic c2VjcmV0OnBhc3N3b3Jk")
			req.Header.Set("Cookie", "session=secret-cookie")
			req.Header.Set("X-Request-Id", "client-chosen-id")
		}
		if i == 1 {
			req.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := <-seen
		if resp.Header.Get("X-Request-Id") == "" || h.Get("X-Request-Id") != resp.Header.Get("X-Request-Id") {
			t.Errorf("request id: server saw %q, client got %q", h.Get("X-Request-Id"), resp.Header.Get("X-Request-Id"))
		}
		if i == 0 && resp.Header.Get("X-Request-Id") != "client-chosen-id" {
			t.Errorf("a sane client request id was replaced: %q", resp.Header.Get("X-Request-Id"))
		}
		tp := h.Get("Traceparent")
		if i == 1 && (len(tp) != 55 || !strings.HasPrefix(tp, "00-0af7651916cd43dd8448eb211c80319c-") || strings.Contains(tp, "b7ad6b7169203331")) {
			t.Errorf("traceparent not continued with a span of usher's own: %q", tp)
		}
		if i != 1 && tp != "" {
			t.Errorf("without tracing configured usher began a trace: %q", tp)
		}
	}
	if status, _ := get(t, u.url("web")+"/nowhere"); status != 404 {
		t.Fatalf("unrouted: %d", status)
	}
	// flaky: round-robin over bad (503) and be: of two requests, one or both
	// (the retry's pick moves the round) meet bad first and are retried on be.
	for i := 0; i < 2; i++ {
		if status, body := get(t, u.url("web")+"/flaky"); status != 200 || body != "ok" {
			t.Fatalf("flaky request %d: %d %q", i, status, body)
		}
		<-seen
	}

	_, metrics := get(t, "http://"+u.addrs["admin"]+"/metrics")
	for _, want := range []string{
		`usher_requests_total{code="2xx",entrypoint="web",router="app",service="app"} 3`,
		`usher_requests_total{code="4xx",entrypoint="web",router="none",service="none"} 1`,
		`usher_requests_total{code="2xx",entrypoint="web",router="flaky",service="flaky"} 2`,
		`usher_reloads_total{result="success"} 1`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(metrics, "/app/x") || strings.Contains(metrics, "127.0.0.1:0") {
		t.Error("a label carries user input")
	}

	// The access log: one JSON line per request, secrets never.
	var lines []map[string]any
	waitFor(t, 5*time.Second, func() bool {
		lines = readJSONLines(t, logPath)
		return len(lines) >= 6
	})
	raw, _ := os.ReadFile(logPath)
	for _, secret := range []string{"c2VjcmV0OnBhc3N3b3Jk", "secret-cookie", "secret-in-query"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the access log holds a secret: %s", secret)
		}
	}
	first := lines[0]
	for k, want := range map[string]any{"requestId": "client-chosen-id", "method": "GET", "path": "/app/x", "status": 200.0, "router": "app", "service": "app", "server": be.URL, "clientIp": "127.0.0.1", "retries": 0.0, "bytesOut": 2.0, "entrypoint": "web"} {
		if first[k] != want {
			t.Errorf("access log %s = %v, want %v", k, first[k], want)
		}
	}
	for _, k := range []string{"time", "host", "protocol", "bytesIn", "durationMs", "ttfbMs", "userAgent"} {
		if _, ok := first[k]; !ok {
			t.Errorf("access log lacks %s", k)
		}
	}
	if l := lines[3]; l["status"] != 404.0 || l["router"] != "" {
		t.Errorf("404 line: %v", l)
	}
	retried := 0
	for _, l := range lines[4:6] {
		if l["retries"] == 1.0 {
			retried++
			if l["server"] != be.URL || l["status"] != 200.0 {
				t.Errorf("retried line: %v", l)
			}
		}
	}
	if want := fmt.Sprintf(`usher_retries_total{service="flaky"} %d`+"\n", retried); retried == 0 || !strings.Contains(metrics, want) {
		t.Errorf("%d retried lines in the access log; metrics lack %q", retried, want)
	}
}

func readJSONLines(t *testing.T, path string) []map[string]any {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("access log line is not JSON: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func TestAdminAPIOfARunningUsher(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	u := startUsher(t, config(lbTpl, "addr", "127.0.0.1:0", "extra", "", "servers", serverList(a.URL, b.URL))+`
admin: { address: "127.0.0.1:0", dashboard: true }
`)
	adminURL := "http://" + u.addrs["admin"]
	var overview map[string]any
	getJSON(t, adminURL+"/api/overview", &overview)
	if overview["version"] == nil {
		t.Fatalf("overview: %v", overview)
	}
	// Drain b: it gets no new request; undrain: it does again.
	resp, err := http.Post(adminURL+"/api/http/services/app/servers/"+urlPathEscape(b.URL)+"/drain", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("drain: %v %v", resp, err)
	}
	resp.Body.Close()
	for i := 0; i < 10; i++ {
		if _, body := get(t, u.url("web")+"/"); body != "a" {
			t.Fatalf("drained server answered request %d", i)
		}
	}
	resp, _ = http.Post(adminURL+"/api/http/services/app/servers/"+urlPathEscape(b.URL)+"/undrain", "", nil)
	resp.Body.Close()
	seen := map[string]bool{}
	for i := 0; i < 10; i++ {
		_, body := get(t, u.url("web")+"/")
		seen[body] = true
	}
	if !seen["b"] {
		t.Fatal("undrained server got no request")
	}
	var ex map[string]any
	getJSON(t, adminURL+"/api/explain?url="+urlQueryEscape("http://example.com"+u.addrs["web"][strings.LastIndex(u.addrs["web"], ":"):]+"/x"), &ex)
	if ex["router"] != "all" || ex["service"] != "app" || ex["server"] == "" {
		t.Fatalf("explain: %v", ex)
	}
	status, page := get(t, adminURL+"/dashboard/")
	if status != 200 || !strings.Contains(page, "<html") {
		t.Fatalf("dashboard: %d", status)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func urlPathEscape(s string) string  { return url.PathEscape(s) }
func urlQueryEscape(s string) string { return url.QueryEscape(s) }
