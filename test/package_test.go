package test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The packaging tests name what they make on the engine with this prefix
// (another than the Docker provider's tests, which remove theirs by name).
const packPrefix = "usher-test-pack-"

// removePackLeftovers removes, by name, the containers, networks and
// images of the packaging tests, and compose projects of that prefix.
func removePackLeftovers() {
	list := func(args ...string) []string {
		out, _ := exec.Command("docker", args...).Output()
		return strings.Fields(string(out))
	}
	ids := list("ps", "-aq", "--filter", "name="+packPrefix)
	ids = append(ids, list("ps", "-aq", "--filter", "label=com.docker.compose.project")...)
	var mine []string
	for _, id := range ids {
		out, _ := exec.Command("docker", "inspect", "-f", `{{.Name}} {{index .Config.Labels "com.docker.compose.project"}}`, id).Output()
		if strings.Contains(string(out), packPrefix) {
			mine = append(mine, id)
		}
	}
	if len(mine) > 0 {
		exec.Command("docker", append([]string{"rm", "-f"}, mine...)...).Run()
	}
	if ids := list("network", "ls", "-q", "--filter", "name="+packPrefix); len(ids) > 0 {
		exec.Command("docker", append([]string{"network", "rm"}, ids...)...).Run()
	}
	if ids := list("images", "-q", "--filter", "reference="+packPrefix+"*"); len(ids) > 0 {
		exec.Command("docker", append([]string{"rmi", "-f"}, ids...)...).Run()
	}
}

// needEngine skips the test when no Docker engine answers.
func needEngine(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("skipped: no docker CLI on this machine, so no Docker engine to build and run the image with")
	}
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.APIVersion}}").CombinedOutput(); err != nil {
		t.Skipf("skipped: no Docker engine is reachable (docker version: %v: %s)", err, bytes.TrimSpace(out))
	}
}

// finalStage is the instructions of a Dockerfile's last stage, without
// comments, with --from=build and the build stage's /out/ taken out so
// that the two-stage Dockerfile and the scratch one compare.
func finalStage(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stage []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "FROM ") {
			stage = nil
		}
		l = strings.ReplaceAll(l, " --from=build", "")
		l = strings.ReplaceAll(l, " /out/", " ")
		stage = append(stage, l)
	}
	return stage
}

// The Dockerfile of machines with the golang image and the scratch one of
// scripts/image.sh make the same image.
func TestDockerfileFinalStages(t *testing.T) {
	root := finalStage(t, "../Dockerfile")
	scratch := finalStage(t, "../packaging/Dockerfile.scratch")
	if strings.Join(root, "\n") != strings.Join(scratch, "\n") {
		t.Fatalf("the last stages differ:\nDockerfile:\n%s\n\npackaging/Dockerfile.scratch:\n%s", strings.Join(root, "\n"), strings.Join(scratch, "\n"))
	}
	for _, want := range []string{"FROM scratch", "USER 65532:65532", `HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/usher", "healthcheck"]`, `ENTRYPOINT ["/usher"]`, "EXPOSE 8080"} {
		found := false
		for _, l := range root {
			found = found || l == want
		}
		if !found {
			t.Errorf("the image lacks %q", want)
		}
	}
	b, _ := os.ReadFile("../Dockerfile")
	for _, want := range []string{"FROM golang:", "CGO_ENABLED=0", "-trimpath", "-X main.version=", "ca-certificates.crt"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("the Dockerfile's build stage lacks %q", want)
		}
	}
}

// buildImages runs scripts/image.sh for images of the prefix.
func buildImages(t *testing.T, run string) (usherImage, demoImage string) {
	t.Helper()
	usherImage, demoImage = packPrefix+"usher:"+run, packPrefix+"demo:"+run
	cmd := exec.Command("../scripts/image.sh")
	cmd.Env = append(os.Environ(), "USHER_IMAGE="+usherImage, "DEMOAPP_IMAGE="+demoImage, "VERSION=v0.0.0-test")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/image.sh: %v\n%s", err, out)
	}
	return usherImage, demoImage
}

