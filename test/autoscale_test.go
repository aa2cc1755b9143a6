package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// fleet is the test's side of the exec actuator: scalectl asks it for a
// count of backends, and it starts or closes real servers on 127.0.0.1
// (closing waits for their requests in flight) and answers their URLs.
type fleet struct {
	t       *testing.T
	mu      sync.Mutex
	servers []*httptest.Server
	calls   []int
	handler http.HandlerFunc
	ctl     *httptest.Server
	fail    bool // answer 500: the actuator fails
}

func newFleet(t *testing.T, h http.HandlerFunc) *fleet {
	f := &fleet{t: t, handler: h}
	f.ctl = httptest.NewServer(http.HandlerFunc(f.scale))
	t.Cleanup(func() {
		f.ctl.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, s := range f.servers {
			s.Close()
		}
	})
	return f
}

func (f *fleet) scale(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("desired"))
	if err != nil {
		http.Error(w, "bad desired", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		http.Error(w, "the fleet is down", http.StatusInternalServerError)
		return
	}
	f.calls = append(f.calls, n)
	drained := strings.Fields(r.URL.Query().Get("drained"))
	// Drained ones go first, as usher asks.
	for len(f.servers) > n {
		i := len(f.servers) - 1
		for j, s := range f.servers {
			for _, d := range drained {
				if s.URL == d {
					i = j
				}
			}
		}
		f.servers[i].Close()
		f.servers = append(f.servers[:i], f.servers[i+1:]...)
	}
	for len(f.servers) < n {
		f.servers = append(f.servers, httptest.NewServer(f.handler))
	}
	for _, s := range f.servers {
		fmt.Fprintln(w, s.URL)
	}
}

var (
	scalectlOnce sync.Once
	scalectlBin  string
	scalectlErr  error
)

// scalectl builds the actuator command once.
func scalectl(t *testing.T) string {
	t.Helper()
	scalectlOnce.Do(func() {
		dir, err := os.MkdirTemp("", "usher-test-scalectl-")
		if err != nil {
			scalectlErr = err
			return
		}
		scalectlBin = filepath.Join(dir, "scalectl")
		if out, err := exec.Command("go", "build", "-o", scalectlBin, "./testdata/scalectl").CombinedOutput(); err != nil {
			scalectlErr = fmt.Errorf("build scalectl: %v\n%s", err, out)
		}
	})
	if scalectlErr != nil {
		t.Fatal(scalectlErr)
	}
	return scalectlBin
}

// autoscaleStatus is the part of GET /api/autoscale/{name} the tests read.
type autoscaleStatus struct {
	Mode      string `json:"mode"`
	Desired   int    `json:"desired"`
	Ready     int    `json:"ready"`
	Servers   int    `json:"servers"`
	LastError string `json:"lastError"`
	History   []struct {
		Direction string `json:"direction"`
		Desired   int    `json:"desired"`
		Reason    string `json:"reason"`
	} `json:"history"`
}

