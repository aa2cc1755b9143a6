// Package test holds usher's end-to-end tests: the real binary, started with a
// config written by the test, real backends on 127.0.0.1, real clients. Each
// test reads like a specification: a config inline, backends, what a client sees.
package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var usherBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "usher-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	usherBin = filepath.Join(dir, "usher")
	args := []string{"build", "-o", usherBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "../cmd/usher")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build usher:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// logLine is one JSON line of usher's log.
type logLine map[string]any

func (l logLine) msg() string { s, _ := l["msg"].(string); return s }

// usher is a running usher process.
type usher struct {
	t     *testing.T
	cmd   *exec.Cmd
	path  string            // its config file
	addrs map[string]string // entrypoint name → address
	lines chan logLine
	mu    sync.Mutex
	log   []string
	done  chan struct{}
}

// startUsher writes cfg to a fresh directory and runs usher on it; it returns
// once every entrypoint listens. Entrypoint addresses should use port 0.
func startUsher(t *testing.T, cfg string, extraFiles ...string) *usher {
	t.Helper()
	return startUsherFile(t, "usher.yaml", cfg, extraFiles...)
}

// startUsherFile is startUsher with the config file's name (and so its format).
func startUsherFile(t *testing.T, name, cfg string, extraFiles ...string) *usher {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(extraFiles); i += 2 {
		p := filepath.Join(dir, extraFiles[i])
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(extraFiles[i+1]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	u := &usher{t: t, path: path, addrs: map[string]string{}, lines: make(chan logLine, 1024), done: make(chan struct{})}
	u.cmd = exec.Command(usherBin, "run", "-c", path)
	stderr, err := u.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := u.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go u.readLog(stderr)
	t.Cleanup(u.stop)
	want := strings.Count(cfg, "address:") + strings.Count(cfg, "address =")
	deadline := time.After(15 * time.Second)
	for len(u.addrs) < want {
		select {
		case l, ok := <-u.lines:
			if !ok {
				t.Fatalf("usher exited before listening; log:\n%s", u.logText())
			}
			switch l.msg() {
			case "entrypoint listening":
				u.addrs[l["entrypoint"].(string)] = l["address"].(string)
			case "admin listening": // counted as an address: of the admin section
				u.addrs["admin"] = l["address"].(string)
			}
		case <-deadline:
			t.Fatalf("usher did not listen in time; log:\n%s", u.logText())
		}
	}
	return u
}

func (u *usher) readLog(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		u.mu.Lock()
		u.log = append(u.log, line)
		u.mu.Unlock()
		var l logLine
		if json.Unmarshal([]byte(line), &l) == nil {
			select {
			case u.lines <- l:
			default: // nobody is waiting for old lines
			}
		}
	}
	close(u.lines)
	close(u.done)
}

func (u *usher) logText() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return strings.Join(u.log, "\n")
}

// url returns the base URL of an entrypoint.
func (u *usher) url(ep string) string { return "http://" + u.addrs[ep] }

// drainLog forgets log lines read so far, so that waitLog sees only new ones.
func (u *usher) drainLog() {
	for {
		select {
		case <-u.lines:
		default:
			return
		}
	}
}

// rewrite replaces the config file, as an operator saving it does, and waits
// for usher's verdict: "configuration applied" or "configuration refused...".
func (u *usher) rewrite(cfg string) logLine {
	u.t.Helper()
	u.drainLog()
	tmp := u.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(cfg), 0o644); err != nil {
		u.t.Fatal(err)
	}
	if err := os.Rename(tmp, u.path); err != nil {
		u.t.Fatal(err)
	}
	u.cmd.Process.Signal(syscall.SIGHUP)
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

// stop sends SIGTERM to usher (by its own PID) and waits for it to exit.
func (u *usher) stop() {
	if u.cmd.ProcessState != nil {
		return
	}
	u.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-u.done:
	case <-time.After(15 * time.Second):
		u.cmd.Process.Kill()
	}
	u.cmd.Wait()
}

// backend is a real HTTP server on 127.0.0.1 that answers with its name.
func backend(t *testing.T, name string) *httptest.Server {
	t.Helper()
	return backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		io.WriteString(w, name)
	})
}

func backendFunc(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// get does a GET and returns status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// config fills a config template: each {{name}} is replaced.
func config(tpl string, kv ...string) string {
	for i := 0; i+1 < len(kv); i += 2 {
		tpl = strings.ReplaceAll(tpl, "{{"+kv[i]+"}}", kv[i+1])
	}
	return tpl
}

// tally counts the outcome of GETs sent during a load run: a 200 is ok,
// anything else (an error or another status) failed, the first failure kept.
type tally struct {
	ok, failed atomic.Int64
	firstErr   atomic.Value
}

// get sends one GET and counts its outcome.
func (l *tally) get(client *http.Client, url string) {
	resp, err := client.Get(url)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			l.ok.Add(1)
			return
		}
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	l.failed.Add(1)
	l.firstErr.CompareAndSwap(nil, err.Error())
}
