package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// awaitReloadVerdict waits for usher's next "configuration applied" or
// "configuration refused..." line, the reload being started by the file watch
// or a signal.
func (u *usher) awaitReloadVerdict() logLine {
	u.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-u.lines:
			if !ok {
				u.t.Fatalf("usher exited during reload; log:\n%s", u.logText())
			}
			if m := l.msg(); m == "configuration applied" || strings.HasPrefix(m, "configuration refused") {
				return l
			}
		case <-deadline:
			u.t.Fatalf("no reload verdict; log:\n%s", u.logText())
		}
	}
}

// A config file emptied by a save caught half-way (truncated, not yet
// written), or a file of the directory emptied so, is refused with an error
// naming it, by the watch and by SIGHUP alike, and the running config keeps
// serving; the content written after it is applied.
func TestEmptiedConfigFileIsRefusedAndTheRunningOneServes(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	main := config(`
providers:
  file: { watch: true, directory: conf.d }
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    a: { rule: "Path(`+"`/a`"+`)", service: a }
  services:
    a: { loadBalancer: { servers: [ { url: "{{a}}" } ] } }
`, "a", a.URL)
	dynamic := config(`
http:
  routers:
    b: { rule: "Path(`+"`/b`"+`)", service: b }
  services:
    b: { loadBalancer: { servers: [ { url: "{{b}}" } ] } }
`, "b", b.URL)
	u := startUsher(t, main, "conf.d/b.yaml", dynamic)
	web := u.url("web")
	serves := func(when string) {
		t.Helper()
		for _, p := range []string{"a", "b"} {
			if status, body := get(t, web+"/"+p); status != 200 || body != p {
				t.Fatalf("%s: /%s answered %d %q", when, p, status, body)
			}
		}
	}
	refused := func(l logLine, file string) {
		t.Helper()
		e, _ := l["error"].(string)
		if !strings.HasPrefix(l.msg(), "configuration refused") || !strings.Contains(e, file+": the file is empty") {
			t.Fatalf("want a refusal naming %s, got %v", file, l)
		}
	}
	serves("at start")
	dynPath := filepath.Join(filepath.Dir(u.path), "conf.d", "b.yaml")
	for _, c := range []struct{ path, content string }{{u.path, main}, {dynPath, dynamic}} {
		u.drainLog()
		if err := os.Truncate(c.path, 0); err != nil {
			t.Fatal(err)
		}
		refused(u.awaitReloadVerdict(), c.path)
		serves("with " + filepath.Base(c.path) + " empty")
		u.cmd.Process.Signal(syscall.SIGHUP)
		refused(u.awaitReloadVerdict(), c.path)
		serves("after SIGHUP with " + filepath.Base(c.path) + " empty")
		if err := os.WriteFile(c.path, []byte(" \n\t\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		refused(u.awaitReloadVerdict(), c.path)
		if err := os.WriteFile(c.path, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if l := u.awaitReloadVerdict(); l.msg() != "configuration applied" {
			t.Fatalf("the rewritten %s was not applied: %v", filepath.Base(c.path), l)
		}
		serves("after " + filepath.Base(c.path) + " was written again")
	}
}

// `usher validate` prints every problem of the main file and of the
// directory at once, each at its file and line: a directory it cannot read,
// a secret file that is missing, server URLs whose ports no server listens
// on; the password of a URL is never printed.
func TestValidatePrintsFileProblemsWithTheRest(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "usher.yaml")
	os.WriteFile(path, []byte(`providers:
  file: { directory: conf.d }
admin:
  tokenFile: `+filepath.Join(dir, "no-token")+`
entrypoints:
  web: { address: ":8080" }
http:
  routers:
    api: { rule: "PathPrefix(`+"`/`"+`)", service: api }
  services:
    api:
      loadBalancer:
        servers:
          - url: "http://10.0.0.1:99999"
          - url: "http://10.0.0.1:abc"
          - url: "http://10.0.0.1:"
          - url: "http://10.0.0.1:0"
          - url: "http://admin:hunter2@10.0.0.1:8o80"
`), 0o644)
	out, err := exec.Command(usherBin, "validate", "-c", path).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("validate exit: %v\n%s", err, out)
	}
	for _, want := range []string{
		path + `:2: providers.file.directory: cannot read the directory ` + filepath.Join(dir, "conf.d") + `: no such file or directory`,
		path + `:4: admin.tokenFile: cannot read ` + filepath.Join(dir, "no-token") + `: no such file or directory`,
		path + `:14: http.services.api.loadBalancer.servers[0].url: "http://10.0.0.1:99999" has port 99999, out of range`,
		path + `:15: http.services.api.loadBalancer.servers[1].url: "http://10.0.0.1:abc" has an invalid port "abc"`,
		path + `:16: http.services.api.loadBalancer.servers[2].url: "http://10.0.0.1:" has a ':' but no port after it`,
		path + `:17: http.services.api.loadBalancer.servers[3].url: "http://10.0.0.1:0" has port 0, out of range`,
		path + `:18: http.services.api.loadBalancer.servers[4].url: "http://********@10.0.0.1:8o80" has an invalid port "8o80"`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "hunter2") || strings.Contains(string(out), "admin:") {
		t.Errorf("validate printed the URL's credentials:\n%s", out)
	}
}
