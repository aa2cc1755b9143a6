package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitMsg reads usher's log until a line with message msg, and returns it.
func (u *usher) waitMsg(msg string, timeout time.Duration) logLine {
	u.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-u.lines:
			if !ok {
				u.t.Fatalf("usher exited; log:\n%s", u.logText())
			}
			if l.msg() == msg {
				return l
			}
		case <-deadline:
			u.t.Fatalf("no log line %q in %s; log:\n%s", msg, timeout, u.logText())
		}
	}
}

type deployView struct {
	Service  string
	Mode     string
	Services []struct {
		Name     string
		Weight   int
		Share    float64
		InFlight int64
		State    string
	}
	Canary *struct {
		State  string
		Step   int
		Weight int
		Reason string
	}
	History []struct {
		Action string
		Reason string
	}
}

func deployStatus(t *testing.T, u *usher, name string) deployView {
	t.Helper()
	resp, err := http.Get("http://" + u.addrs["admin"] + "/api/http/deployments/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v deployView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("deployment %s: %d %v", name, resp.StatusCode, err)
	}
	return v
}

func (v deployView) actions() string {
	var a []string
	for _, e := range v.History {
		a = append(a, e.Action)
	}
	return strings.Join(a, " ")
}

// load sends GETs to url from a few clients until stop is closed, and
// counts the answers by body.
type load struct {
	mu     sync.Mutex
	bodies map[string]int
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startLoad(url string, clients int) *load {
	l := &load{bodies: map[string]int{}, stop: make(chan struct{})}
	for range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c := &http.Client{Timeout: 5 * time.Second}
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := c.Get(url)
				if err != nil {
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				l.mu.Lock()
				l.bodies[fmt.Sprintf("%d %s", resp.StatusCode, b)]++
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *load) end() map[string]int {
	close(l.stop)
	l.wg.Wait()
	return l.bodies
}

const canaryTpl = `
admin: { address: "127.0.0.1:0" }
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    shop: { rule: "PathPrefix(` + "`/`" + `)", service: shop }
{{extra}}
  services:
    shop:
      weighted:
        services: [ { name: stable, weight: 100 }, { name: next, weight: 0 } ]
        canary: { service: next, steps: {{steps}}, interval: 300ms, maxErrorRate: 1%, maxP99: 1s, minRequests: 5 }
    stable: { loadBalancer: { servers: [ { url: "{{stable}}" } ] } }
    next:   { loadBalancer: { servers: [ { url: "{{next}}" } ] } }
`

// TestCanaryHealthyPromotedThroughEveryStep: a healthy canary goes 5, 25,
// 50, 100 under load, judged every 300ms on its own figures, and then
// takes all the traffic; the admin API, the events and the CLI tell it.
func TestCanaryHealthyPromotedThroughEveryStep(t *testing.T) {
	stable, next := backend(t, "stable"), backend(t, "next")
	u := startUsher(t, config(canaryTpl, "stable", stable.URL, "next", next.URL, "steps", "[5, 25, 50, 100]", "extra", ""))
	if v := deployStatus(t, u, "shop"); v.Canary == nil || v.Canary.State != "progressing" || v.Canary.Weight != 5 {
		t.Fatalf("at start: %+v", v.Canary)
	}
	l := startLoad(u.url("web")+"/", 4)
	u.waitMsg("canary: promoted", 60*time.Second)
	got := l.end()
	if got["200 next"] == 0 || got["200 stable"] == 0 || len(got) != 2 {
		t.Fatalf("answers during the canary: %v", got)
	}
	v := deployStatus(t, u, "shop")
	if v.Canary.State != "promoted" || v.Canary.Weight != 100 || v.Mode != "canary" {
		t.Fatalf("after: %+v", v.Canary)
	}
	if a := strings.ReplaceAll(v.actions(), " wait", ""); a != "start step step step promoted" {
		t.Fatalf("history: %s", v.actions())
	}
	for i := range 20 {
		if code, body := get(t, u.url("web")+"/"); code != 200 || body != "next" {
			t.Fatalf("request %d after promotion: %d %s", i, code, body)
		}
	}
	ev := eventsUntil(t, "http://"+u.addrs["admin"], `"to":"promoted (100%)"`)
	if !strings.Contains(ev, `"type":"canary"`) || !strings.Contains(ev, `"from":"step 1 of 4 (5%)","to":"step 2 of 4 (25%)"`) {
		t.Fatalf("events:\n%s", ev)
	}
	out := runCLI(t, "canary", "status", "shop", "--admin", u.addrs["admin"])
	if !strings.Contains(out, "canary next: promoted, step 4 of 4 [5 25 50 100], 100% of the traffic") || !strings.Contains(out, "met the thresholds") {
		t.Fatalf("usher canary status:\n%s", out)
	}
}

// TestCanaryFailingRolledBackAtOnce: a canary answering 500 loses all its
// traffic at its first verdict; its state survives a reload that keeps the
// canary, a changed canary starts afresh, and the CLI restarts and aborts.
func TestCanaryFailingRolledBackAtOnce(t *testing.T) {
	stable := backend(t, "stable")
	next := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		io.WriteString(w, "next")
	})
	vars := []string{"stable", stable.URL, "next", next.URL, "steps", "[20, 50, 100]", "extra", ""}
	u := startUsher(t, config(canaryTpl, vars...))
	l := startLoad(u.url("web")+"/", 4)
	line := u.waitMsg("canary: rolled back", 30*time.Second)
	if r, _ := line["reason"].(string); !strings.Contains(r, "is above maxErrorRate 1%") && !strings.Contains(r, "more than maxErrorRate 1%") {
		t.Fatalf("reason: %v", line)
	}
	got := l.end()
	if got["500 next"] == 0 {
		t.Fatalf("the canary got no traffic: %v", got)
	}
	v := deployStatus(t, u, "shop")
	// A wait may come first, on a loaded machine where the first 300ms saw
	// fewer than minRequests and no error.
	if v.Canary.State != "rolledBack" || v.Canary.Weight != 0 || strings.ReplaceAll(v.actions(), " wait", "") != "start rollback" {
		t.Fatalf("after: %+v %s", v.Canary, v.actions())
	}
	for i := range 50 {
		if code, body := get(t, u.url("web")+"/"); code != 200 || body != "stable" {
			t.Fatalf("request %d after the rollback: %d %s", i, code, body)
		}
	}
	// A reload that keeps the canary keeps its state.
	extra := `    other: { rule: "PathPrefix(` + "`/other`" + `)", service: stable }`
	if l := u.rewrite(config(canaryTpl, append(vars[:6:6], "extra", extra)...)); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	if v := deployStatus(t, u, "shop"); v.Canary.State != "rolledBack" || strings.ReplaceAll(v.actions(), " wait", "") != "start rollback" {
		t.Fatalf("after a reload: %+v", v.Canary)
	}
	// Promote by hand restarts it; abort takes its traffic again.
	if out := runCLI(t, "canary", "promote", "shop", "--admin", u.addrs["admin"]); !strings.Contains(out, "progressing, step 1 of 3") {
		t.Fatalf("usher canary promote:\n%s", out)
	}
	if out := runCLI(t, "canary", "abort", "shop", "--admin", u.addrs["admin"]); !strings.Contains(out, "canary next: aborted") || !regexp.MustCompile(`stable +100.0%`).MatchString(out) {
		t.Fatalf("usher canary abort:\n%s", out)
	}
	// A changed canary starts afresh.
	if l := u.rewrite(config(canaryTpl, "stable", stable.URL, "next", next.URL, "steps", "[10, 100]", "extra", extra)); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	if v := deployStatus(t, u, "shop"); v.Canary.State != "progressing" || v.Canary.Weight != 10 || v.actions() != "start" {
		t.Fatalf("after a changed canary: %+v %s", v.Canary, v.actions())
	}
}
