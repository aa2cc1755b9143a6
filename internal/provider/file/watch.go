// Package file watches the configuration file and its directory of dynamic
// configuration, and tells when they changed.
package file

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// debounce merges the burst of events one save makes (editors write, rename,
// chmod; a truncate then a write) into one reload: onChange runs once the
// files have been quiet for this long, so it reads what the save left, not a
// moment of it. A writer that keeps writing postpones the reload until it
// stops, which is what keeps a half-written file from being read; an empty
// one read anyway is refused by the loader.
const debounce = 150 * time.Millisecond

// Watch calls onChange after the file at path, or any file in dir ("" = none),
// changed, until ctx ends. It watches the directories, not the files, so that
// editors and tools that replace a file by renaming (vim, atomic writers) are
// seen. When path is a symbolic link, a change of what it points to counts
// too: that is how Kubernetes updates a mounted ConfigMap (it swaps a
// "..data" link beside the file; the file itself sees no event).
func Watch(ctx context.Context, path, dir string, log *slog.Logger, onChange func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		w.Close()
		return fmt.Errorf("watch %s: %w", path, err)
	}
	if err := w.Add(filepath.Dir(abs)); err != nil {
		w.Close()
		return fmt.Errorf("watch %s: %w", filepath.Dir(abs), err)
	}
	var absDir string
	if dir != "" {
		if absDir, err = filepath.Abs(dir); err != nil {
			w.Close()
			return fmt.Errorf("watch %s: %w", dir, err)
		}
		if err := w.Add(absDir); err != nil {
			w.Close()
			return fmt.Errorf("watch %s: %w", dir, err)
		}
	}
	target := resolve(abs)
	go func() {
		defer w.Close()
		var timer *time.Timer
		var fire <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				if timer != nil {
					timer.Stop()
				}
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				name := filepath.Clean(ev.Name)
				relevant := name == abs || (absDir != "" && filepath.Dir(name) == absDir)
				if !relevant && filepath.Dir(name) == filepath.Dir(abs) {
					// Another entry of the file's directory: it matters only
					// if it is a link on the way to the file.
					if now := resolve(abs); now != target {
						target, relevant = now, true
					}
				}
				if !relevant {
					continue
				}
				if timer == nil {
					timer = time.NewTimer(debounce)
				} else {
					timer.Reset(debounce)
				}
				fire = timer.C
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				log.Warn("watching configuration", "error", err.Error())
			case <-fire:
				fire = nil
				onChange()
			}
		}
	}()
	return nil
}

// resolve is the file path points to through symbolic links, or "" when it
// cannot be resolved (a link swap in progress, a deleted file).
func resolve(path string) string {
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		return ""
	}
	return p
}
