package docker

import (
	"context"
	"io"
	"log/slog"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usher-lb/usher/internal/config"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// waitStopped fails the test when the provider's goroutines outlive their
// context by more than a few seconds.
func waitStopped(t *testing.T, p *Provider) {
	t.Helper()
	done := make(chan struct{})
	go func() { p.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the provider's goroutines did not stop with their context")
	}
}

// An engine that does not answer is retried in the background, and the
// retrying stops with the context.
func TestWatchStopsWithoutEngine(t *testing.T) {
	p, err := New(&config.DockerProvider{Endpoint: "unix://" + t.TempDir() + "/none.sock"}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.Connect(ctx)
	var calls atomic.Int32
	p.Watch(ctx, func() { calls.Add(1) })
	time.Sleep(300 * time.Millisecond) // a few retries
	cancel()
	waitStopped(t, p)
	if calls.Load() != 0 {
		t.Errorf("onChange called %d times without an engine", calls.Load())
	}
	if got := p.Merge(&config.Config{Source: config.NewSource()}); got.HTTP != nil && len(got.HTTP.Routers) > 0 {
		t.Errorf("routers without an engine: %v", got.HTTP.Routers)
	}
}

// With the real engine: connected, following events, and stopped by ctx.
func TestWatchStopsWithEngine(t *testing.T) {
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.APIVersion}}").CombinedOutput(); err != nil {
		t.Skipf("skipped: no Docker engine is reachable (docker version: %v: %s)", err, out)
	}
	p, err := New(&config.DockerProvider{}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.Connect(ctx)
	if !p.synced {
		cancel()
		t.Fatal("Connect did not read the containers of a reachable engine")
	}
	p.Watch(ctx, func() {})
	cancel()
	waitStopped(t, p)
}
