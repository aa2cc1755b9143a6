// Package redistest runs a real redis-server (Debian's) for tests: on a port
// of its own on 127.0.0.1, in a temporary directory, without persistence,
// stopped by its own PID when the test ends. scripts/test.sh installs it.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Server is a running redis-server.
type Server struct {
	Addr string // 127.0.0.1:port
	cmd  *exec.Cmd
	args []string
}

// Start runs redis-server with the extra config lines given (e.g.
// "requirepass secret"), waits until it answers, and stops it when t ends.
// A test that needs Redis fails (never skips) when redis-server is missing:
// the test command installs it.
func Start(t testing.TB, conf ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed (scripts/test.sh installs Debian's redis-server)")
	}
	s := &Server{}
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		s.Addr = "127.0.0.1:" + strconv.Itoa(port)
		s.args = append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", t.TempDir(), "--daemonize", "no", "--protected-mode", "no"}, confArgs(conf)...)
		if err = s.start(bin); err == nil {
			t.Cleanup(s.Stop)
			return s
		}
		t.Logf("redis-server on %s: %v; another port", s.Addr, err)
	}
	t.Fatal("redis-server did not start")
	return nil
}

func (s *Server) start(bin string) error {
	s.cmd = exec.Command(bin, s.args...)
	if err := s.cmd.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond); err == nil {
			// Redis answers -NOAUTH or -LOADING before it is ready for
			// commands: any answer to PING means it listens and reads.
			fmt.Fprint(c, "PING\r\n")
			c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil && (strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH")) {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("not answering after 5s")
}

// Stop kills the server (a Redis that dies under usher, for onStoreError).
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

// Restart starts the server again on the same port, empty.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	bin, _ := exec.LookPath("redis-server")
	if err := s.start(bin); err != nil {
		t.Fatal(err)
	}
}

func confArgs(lines []string) []string {
	var out []string
	for _, l := range lines {
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		out = append(out, "--"+k)
		if v != "" {
			out = append(out, strings.Fields(v)...)
		}
	}
	return out
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