func scaleStatus(t *testing.T, admin, name string) autoscaleStatus {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/api/autoscale/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st autoscaleStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

const autoscaleConfig = `
entrypoints:
  web: { address: "127.0.0.1:0" }
admin: { address: "127.0.0.1:0" }
http:
  routers:
    app: { rule: "PathPrefix(` + "`/`" + `)", service: app }
  services:
    app:
      loadBalancer:
        servers: []
        autoscale:
          min: {{min}}
          max: 4
          target: { inFlight: 2 }
          interval: 100ms
          stableWindow: 2s
          panicWindow: 400ms
          cooldown: 1s
          drainTimeout: 5s
          {{queue}}
          actuator: { exec: { command: ["{{cmd}}", "{{ctl}}"] } }
`

// TestAutoscaleExecFollowsLoad runs usher with the exec actuator under a
// load that rises and falls: the pool grows to carry it, shrinks back to
// min when it stops, and no request is lost on the way (servers leaving
// are drained before the actuator closes them).
func TestAutoscaleExecFollowsLoad(t *testing.T) {
	f := newFleet(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond) // a request stays in flight a while
		io.WriteString(w, "ok")
	})
	u := startUsher(t, config(autoscaleConfig, "min", "1", "queue", "", "cmd", scalectl(t), "ctl", f.ctl.URL))
	within(t, 5*time.Second, "the first server, min 1", func() bool { return scaleStatus(t, u.addrs["admin"], "app").Ready == 1 })

	// The load rises from 1 client to 8 (about 8 in flight: 4 servers at
	// the target of 2), stays a while, and falls back to 1, which keeps
	// running while the pool shrinks: servers leave under traffic.
	var load tally
	clients := func(n int) (stop func()) {
		done := make(chan struct{})
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &http.Client{Timeout: 5 * time.Second}
				for {
					select {
					case <-done:
						return
					default:
						load.get(c, u.url("web")+"/")
					}
				}
			}()
		}
		var once sync.Once
		return func() { once.Do(func() { close(done); wg.Wait() }) }
	}
	stopBase := clients(1)
	defer stopBase()
	time.Sleep(500 * time.Millisecond) // load, not synchronisation: a calm start
	stopBurst := clients(7)
	grown := within(t, 8*time.Second, "the pool grows to 3 servers or more", func() bool {
		return scaleStatus(t, u.addrs["admin"], "app").Ready >= 3
	})
	time.Sleep(time.Second) // the high load goes on a while
	stopBurst()
	within(t, 10*time.Second, "the pool shrinks back to min 1 under the low load", func() bool {
		st := scaleStatus(t, u.addrs["admin"], "app")
		return st.Ready == 1 && st.Desired == 1 && st.Servers == 1
	})
	stopBase()
	if n := load.failed.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed while the pool changed (first: %v)", n, n+load.ok.Load(), load.firstErr.Load())
	}
	st := scaleStatus(t, u.addrs["admin"], "app")
	var up, down bool
	for _, d := range st.History {
		up = up || d.Direction == "up" && strings.Contains(d.Reason, "inFlight")
		down = down || d.Direction == "down"
	}
	if !up || !down {
		t.Fatalf("history should show a scale up and a scale down with reasons: %+v", st.History)
	}
	f.mu.Lock()
	calls := f.calls
	f.mu.Unlock()
	t.Logf("grew in %s; %d requests; actuator calls %v", grown, load.ok.Load(), calls)

	resp, err := http.Get("http://" + u.addrs["admin"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`usher_autoscale_desired_servers{service="app"} 1`, `usher_autoscale_decisions_total{direction="up",service="app"}`, `usher_autoscale_panic{service="app"}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	if !strings.Contains(u.logText(), `"msg":"autoscale decision"`) {
		t.Errorf("no autoscale decision in the log")
	}

	// A reload with another policy keeps the autoscaler: its server, its
	// history, no new actuation.
	cfg := config(autoscaleConfig, "min", "1", "queue", "", "cmd", scalectl(t), "ctl", f.ctl.URL)
	if l := u.rewrite(strings.Replace(cfg, "cooldown: 1s", "cooldown: 2s", 1)); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	after := scaleStatus(t, u.addrs["admin"], "app")
	if after.Servers != 1 || after.Ready != 1 || len(after.History) != len(st.History) {
		t.Fatalf("after a reload: %+v, before: %+v", after, st)
	}
	if code, body := get(t, u.url("web")+"/"); code != 200 || body != "ok" {
		t.Fatalf("after a reload: %d %q", code, body)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) != len(calls) {
		t.Fatalf("the reload called the actuator again: %v", f.calls)
	}
}

// TestAutoscaleFromZero scales a pool from zero: the first request waits in
// the queue while the actuator starts a server, and is answered by it; the
// pool goes back to zero once idle.
func TestAutoscaleFromZero(t *testing.T) {
	f := newFleet(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "warm") })
	u := startUsher(t, config(autoscaleConfig, "min", "0", "queue", "queue: { maxSize: 10, timeout: 10s }", "cmd", scalectl(t), "ctl", f.ctl.URL))
	within(t, 5*time.Second, "the actuator told 0", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.calls) > 0
	})
	if st := scaleStatus(t, u.addrs["admin"], "app"); st.Servers != 0 {
		t.Fatalf("min 0 starts with no server: %+v", st)
	}
	start := time.Now()
	code, body := get(t, u.url("web")+"/")
	if code != 200 || body != "warm" {
		t.Fatalf("the first request: %d %q, want 200 warm", code, body)
	}
	t.Logf("cold start in %s", time.Since(start))
	within(t, 10*time.Second, "back to zero once idle", func() bool {
		st := scaleStatus(t, u.addrs["admin"], "app")
		return st.Servers == 0 && st.Desired == 0
	})
}

// TestDashboardShowsAutoscale: the autoscale panel shows a service's
// desired and ready counts and its mode.
func TestDashboardShowsAutoscale(t *testing.T) {
	needChromium(t)
	f := newFleet(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	cfg := config(autoscaleConfig, "min", "2", "queue", "", "cmd", scalectl(t), "ctl", f.ctl.URL)
	cfg = strings.Replace(cfg, `admin: { address: "127.0.0.1:0" }`, `admin: { address: "127.0.0.1:0", dashboard: true }`, 1)
	u := startUsher(t, cfg)
	ctx := openDashboard(t, u.addrs["admin"], 30*time.Second)
	row := `document.querySelector('tr[data-autoscale="app"]')`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!`+row+` && !!`+row+`.querySelector('[data-desired="2"]') && !!`+row+`.querySelector('[data-ready="2"]') && !!`+row+`.querySelector('[data-mode="stable"]')`)); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#autoscale`)))
		t.Fatalf("the autoscale panel never showed app at 2 ready, stable: %v\n%s", err, got)
	}
}

// TestAutoscaleActuatorFails: an actuator that fails is logged with its
// stderr, shown in the admin API and retried; a request waiting for a
// first server meanwhile gets 503 with Retry-After when its wait is over.
func TestAutoscaleActuatorFails(t *testing.T) {
	f := newFleet(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	f.mu.Lock()
	f.fail = true
	f.mu.Unlock()
	u := startUsher(t, config(autoscaleConfig, "min", "0", "queue", "queue: { maxSize: 10, timeout: 300ms }", "cmd", scalectl(t), "ctl", f.ctl.URL))
	resp, err := http.Get(u.url("web") + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a request with no server to come: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	within(t, 5*time.Second, "the failure in the admin API", func() bool {
		return strings.Contains(scaleStatus(t, u.addrs["admin"], "app").LastError, "the fleet is down")
	})
	within(t, 5*time.Second, "the failure in the log, with stderr", func() bool {
		return strings.Contains(u.logText(), `"msg":"autoscale actuator failed, retrying"`) && strings.Contains(u.logText(), "the fleet is down")
	})
	// The fleet is back: the retry (after its backoff) brings a server.
	f.mu.Lock()
	f.fail = false
	f.mu.Unlock()
	within(t, 10*time.Second, "a server after the retry", func() bool {
		code, _ := get(t, u.url("web")+"/")
		return code == 200
	})
}
