package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Everything the Docker tests make on the engine is named with this prefix,
// so that what an interrupted run left is found and removed by name.
const dockerPrefix = "usher-test-docker-"

// dockerEnv is a test's share of the engine: a network, an image of
// test/testdata/dockerapp (a static binary FROM scratch), and a label value
// that usher's constraints select, so that containers of another run on
// the same engine stay out.
type dockerEnv struct {
	t       *testing.T
	network string
	image   string
	run     string
}

// docker runs the docker CLI and returns its trimmed output.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// removeDockerLeftovers removes, by name, the containers, networks and
// images of the Docker tests.
func removeDockerLeftovers() {
	list := func(args ...string) []string {
		out, _ := exec.Command("docker", args...).Output()
		return strings.Fields(string(out))
	}
	if ids := list("ps", "-aq", "--filter", "name="+dockerPrefix); len(ids) > 0 {
		exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
	}
	if ids := list("network", "ls", "-q", "--filter", "name="+dockerPrefix); len(ids) > 0 {
		exec.Command("docker", append([]string{"network", "rm"}, ids...)...).Run()
	}
	if ids := list("images", "-q", "--filter", "reference="+dockerPrefix+"*"); len(ids) > 0 {
		exec.Command("docker", append([]string{"rmi", "-f"}, ids...)...).Run()
	}
}

var (
	dockerAppOnce sync.Once
	dockerAppBin  []byte
	dockerAppErr  error
)

// dockerApp is the static test server, built once.
func dockerApp() ([]byte, error) {
	dockerAppOnce.Do(func() {
		dir, err := os.MkdirTemp("", "usher-test-dockerapp-")
		if err != nil {
			dockerAppErr = err
			return
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "app")
		build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./testdata/dockerapp")
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if out, err := build.CombinedOutput(); err != nil {
			dockerAppErr = fmt.Errorf("build the test server: %v\n%s", err, out)
			return
		}
		dockerAppBin, dockerAppErr = os.ReadFile(bin)
	})
	return dockerAppBin, dockerAppErr
}

// dockerfile makes the test image: the server alone, FROM scratch, its own
// health check (the image has no shell), quick to decide.
const dockerfile = `FROM scratch
COPY app /app
EXPOSE 8080
HEALTHCHECK --interval=200ms --timeout=1s --retries=1 CMD ["/app", "-check"]
ENTRYPOINT ["/app"]
`

// newDockerEnv skips the test when no engine answers; otherwise it removes
// what an interrupted run left, makes the network and the image, and
// removes them, with every container of the prefix, when the test ends.
func newDockerEnv(t *testing.T) *dockerEnv {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("skipped: no docker CLI on this machine, so no Docker engine to test the docker provider with")
	}
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.APIVersion}}").CombinedOutput(); err != nil {
		t.Skipf("skipped: no Docker engine is reachable (docker version: %v: %s)", err, bytes.TrimSpace(out))
	}
	removeDockerLeftovers()
	t.Cleanup(removeDockerLeftovers)
	bin, err := dockerApp()
	if err != nil {
		t.Fatal(err)
	}
	e := &dockerEnv{t: t, run: fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)}
	e.network = dockerPrefix + "net-" + e.run
	e.image = dockerPrefix + "app:" + e.run
	ctxDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctxDir, "app"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	docker(t, "build", "-q", "-t", e.image, ctxDir)
	docker(t, "network", "create", e.network)
	return e
}

// start runs a container of the test image named prefix+name, with the
// labels given as key=value, NAME=name in its environment and 1s of
// draining after SIGTERM, without health check; extra are more `docker run`
// flags.
func (e *dockerEnv) start(name string, labels []string, extra ...string) string {
	e.t.Helper()
	return e.startChecked(name, labels, append([]string{"--no-healthcheck"}, extra...)...)
}

// startChecked is start with the image's health check.
func (e *dockerEnv) startChecked(name string, labels []string, extra ...string) string {
	e.t.Helper()
	args := []string{"run", "-d", "--name", dockerPrefix + name, "--network", e.network,
		"-e", "NAME=" + name, "-e", "DRAIN=1s", "-l", "usher-test.run=" + e.run}
	for _, l := range labels {
		args = append(args, "-l", l)
	}
	args = append(args, extra...)
	return docker(e.t, append(args, e.image)...)
}

func (e *dockerEnv) stop(name string) {
	e.t.Helper()
	docker(e.t, "stop", "-t", "10", dockerPrefix+name)
}

