package test

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDemoAnswersRoundRobinFromThreeBackends(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(usherBin, "demo", "--listen", addr, "--admin", "127.0.0.1:0", "--traffic=false")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	sc := bufio.NewScanner(out)
	var printed []string
	for sc.Scan() {
		printed = append(printed, sc.Text())
		if strings.HasPrefix(sc.Text(), "Ctrl-C") {
			break
		}
	}
	if text := strings.Join(printed, "\n"); !strings.Contains(text, "/dashboard/") {
		t.Fatalf("demo did not print the dashboard's URL:\n%s", text)
	}
	if !strings.Contains(strings.Join(printed, "\n"), "curl -s http://"+addr+"/") {
		t.Fatalf("demo did not print what to curl:\n%s", strings.Join(printed, "\n"))
	}
	seen := map[string]int{}
	for i := 0; i < 6; i++ {
		_, body := get(t, "http://"+addr+"/")
		var name string
		fmt.Sscanf(body, "hello from %s", &name)
		seen[name]++
	}
	if len(seen) != 3 || seen["app-1"] != 2 || seen["app-2"] != 2 || seen["app-3"] != 2 {
		t.Fatalf("six requests to the demo reached %v, want two each on app-1..3", seen)
	}
}
