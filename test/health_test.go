package test

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestServerAnswering500sIsEjectedAndComesBack(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	var sickHits atomic.Int32
	sick := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		sickHits.Add(1)
		if failing.Load() {
			w.WriteHeader(500)
			return
		}
		io.WriteString(w, "sick")
	})
	good := backend(t, "good")
	u := startUsher(t, config(lbTpl, "addr", "127.0.0.1:0", "servers", serverList(sick.URL, good.URL),
		"extra", "passiveHealthCheck: { maxFailures: 3, window: 10s, ejectFor: 1s, on5xx: true }\n        retry: { attempts: 0 }"))
	u.drainLog()
	// Until it is ejected, the sick server answers every other request with a 500.
	fails := 0
	for i := 0; i < 20; i++ {
		if status, _ := get(t, u.url("web")+"/"); status == 500 {
			fails++
		}
	}
	if fails != 3 {
		t.Fatalf("%d requests got a 500; the server should be ejected after its 3rd failure", fails)
	}
	before := sickHits.Load()
	for i := 0; i < 10; i++ {
		if _, body := get(t, u.url("web")+"/"); body != "good" {
			t.Fatalf("request %d while ejected answered %q", i, body)
		}
	}
	if sickHits.Load() != before {
		t.Fatal("the ejected server got requests")
	}
	failing.Store(false)
	// After ejectFor it is readmitted and takes its share again.
	waitFor(t, 5*time.Second, func() bool {
		_, body := get(t, u.url("web")+"/")
		return body == "sick"
	})
	if !strings.Contains(u.logText(), `"to":"ejected"`) {
		t.Errorf("no ejection in the log:\n%s", u.logText())
	}
}

func TestActiveCheckTakesDownADeadServerAndKeepsNewOnesOutUntilTheyPass(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	a := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && !healthy.Load() {
			w.WriteHeader(503)
			return
		}
		io.WriteString(w, "a")
	})
	b := backend(t, "b")
	check := "healthCheck: { path: /healthz, interval: 100ms, timeout: 80ms, healthyAfter: 1, unhealthyAfter: 2 }"
	u := startUsher(t, config(lbTpl, "addr", "127.0.0.1:0", "extra", check, "servers", serverList(a.URL, b.URL)))
	addr := u.addrs["web"]
	healthy.Store(false)
	waitFor(t, 5*time.Second, func() bool {
		for i := 0; i < 4; i++ {
			if _, body := get(t, "http://"+addr+"/"); body == "a" {
				return false
			}
		}
		return true
	})
	// A server added by a reload gets nothing before its first passing probe.
	var cHits atomic.Int32
	var cReady atomic.Bool
	c := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			if !cReady.Load() {
				w.WriteHeader(503)
			}
			return
		}
		cHits.Add(1)
		io.WriteString(w, "c")
	})
	if l := u.rewrite(config(lbTpl, "addr", addr, "extra", check, "servers", serverList(a.URL, b.URL, c.URL))); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	for i := 0; i < 20; i++ {
		get(t, "http://"+addr+"/")
	}
	if n := cHits.Load(); n != 0 {
		t.Fatalf("a new server that never passed a probe got %d requests", n)
	}
	cReady.Store(true)
	waitFor(t, 5*time.Second, func() bool {
		_, body := get(t, "http://"+addr+"/")
		return body == "c"
	})
}

func TestAgentHeaderDrainsAServer(t *testing.T) {
	var state atomic.Value
	state.Store("ready")
	a := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.Header().Set("Usher-State", state.Load().(string))
			return
		}
		io.WriteString(w, "a")
	})
	b := backend(t, "b")
	u := startUsher(t, config(lbTpl, "addr", "127.0.0.1:0", "servers", serverList(a.URL, b.URL),
		"extra", "healthCheck: { path: /healthz, interval: 100ms, timeout: 80ms }"))
	state.Store("drain")
	waitFor(t, 5*time.Second, func() bool {
		for i := 0; i < 4; i++ {
			if _, body := get(t, u.url("web")+"/"); body == "a" {
				return false
			}
		}
		return true
	})
	state.Store("ready")
	waitFor(t, 5*time.Second, func() bool {
		_, body := get(t, u.url("web")+"/")
		return body == "a"
	})
}

func TestWhenNothingIsHealthy(t *testing.T) {
	var up atomic.Bool // both servers answer requests but fail their checks
	mk := func(name string) string {
		return backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/healthz" && !up.Load() {
				w.WriteHeader(503)
				return
			}
			io.WriteString(w, name)
		}).URL
	}
	a, b := mk("a"), mk("b")
	check := "healthCheck: { path: /healthz, interval: 100ms, timeout: 80ms, unhealthyAfter: 1 }"
	u := startUsher(t, config(`
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    strict: { rule: "Path(`+"`/strict`"+`)", service: strict }
    panic:  { rule: "Path(`+"`/panic`"+`)", service: panicky }
  services:
    strict:  { loadBalancer: { {{check}}, servers: [ { url: "{{a}}" }, { url: "{{b}}" } ] } }
    panicky: { loadBalancer: { {{check}}, whenNoHealthy: panic, servers: [ { url: "{{a}}" }, { url: "{{b}}" } ] } }
`, "check", check, "a", a, "b", b))
	waitFor(t, 5*time.Second, func() bool {
		status, _ := get(t, u.url("web")+"/strict")
		return status == 503
	})
	resp, err := http.Get(u.url("web") + "/strict")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("no healthy server: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// In panic mode the requests spread over every server, healthy or not.
	seen := map[string]bool{}
	for i := 0; i < 10; i++ {
		status, body := get(t, u.url("web")+"/panic")
		if status != 200 {
			t.Fatalf("panic mode answered %d", status)
		}
		seen[body] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Fatalf("panic mode used %v, want both servers", seen)
	}
}
