package observe

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// idsIn reads the request ids of the lines of an access log file.
func idsIn(t *testing.T, path string) []string {
	t.Helper()
	var ids []string
	for _, l := range readLines(t, path) {
		ids = append(ids, stringOf(l["requestId"]))
	}
	return ids
}

// Log rotation as logrotate does it without copytruncate: rename the file,
// then ask usher to reopen. Lines logged while that happens land in the old
// file or the new one, each exactly once; lines logged after Reopen are all
// in the new file.
func TestAccessLogReopenAfterRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	al, err := NewAccessLog(path, "json")
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	const writers, perWriter = 4, 500
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range perWriter {
				al.Observe(r, &Record{Status: 200, RequestID: fmt.Sprintf("during-%d-%d", w, i)})
			}
		}()
	}
	close(start)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := al.Reopen(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	const after = 100
	for i := range after {
		al.Observe(r, &Record{Status: 200, RequestID: fmt.Sprintf("after-%d", i)})
	}
	if err := al.Close(); err != nil {
		t.Fatal(err)
	}
	if d := al.Dropped(); d != 0 {
		t.Fatalf("%d lines dropped", d)
	}

	oldIDs, newIDs := idsIn(t, path+".1"), idsIn(t, path)
	seen := map[string]int{}
	for _, id := range append(oldIDs, newIDs...) {
		seen[id]++
	}
	for w := range writers {
		for i := range perWriter {
			if id := fmt.Sprintf("during-%d-%d", w, i); seen[id] != 1 {
				t.Errorf("line %s written %d times", id, seen[id])
			}
		}
	}
	newSet := map[string]bool{}
	for _, id := range newIDs {
		newSet[id] = true
	}
	for i := range after {
		if id := fmt.Sprintf("after-%d", i); !newSet[id] || seen[id] != 1 {
			t.Errorf("line %s logged after Reopen is not (only) in the new file", id)
		}
	}
	if len(oldIDs)+len(newIDs) != writers*perWriter+after {
		t.Errorf("%d + %d lines, want %d", len(oldIDs), len(newIDs), writers*perWriter+after)
	}
}

// When the path cannot be opened again (its directory is gone), Reopen says
// so and the log keeps writing to the file it has.
func TestAccessLogReopenFailureKeepsTheOldFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "access.log")
	al, err := NewAccessLog(path, "json")
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	al.Observe(r, &Record{Status: 200, RequestID: "one"})
	moved := dir + ".old"
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	if err := al.Reopen(); err == nil {
		t.Fatal("Reopen into a missing directory succeeded")
	}
	al.Observe(r, &Record{Status: 200, RequestID: "two"})
	if err := al.Close(); err != nil {
		t.Fatal(err)
	}
	if got := idsIn(t, filepath.Join(moved, "access.log")); len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Errorf("the old file holds %q, want one and two", got)
	}
}

// Reopen of a log on stdout, of no log and of a closed log returns at once.
func TestAccessLogReopenWithoutAFile(t *testing.T) {
	al, err := NewAccessLog("stdout", "json")
	if err != nil {
		t.Fatal(err)
	}
	if err := al.Reopen(); err != nil {
		t.Errorf("stdout: %v", err)
	}
	al.Close()
	if err := (*AccessLog)(nil).Reopen(); err != nil {
		t.Errorf("nil: %v", err)
	}
	f, err := NewAccessLog(filepath.Join(t.TempDir(), "a.log"), "json")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := f.Reopen(); err != errAccessLogClosed {
		t.Errorf("after Close: %v", err)
	}
}
