package acme

import (
	"context"
	"os"
	"path/filepath"

	"github.com/caddyserver/certmagic"
)

// fileStorage is certmagic's file storage with its lock files 0600 as well
// (certmagic makes them 0644): every file usher keeps under storage is
// readable by usher's user only.
type fileStorage struct {
	*certmagic.FileStorage
}

func (s fileStorage) Lock(ctx context.Context, name string) error {
	if err := s.FileStorage.Lock(ctx, name); err != nil {
		return err
	}
	// The file is usher's own from here on (exclusive create): no one else
	// has it open to race the change of mode.
	os.Chmod(filepath.Join(s.Path, "locks", certmagic.StorageKeys.Safe(name)+".lock"), 0o600)
	return nil
}
