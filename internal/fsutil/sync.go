package fsutil

import (
	"fmt"
	"os"
)

// SyncDir fsyncs the directory at path so that entries created, renamed or
// removed in it survive a crash.
func SyncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening directory %s for sync: %w", path, err)
	}
	syncErr := d.Sync()
	closeErr := d.Close()
	if syncErr != nil {
		return fmt.Errorf("syncing directory %s: %w", path, syncErr)
	}
	if closeErr != nil {
		return fmt.Errorf("closing directory %s: %w", path, closeErr)
	}
	return nil
}
