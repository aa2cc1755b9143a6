package test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// awaitLogMsg waits for a line of usher's log with message msg.
func (u *usher) awaitLogMsg(msg string) logLine {
	u.t.Helper()
	deadline := time.After(10 * time.Second)
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
			u.t.Fatalf("no %q in the log:\n%s", msg, u.logText())
		}
	}
}

// logrotate without copytruncate: rename the access log, send SIGUSR1, and
// usher goes on in a new file of the old name; no line is lost.
func TestAccessLogReopensOnSIGUSR1(t *testing.T) {
	be := backend(t, "ok")
	logPath := filepath.Join(t.TempDir(), "access.log")
	u := startUsher(t, config(`
accessLog: { path: "{{log}}" }
entrypoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    all: { rule: "PathPrefix(`+"`/`"+`)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "{{be}}" } ] } }
`, "log", logPath, "be", be.URL))
	send := func(path string) {
		t.Helper()
		if status, _ := get(t, u.url("web")+path); status != 200 {
			t.Fatalf("%s: status %d", path, status)
		}
	}
	paths := func(file string) []string {
		var out []string
		for _, l := range readJSONLines(t, file) {
			out = append(out, l["path"].(string))
		}
		return out
	}
	send("/before-1")
	send("/before-2")
	// The access log is written off the request's path, within ~10ms.
	waitFor(t, 5*time.Second, func() bool { return len(paths(logPath)) == 2 })
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	send("/between") // after the rename, before the signal: still the old file
	u.drainLog()
	u.cmd.Process.Signal(syscall.SIGUSR1)
	u.awaitLogMsg("access log reopened")
	send("/after-1")
	send("/after-2")
	u.stop() // flushes the access log

	// The line of /between may have been written before the signal or
	// after: it is in one of the files, once.
	old, cur := strings.Join(paths(logPath+".1"), " "), strings.Join(paths(logPath), " ")
	if !(old == "/before-1 /before-2 /between" && cur == "/after-1 /after-2") &&
		!(old == "/before-1 /before-2" && cur == "/between /after-1 /after-2") {
		t.Errorf("rotated file holds %q, new file %q", old, cur)
	}
}
