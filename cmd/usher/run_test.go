package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/server"
)

// lockedBuffer is a log usher writes to from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// An error after the admin API started (here, from the ready hook, the last
// step before serving; in production, serving itself failing) ends usher
// promptly, admin API and its event streams included. Before, the admin's
// stop waited for a context that nothing canceled: usher hung.
func TestExitsPromptlyOnAnErrorAfterTheAdminStarted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usher.yaml")
	cfg := "admin: { address: \"127.0.0.1:0\" }\n" +
		"entrypoints: { web: { address: \"127.0.0.1:0\" } }\n" +
		"http:\n" +
		"  routers: { r: { rule: \"PathPrefix(`/`)\", service: app } }\n" +
		"  services: { app: { loadBalancer: { servers: [ { url: \"http://127.0.0.1:1\" } ] } } }\n"
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var log lockedBuffer
	var admin string
	var stream *http.Response
	done := make(chan int, 1)
	go func() {
		done <- serve(context.Background(), path, &log, func(_ *server.Server, adminAddr string) error {
			admin = adminAddr
			// An event stream is open: it must not hold usher either.
			resp, err := http.Get("http://" + adminAddr + "/api/events")
			if err != nil {
				return err
			}
			stream = resp
			bufio.NewReader(resp.Body).ReadString('\n')
			return errors.New("the test fails the start")
		})
	}()
	select {
	case code := <-done:
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("usher did not exit after an error with the admin on; log:\n%s", log.String())
	}
	if stream != nil {
		stream.Body.Close()
	}
	if !strings.Contains(log.String(), "the test fails the start") {
		t.Errorf("the error is not logged:\n%s", log.String())
	}
	if c, err := net.DialTimeout("tcp", admin, time.Second); err == nil {
		c.Close()
		t.Error("the admin API still listens after usher returned")
	}
}