// waitHealth waits until the container's health is want.
func waitHealth(t *testing.T, name, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		out, _ := exec.Command("docker", "inspect", "-f", "{{.State.Health.Status}}", name).Output()
		if last = strings.TrimSpace(string(out)); last == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	logs, _ := exec.Command("docker", "logs", "--tail", "20", name).CombinedOutput()
	health, _ := exec.Command("docker", "inspect", "-f", "{{json .State.Health}}", name).Output()
	t.Fatalf("container %s: health %q after %v, want %q\nhealth: %s\nlogs:\n%s", name, last, within, want, health, logs)
}

// containerIP is the container's address on network.
func containerIP(t *testing.T, name, network string) string {
	t.Helper()
	return docker(t, "inspect", "-f", fmt.Sprintf(`{{(index .NetworkSettings.Networks %q).IPAddress}}`, network), name)
}

// The image built as the README says, with the real engine: it runs as
// 65532, its HEALTHCHECK (usher healthcheck, no shell in the image) turns
// healthy, it proxies to a backend container, and `usher version` tells
// the version it was built with.
func TestImage(t *testing.T) {
	needEngine(t)
	removePackLeftovers()
	t.Cleanup(removePackLeftovers)
	run := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	usherImage, demoImage := buildImages(t, run)

	if user := docker(t, "image", "inspect", "-f", "{{.Config.User}}", usherImage); user != "65532:65532" {
		t.Fatalf("image user %q, want 65532:65532", user)
	}
	if out := docker(t, "run", "--rm", usherImage, "version"); !strings.HasPrefix(out, "usher v0.0.0-test\n") || !strings.Contains(out, "CGO_ENABLED=0") {
		t.Fatalf("usher version in the image:\n%s", out)
	}

	network := packPrefix + "net-" + run
	docker(t, "network", "create", network)
	app := packPrefix + "app-" + run
	docker(t, "run", "-d", "--name", app, "--network", network, "-e", "NAME=backend-1", demoImage)

	dir := t.TempDir()
	os.Chmod(dir, 0o755) // the image's user reads it
	cfg := fmt.Sprintf(`
entrypoints:
  web: { address: ":8080" }
admin: { address: "127.0.0.1:9090", token: not-needed-by-the-probe }
dataDir: /var/lib/usher
http:
  routers: { app: { rule: "PathPrefix(`+"`/`"+`)", service: app } }
  services: { app: { loadBalancer: { servers: [ { url: "http://%s:8080" } ] } } }
`, app)
	if err := os.WriteFile(filepath.Join(dir, "usher.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	name := packPrefix + "usher-" + run
	docker(t, "run", "-d", "--name", name, "--network", network, "-v", dir+":/etc/usher:ro",
		"--health-interval=300ms", "--health-start-period=0s", usherImage)
	waitHealth(t, name, "healthy", 30*time.Second)

	url := "http://" + containerIP(t, name, network) + ":8080/hello"
	code, body := hostGet(url, "example.com")
	if code != 200 || body != "backend-1: GET /hello\n" {
		t.Fatalf("GET through usher's container: %d %q", code, body)
	}
	// The probe as an operator runs it, and its one-line reason when the
	// admin is not where it asks.
	if out, err := exec.Command("docker", "exec", name, "/usher", "healthcheck", "--address", "127.0.0.1:9090").CombinedOutput(); err != nil {
		t.Fatalf("docker exec usher healthcheck: %v: %s", err, out)
	}
	if out, err := exec.Command("docker", "exec", name, "/usher", "healthcheck", "--address", "127.0.0.1:9999", "--timeout", "1s").CombinedOutput(); err == nil ||
		!strings.HasPrefix(string(out), "unhealthy: admin at 127.0.0.1:9999 does not answer") {
		t.Fatalf("healthcheck of nothing in the container: %v: %s", err, out)
	}
}

// The systemd unit reads without a warning (systemd-analyze verify), and
// holds what it promises: no privilege but CAP_NET_BIND_SERVICE, the
// hardening options, reload by SIGHUP (usher run reloads on it).
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile("../packaging/usher.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"DynamicUser=yes", "AmbientCapabilities=CAP_NET_BIND_SERVICE\n", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n",
		"NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes",
		"ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectKernelLogs=yes",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK\n", "StateDirectory=usher",
		"ExecReload=/bin/kill -HUP $MAINPID", "LimitNOFILE=",
	} {
		if !bytes.Contains(unit, []byte(want)) {
			t.Errorf("packaging/usher.service lacks %q", strings.TrimSpace(want))
		}
	}
	if n := len(regexp.MustCompile(`(?m)^(Ambient|CapabilityBounding)\S*=`).FindAll(unit, -1)); n != 2 {
		t.Errorf("%d capability lines, want exactly the two above", n)
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("skipped the verification: no systemd-analyze on this machine (the unit's keys were checked)")
	}
	// verify wants ExecStart's binary to exist: the unit is verified with
	// the one this test built.
	dir := t.TempDir()
	path := filepath.Join(dir, "usher.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/local/bin/usher"), []byte(usherBin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// compose runs docker-compose (or docker compose) on packaging/compose.yaml
// with env: its output, false when neither is installed, and its error.
func compose(t *testing.T, env []string, args ...string) (string, bool, error) {
	t.Helper()
	var cmd *exec.Cmd
	if _, err := exec.LookPath("docker-compose"); err == nil {
		cmd = exec.Command("docker-compose", append([]string{"-f", "compose.yaml"}, args...)...)
	} else if exec.Command("docker", "compose", "version").Run() == nil {
		cmd = exec.Command("docker", append([]string{"compose", "-f", "compose.yaml"}, args...)...)
	} else {
		return "", false, nil
	}
	cmd.Dir = "../packaging"
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), true, err
}

// packaging/compose.yaml parses, and brought up with the images of
// scripts/image.sh it serves both demo apps from their labels (app-b's two
// replicas as one pool).
func TestCompose(t *testing.T) {
	if out, ok, err := compose(t, nil, "config", "-q"); !ok {
		t.Skip("skipped: neither docker-compose nor docker compose is installed")
	} else if err != nil {
		t.Fatalf("compose config: %v\n%s", err, out)
	}
	needEngine(t)
	removePackLeftovers()
	t.Cleanup(removePackLeftovers)
	run := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	usherImage, demoImage := buildImages(t, run)
	gid := "0"
	if fi, err := os.Stat("/var/run/docker.sock"); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			gid = fmt.Sprint(st.Gid)
		}
	}
	addr := freeAddr(t)
	project := packPrefix + "compose-" + run
	env := []string{"USHER_IMAGE=" + usherImage, "DEMOAPP_IMAGE=" + demoImage, "USHER_PORT=" + addr, "DOCKER_GID=" + gid}
	t.Cleanup(func() { compose(t, env, "-p", project, "down", "-t", "1") })
	if out, _, err := compose(t, env, "-p", project, "up", "-d"); err != nil {
		t.Fatalf("compose up: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	seen := map[string]bool{}
	var a string
	for time.Now().Before(deadline) && (a == "" || len(seen) < 2) {
		if code, body := hostGet("http://"+addr+"/", "a.localhost"); code == 200 {
			a = body
		}
		if code, body := hostGet("http://"+addr+"/b/hello", "localhost"); code == 200 && strings.HasSuffix(body, ": GET /hello\n") {
			seen[body] = true
		}
		time.Sleep(100 * time.Millisecond)
	}
	if a != "app-a: GET /\n" || len(seen) < 2 {
		logs, _, _ := compose(t, env, "-p", project, "logs", "--tail", "20", "usher")
		t.Fatalf("after 30s: a.localhost answered %q, /b/hello by %d replicas (%v)\nusher's log:\n%s", a, len(seen), seen, logs)
	}
}
