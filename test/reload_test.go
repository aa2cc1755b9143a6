package test

import (
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const checkedTpl = `
entrypoints:
  web: { address: "{{addr}}" }
http:
  routers:
    all: { rule: "PathPrefix(` + "`/`" + `)", service: app }
  services:
    app:
      loadBalancer:
        servers: [ { url: "{{server}}" } ]
        healthCheck: {{check}}
`

// A health check that cannot run is refused like any other mistake, with
// where it is written, and the running config keeps serving (before, it was
// applied without its check, the error only logged).
func TestBadHealthCheckIsRefusedAndTheOldConfigServes(t *testing.T) {
	a := backend(t, "a")
	u := startUsher(t, config(checkedTpl, "addr", "127.0.0.1:0", "server", a.URL, "check", "{ path: /, interval: 1s }"))
	addr := u.addrs["web"]
	l := u.rewrite(config(checkedTpl, "addr", addr, "server", a.URL, "check", `{ path: "/%zz", interval: 1s }`))
	if !strings.HasPrefix(l.msg(), "configuration refused") {
		t.Fatalf("bad health check applied: %v", l)
	}
	if e, _ := l["error"].(string); !strings.Contains(e, `usher.yaml:11: http.services.app.loadBalancer.healthCheck.path: "/%zz" is not a path`) {
		t.Errorf("error does not say where: %q", e)
	}
	if status, body := get(t, "http://"+addr+"/"); status != 200 || body != "a" {
		t.Fatalf("after a refused reload: %d %q", status, body)
	}
}

// A reload that changes nothing keeps the pools of the servers, TLS ones
// included: the request after it goes on the connection the one before left.
func TestNoOpReloadKeepsServerConnections(t *testing.T) {
	var conns atomic.Int32
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tls") }))
	be.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	be.StartTLS()
	t.Cleanup(be.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: be.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	tpl := `
entrypoints: { web: { address: "{{addr}}" } }
http:
  routers: { all: { rule: "PathPrefix(` + "`/`" + `)", service: app } }
  services:
    app:
      loadBalancer:
        servers: [ { url: "{{server}}" } ]
        transport: { tls: { ca: "{{ca}}", serverName: example.com } }
`
	u := startUsher(t, config(tpl, "addr", "127.0.0.1:0", "server", be.URL, "ca", ca))
	for i := range 3 {
		if status, body := get(t, u.url("web")+"/"); status != 200 || body != "tls" {
			t.Fatalf("request %d: %d %q", i, status, body)
		}
		if l := u.rewrite(config(tpl, "addr", u.addrs["web"], "server", be.URL, "ca", ca)); l.msg() != "configuration applied" {
			t.Fatalf("reload: %v", l)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections to the server across no-op reloads, want 1", n)
	}
}

// The file watch and SIGHUP reload at once, with certificates (whose expiry
// metrics a reload updates): one reload at a time, no data race (the binary
// is built with -race when the tests are).
func TestReloadTriggersAtOnce(t *testing.T) {
	dir := t.TempDir()
	cert, key, _ := selfSigned(t, dir, "a.example")
	a := backend(t, "a")
	tpl := `
providers: { file: { watch: true } }
admin: { address: "127.0.0.1:0" }
entrypoints: { web: { address: "{{addr}}" } }
tls: { certificates: [ { certFile: "` + cert + `", keyFile: "` + key + `" } ] }
http:
  routers: { all: { rule: "PathPrefix(` + "`/`" + `)", service: app } }
  services:
    app: { loadBalancer: { servers: [ { url: "` + a.URL + `", weight: {{w}} } ] } }
`
	u := startUsher(t, config(tpl, "addr", "127.0.0.1:0", "w", "1"))
	// Each save is seen by the watch once its debounce (150ms) is over, while
	// SIGHUPs keep coming.
	const saves = 6
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		defer close(stop)
		for i := range saves {
			tmp := u.path + ".tmp"
			os.WriteFile(tmp, []byte(config(tpl, "addr", "127.0.0.1:0", "w", string(rune('2'+i)))), 0o644)
			os.Rename(tmp, u.path)
			time.Sleep(250 * time.Millisecond)
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				u.cmd.Process.Signal(syscall.SIGHUP)
			}
		}
	})
	wg.Wait()
	if l := u.rewrite(config(tpl, "addr", "127.0.0.1:0", "w", "9")); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	if n := strings.Count(u.logText(), `"reason":"file changed"`); n < saves/2 {
		t.Fatalf("the watch reloaded %d times for %d saves", n, saves)
	}
	if status, body := get(t, u.url("web")+"/"); status != 200 || body != "a" {
		t.Fatalf("%d %q", status, body)
	}
	_, metrics := get(t, "http://"+u.addrs["admin"]+"/metrics")
	if !strings.Contains(metrics, `usher_cert_expiry_timestamp_seconds{name="a.example"}`) {
		t.Errorf("no certificate expiry in the metrics:\n%s", metrics)
	}
	u.stop()
	if log := u.logText(); strings.Contains(log, "DATA RACE") {
		t.Fatalf("a data race:\n%s", log)
	}
}

// The admin API tells when a reload met a changed static half (which waits
// for a restart), and explain routes as usher serves: an untrusted client's
// X-Forwarded-Host does not reach the rules.
func TestAdminTellsAStaticChangeAndExplainsTheServedPath(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	tpl := `
log: { level: {{level}} }
admin: { address: "127.0.0.1:0" }
entrypoints: { web: { address: "{{addr}}" } }
http:
  routers:
    all: { rule: "PathPrefix(` + "`/`" + `)", service: a }
    fwd: { rule: "Header(` + "`X-Forwarded-Host`, `shop.example`" + `)", service: b }
  services:
    a: { loadBalancer: { servers: [ { url: "` + a.URL + `" } ] } }
    b: { loadBalancer: { servers: [ { url: "` + b.URL + `" } ] } }
`
	u := startUsher(t, config(tpl, "addr", "127.0.0.1:0", "level", "info"))
	admin := "http://" + u.addrs["admin"]
	staticChange := func() bool {
		var o struct {
			Reload struct {
				StaticChange bool `json:"staticChange"`
			} `json:"reload"`
		}
		getJSON(t, admin+"/api/overview", &o)
		return o.Reload.StaticChange
	}
	if staticChange() {
		t.Error("a static change before any reload")
	}
	// The same address as written (port 0), not the one usher listens on.
	if l := u.rewrite(config(tpl, "addr", "127.0.0.1:0", "level", "debug")); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	if !staticChange() {
		t.Error("log.level changed, the overview does not say so")
	}
	if l := u.rewrite(config(tpl, "addr", "127.0.0.1:0", "level", "info")); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	if staticChange() {
		t.Error("the static half is back, the overview still says it changed")
	}

	req, _ := http.NewRequest(http.MethodGet, u.url("web")+"/", nil)
	req.Header.Set("X-Forwarded-Host", "shop.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ex struct {
		Entrypoint, Router, Server string
	}
	port := u.addrs["web"][strings.LastIndex(u.addrs["web"], ":"):]
	getJSON(t, admin+"/api/explain?url="+urlQueryEscape("http://x.example"+port+"/")+"&header="+urlQueryEscape("X-Forwarded-Host: shop.example"), &ex)
	if string(served) != "a" || ex.Entrypoint != "web" || ex.Router != "all" || ex.Server != a.URL {
		t.Errorf("served by %q; explain says %+v", served, ex)
	}
}