// ip is the container's address on the test's network, which the host
// reaches on Linux.
func (e *dockerEnv) ip(name string) string {
	e.t.Helper()
	return docker(e.t, "inspect", "-f", fmt.Sprintf(`{{(index .NetworkSettings.Networks %q).IPAddress}}`, e.network), dockerPrefix+name)
}

// usherConfig is usher with the docker provider on the test's network and
// containers, and a router of its own file beside.
func (e *dockerEnv) usherConfig(fileBackend string) string {
	return fmt.Sprintf(`
entrypoints:
  web: { address: "127.0.0.1:0" }
admin: { address: "127.0.0.1:0" }
providers:
  docker:
    network: %s
    constraints: "Label(`+"`usher-test.run`, `%s`"+`)"
http:
  routers:
    fromfile: { rule: "Path(`+"`/file`"+`)", service: fromfile }
  services:
    fromfile: { loadBalancer: { servers: [ { url: "%s" } ] } }
`, e.network, e.run, fileBackend)
}

var dockerClient = &http.Client{Timeout: 5 * time.Second}

// hostGet sends GET url with that Host: the status and the body, or 0 and
// the error.
func hostGet(url, host string) (int, string) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err.Error()
	}
	req.Host = host
	resp, err := dockerClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// within waits until cond holds, for at most limit, and says how long it took.
