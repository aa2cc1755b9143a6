package test

import (
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// The service of the docker actuator's test; its containers are found by
// the label the actuator puts on them, removed before and after.
const dockerScaleService = "usher-test-docker-scale"

func removeScaledContainers() { removeContainersOf(dockerScaleService) }

// removeContainersOf removes the containers a docker actuator started for
// service.
func removeContainersOf(service string) {
	out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=usher.autoscale.service="+service).Output()
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
	}
}

// TestAutoscaleDocker: the docker actuator starts containers of the test's
// image under load (they serve at once, adopted by their address) and
// removes them when it falls, back to min; nothing is lost meanwhile.
func TestAutoscaleDocker(t *testing.T) {
	e := newDockerEnv(t)
	removeScaledContainers()
	t.Cleanup(removeScaledContainers)
	u := startUsher(t, fmt.Sprintf(`
entrypoints:
  web: { address: "127.0.0.1:0" }
admin: { address: "127.0.0.1:0" }
http:
  routers:
    app: { rule: "PathPrefix(`+"`/`"+`)", service: %[1]s }
  services:
    %[1]s:
      loadBalancer:
        servers: []
        autoscale:
          min: 1
          max: 3
          target: { rps: 40 }
          interval: 100ms
          stableWindow: 2s
          panicWindow: 400ms
          cooldown: 1s
          drainTimeout: 5s
          actuator:
            docker: { image: "%[2]s", network: %[3]s, port: 8080, env: { NAME: scaled, DRAIN: 0s }, labels: { usher-test.run: "%[4]s" } }
`, dockerScaleService, e.image, e.network, e.run))
	admin := u.addrs["admin"]
	t.Logf("env ready")
	w0 := within(t, 20*time.Second, "the first container, min 1", func() bool { return scaleStatus(t, admin, dockerScaleService).Ready == 1 })
	if labels := docker(t, "ps", "--filter", "label=usher.autoscale.service="+dockerScaleService, "--format", "{{.Labels}}"); !strings.Contains(labels, "usher-test.run="+e.run) || !strings.Contains(labels, "usher.enable=false") {
		t.Fatalf("the container's labels: %s", labels)
	}

	var load tally
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
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
					time.Sleep(5 * time.Millisecond) // about 150 requests/s in all: 3 servers at 40
				}
			}
		}()
	}
	w1 := within(t, 20*time.Second, "the pool grows to 3 containers", func() bool { return scaleStatus(t, admin, dockerScaleService).Ready == 3 })
	close(done)
	wg.Wait()
	w2 := within(t, 20*time.Second, "the pool shrinks back to 1 container", func() bool {
		st := scaleStatus(t, admin, dockerScaleService)
		return st.Ready == 1 && st.Servers == 1
	})
	w3 := within(t, 10*time.Second, "the containers removed are gone from the engine", func() bool {
		out := docker(t, "ps", "-aq", "--filter", "label=usher.autoscale.service="+dockerScaleService)
		return len(strings.Fields(out)) == 1
	})
	if n := load.failed.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed (first: %v)", n, n+load.ok.Load(), load.firstErr.Load())
	}
	t.Logf("%d requests; first in %s, grown in %s, shrunk in %s, removed in %s", load.ok.Load(), w0, w1, w2, w3)
}

// TestAutoscaleDockerJoinsThroughProvider: with the Docker provider on the
// engine, the actuator's containers join through it: one whose health
// check is starting gets no traffic, it serves once healthy, leaves the
// pool when unhealthy, and the labels of its template are read as any
// container's (a router that defaults to the autoscaled service).
func TestAutoscaleDockerJoinsThroughProvider(t *testing.T) {
	const service = "usher-test-docker-joined"
	e := newDockerEnv(t)
	removeContainersOf(service)
	t.Cleanup(func() { removeContainersOf(service) })
	cfg := fmt.Sprintf(`
entrypoints:
  web: { address: "127.0.0.1:0" }
admin: { address: "127.0.0.1:0" }
providers:
  docker:
    network: %[3]s
    constraints: "Label(`+"`usher-test.run`, `%[4]s`"+`)"
http:
  routers:
    app: { rule: "PathPrefix(`+"`/`"+`)", service: %[1]s }
  services:
    %[1]s:
      loadBalancer:
        servers: []
        autoscale:
          min: 1
          max: 1
          target: { inFlight: 10 }
          interval: 100ms
          actuator:
            docker:
              image: "%[2]s"
              network: %[3]s
              port: 8080
              env: { NAME: joined, READY_AFTER: 2s, DRAIN: 0s }
              labels:
                usher-test.run: "%[4]s"
                usher.enable: "true"
                usher.http.routers.joined.rule: "Host(`+"`joined.test`"+`)"
                usher.http.routers.joined.priority: "100"
`, service, e.image, e.network, e.run)
	u := startUsher(t, cfg)
	admin := u.addrs["admin"]
	web := u.url("web")
	var id string
	within(t, 20*time.Second, "the actuator started its container", func() bool {
		id = docker(t, "ps", "-q", "--filter", "label=usher.autoscale.service="+service)
		return id != ""
	})
	health := func() string { return docker(t, "inspect", "-f", "{{.State.Health.Status}}", id) }
	// The status is read after each answer: it only moves forward, so
	// "starting" read after means it was starting when usher chose.
	checked := 0
	for {
		code, body := hostGet(web+"/", "any.test")
		if health() != "starting" {
			break
		}
		checked++
		if code != http.StatusServiceUnavailable {
			t.Fatalf("while the container's health is starting: %d %q, want 503", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if checked < 3 {
		t.Fatalf("the container was seen starting only %d times: the test proves nothing", checked)
	}
	within(t, 2*time.Second, "the healthy container serves", func() bool {
		code, body := hostGet(web+"/", "any.test")
		return code == http.StatusOK && body == "joined"
	})
	if code, body := hostGet(web+"/", "joined.test"); code != http.StatusOK || body != "joined" {
		t.Errorf("the router of the template's labels: %d %q", code, body)
	}
	if st := scaleStatus(t, admin, service); st.Ready != 1 || st.Servers != 1 {
		t.Errorf("status once healthy: ready %d of %d servers, want 1 of 1", st.Ready, st.Servers)
	}
	if strings.Contains(u.logText(), "container left out") {
		t.Errorf("the provider refused the actuator's container:\n%s", u.logText())
	}

	ip := docker(t, "inspect", "-f", fmt.Sprintf(`{{(index .NetworkSettings.Networks %q).IPAddress}}`, e.network), id)
	resp, err := http.Post("http://"+ip+":8080/sick", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	within(t, 5*time.Second, "the unhealthy container leaves the pool", func() bool {
		code, _ := hostGet(web+"/", "any.test")
		return health() == "unhealthy" && code == http.StatusServiceUnavailable && scaleStatus(t, admin, service).Ready == 0
	})

	// Docker restarts no unhealthy container: the actuator replaces it when
	// it runs next, here as a restarted usher reaches min again.
	u.stop()
	u = startUsher(t, cfg)
	within(t, 20*time.Second, "a new container replaces the unhealthy one and serves", func() bool {
		code, body := hostGet(u.url("web")+"/", "any.test")
		return code == http.StatusOK && body == "joined"
	})
	if ids := strings.Fields(docker(t, "ps", "-aq", "--filter", "label=usher.autoscale.service="+service)); len(ids) != 1 || strings.HasPrefix(id, ids[0]) {
		t.Errorf("containers of the service after the restart: %v (the unhealthy one was %s)", ids, id)
	}
}
