package file

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// watch starts Watch on path and dir; each onChange reads path and sends
// what it read, as a reload would.
func watch(t *testing.T, path, dir string) (<-chan string, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	got := make(chan string, 16)
	err := Watch(ctx, path, dir, slog.New(slog.DiscardHandler), func() {
		b, _ := os.ReadFile(path)
		got <- string(b)
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, cancel
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// next waits for one reload.
func next(t *testing.T, got <-chan string) string {
	t.Helper()
	select {
	case s := <-got:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no reload")
		return ""
	}
}

// quiet checks that no reload comes within a few debounce periods: the
// absence of an event can only be seen by waiting.
func quiet(t *testing.T, got <-chan string) {
	t.Helper()
	select {
	case s := <-got:
		t.Fatalf("unexpected reload reading %q", s)
	case <-time.After(2 * debounce):
	}
}

// A save made of a truncate and several writes (what os.WriteFile, a shell
// redirection or a slow editor do) gives one reload, which reads the final
// content, never the empty file of the moment between.
func TestBurstOfWritesGivesOneReloadOfTheFinalContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "usher.yaml")
	write(t, path, "v: 1\n")
	got, _ := watch(t, path, "")

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"v:", " ", "2", "\n"} {
		time.Sleep(debounce / 10) // a writer that takes its time, within the debounce
		if _, err := f.WriteString(part); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	if s := next(t, got); s != "v: 2\n" {
		t.Errorf("the reload read %q, want the final content", s)
	}
	quiet(t, got)

	// An atomic replace (write a temporary file, rename it) is one reload too.
	write(t, path+".tmp", "v: 3\n")
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	if s := next(t, got); s != "v: 3\n" {
		t.Errorf("after the rename the reload read %q", s)
	}
	quiet(t, got)
}

// Files beside the config file that are not it do not reload; files of the
// dynamic directory do.
func TestOnlyTheFileAndTheDirectoryCount(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "usher.yaml")
	confd := filepath.Join(dir, "conf.d")
	if err := os.Mkdir(confd, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, path, "v: 1\n")
	got, _ := watch(t, path, confd)

	write(t, filepath.Join(dir, "notes.txt"), "x")
	quiet(t, got)
	write(t, filepath.Join(confd, "a.yaml"), "http: {}\n")
	next(t, got)
	quiet(t, got)
}

// Kubernetes mounts a ConfigMap as links: usher.yaml -> ..data/usher.yaml,
// ..data -> ..<timestamp>. An update writes a new timestamped directory and
// renames a new ..data link over the old one; usher.yaml itself sees no
// event, yet it now reads differently.
func TestConfigMapLinkSwapReloads(t *testing.T) {
	dir := t.TempDir()
	mk := func(version, text string) {
		if err := os.Mkdir(filepath.Join(dir, version), 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, version, "usher.yaml"), text)
	}
	mk("..v1", "v: 1\n")
	if err := os.Symlink("..v1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "usher.yaml")
	if err := os.Symlink(filepath.Join("..data", "usher.yaml"), path); err != nil {
		t.Fatal(err)
	}
	got, _ := watch(t, path, "")

	mk("..v2", "v: 2\n")
	if err := os.Symlink("..v2", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if s := next(t, got); s != "v: 2\n" {
		t.Errorf("after the swap the reload read %q", s)
	}
	quiet(t, got)
}

// The watch ends with its context: a change after that reloads nothing.
func TestWatchStopsWithItsContext(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "usher.yaml")
	write(t, path, "v: 1\n")
	got, cancel := watch(t, path, "")
	cancel()
	write(t, path, "v: 2\n")
	quiet(t, got)
}