func within(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// seenAll reports whether GETs to url with host reach every one of names
// (and nothing else) within a few tries.
func seenAll(url, host string, names ...string) bool {
	seen := map[string]bool{}
	for range 8 * len(names) {
		code, body := hostGet(url, host)
		if code != http.StatusOK {
			return false
		}
		seen[body] = true
	}
	if len(seen) != len(names) {
		return false
	}
	for _, n := range names {
		if !seen[n] {
			return false
		}
	}
	return true
}

func shopLabels(extra ...string) []string {
	return append([]string{
		"usher.enable=true",
		"usher.http.routers.shop.rule=Host(`shop.test`)",
		"usher.http.services.shop.loadBalancer.server.port=8080",
	}, extra...)
}

// Containers become routes and leave them within a second; replicas with
// one service label are one pool; the file's routers stay beside them; a
// container with a broken label is left out, named with its label, and
// nothing else is.
func TestDockerRoutesFollowContainers(t *testing.T) {
	e := newDockerEnv(t)
	fileBE := backend(t, "file")
	u := startUsher(t, e.usherConfig(fileBE.URL))
	web := u.url("web")

	if code, _ := hostGet(web+"/", "shop.test"); code != http.StatusNotFound {
		t.Fatalf("before any container: %d, want 404", code)
	}
	defer func() {
		if t.Failed() {
			t.Log(u.logText())
		}
	}()
	e.start("shop-a", shopLabels())
	took := within(t, time.Second, "shop-a routed", func() bool { return seenAll(web+"/", "shop.test", "shop-a") })
	t.Logf("route appeared %v after docker run returned", took)

	e.start("shop-b", shopLabels())
	within(t, time.Second, "shop-b joins the pool", func() bool { return seenAll(web+"/", "shop.test", "shop-a", "shop-b") })

	// No service label: a service named after the container, here its
	// compose service.
	e.start("plain-1", []string{"usher.enable=true", "usher.http.routers.plain.rule=Host(`plain.test`)", "com.docker.compose.service=plain"})
	within(t, time.Second, "plain routed", func() bool { return seenAll(web+"/", "plain.test", "plain-1") })
	// Not enabled: left alone.
	e.start("ignored", []string{"usher.http.routers.ignored.rule=Host(`ignored.test`)"})

	u.drainLog()
	e.start("broken", []string{"usher.enable=true", "usher.http.routers.broken.rule=Host(`broken.test`"})
	var warned string
	within(t, 2*time.Second, "the broken label reported", func() bool {
		for _, l := range strings.Split(u.logText(), "\n") {
			if strings.Contains(l, "container left out") && strings.Contains(l, dockerPrefix+"broken") {
				warned = l
				return true
			}
		}
		return false
	})
	if !strings.Contains(warned, `label usher.http.routers.broken.rule: http.routers.broken.rule:`) {
		t.Errorf("the problem does not name the label: %s", warned)
	}
	if !seenAll(web+"/", "shop.test", "shop-a", "shop-b") || !seenAll(web+"/", "plain.test", "plain-1") {
		t.Error("a broken container took down the others")
	}
	if code, body := get(t, web+"/file"); code != http.StatusOK || body != "file" {
		t.Errorf("the file's router: %d %q", code, body)
	}
	if code, _ := hostGet(web+"/", "ignored.test"); code != http.StatusNotFound {
		t.Errorf("a container without usher.enable=true was routed: %d", code)
	}

	// Where each router came from.
	resp, err := http.Get("http://" + u.addrs["admin"] + "/api/http/routers")
	if err != nil {
		t.Fatal(err)
	}
	var routers []map[string]any
	json.NewDecoder(resp.Body).Decode(&routers)
	resp.Body.Close()
	from := map[string]any{}
	for _, r := range routers {
		from[r["name"].(string)] = r["provider"]
	}
	if from["shop"] != "docker" || from["plain"] != "docker" || from["fromfile"] != "file" {
		t.Errorf("providers of routers: %v", from)
	}

	e.stop("shop-a")
	took = within(t, time.Second, "shop-a leaves", func() bool { return seenAll(web+"/", "shop.test", "shop-b") })
	t.Logf("a stopped container left the pool %v after docker stop returned", took)
	docker(t, "rm", "-f", dockerPrefix+"shop-b")
	within(t, time.Second, "the route goes with the last container", func() bool {
		code, _ := hostGet(web+"/", "shop.test")
		return code == http.StatusNotFound
	})
}

// A container whose health check is starting gets no traffic; one turned
// unhealthy leaves the pool.
func TestDockerHealth(t *testing.T) {
	e := newDockerEnv(t)
	u := startUsher(t, e.usherConfig(backend(t, "file").URL))
	web := u.url("web")
	e.startChecked("steady", shopLabels())
	within(t, 5*time.Second, "steady healthy and routed", func() bool { return seenAll(web+"/", "shop.test", "steady") })

	// Failures in the start period leave it "starting" until it is ready.
	e.startChecked("slow", shopLabels(), "-e", "READY_AFTER=1500ms", "--health-start-period", "2500ms")
	// While it starts, all traffic stays on steady. The status is read after
	// each answer: the health only moves forward, so "starting" read after
	// the answer means slow was starting when usher chose the server. (Read
	// before, the status could turn healthy between the read and the request.)
	checked := 0
	for {
		code, body := hostGet(web+"/", "shop.test")
		if docker(t, "inspect", "-f", "{{.State.Health.Status}}", dockerPrefix+"slow") != "starting" {
			break
		}
		checked++
		if code != http.StatusOK || body != "steady" {
			t.Fatalf("while slow is starting: %d %q", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if checked < 3 {
		t.Fatalf("slow was seen starting only %d times: the test proves nothing", checked)
	}
	within(t, time.Second, "slow joins once healthy", func() bool { return seenAll(web+"/", "shop.test", "steady", "slow") })

	resp, err := http.Post("http://"+e.ip("slow")+":8080/sick", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	within(t, 5*time.Second, "unhealthy slow leaves the pool", func() bool {
		return docker(t, "inspect", "-f", "{{.State.Health.Status}}", dockerPrefix+"slow") == "unhealthy" &&
			seenAll(web+"/", "shop.test", "steady")
	})
}

// A rolling replacement (start the new container, then stop the old one)
// loses no request: the stopped container's server leaves the pool on its
// stop signal and drains.
func TestDockerRollingUpdateLosesNothing(t *testing.T) {
	e := newDockerEnv(t)
	u := startUsher(t, e.usherConfig(backend(t, "file").URL))
	web := u.url("web")

	e.start("v1", shopLabels())
	within(t, 2*time.Second, "v1 routed", func() bool { return seenAll(web+"/", "shop.test", "v1") })

	var total, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, body := hostGet(web+"/", "shop.test")
				total.Add(1)
				if code != http.StatusOK {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %s", code, body))
				}
			}
		}()
	}
	for _, step := range [][2]string{{"v1", "v2"}, {"v2", "v3"}} {
		old, next := step[0], step[1]
		e.start(next, shopLabels())
		within(t, 2*time.Second, next+" joins", func() bool { return seenAll(web+"/", "shop.test", old, next) })
		e.stop(old)
		within(t, 2*time.Second, old+" leaves", func() bool { return seenAll(web+"/", "shop.test", next) })
	}
	close(stop)
	wg.Wait()
	t.Logf("%d requests during two replacements, %d failed", total.Load(), failed.Load())
	if failed.Load() > 0 {
		t.Errorf("%d of %d requests failed during the rolling update; first: %v", failed.Load(), total.Load(), firstErr.Load())
	}
	if total.Load() < 50 {
		t.Errorf("only %d requests: the client loop did not run", total.Load())
	}
}
