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
// chmod) into one reload.
const debounce = 150 * time.Millisecond

// Watch calls onChange after the file at path, or any file in dir ("" = none),
// changed, until ctx ends. It watches the directories, not the files, so that
// editors and tools that replace a file by renaming (vim, kubectl's configmap
// symlink swaps) are seen.
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
				if name != abs && (absDir == "" || filepath.Dir(name) != absDir) {
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
