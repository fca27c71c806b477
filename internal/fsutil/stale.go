package fsutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// RemoveStale removes the scratch entries of dir that belong to dead
// processes. A live process keeps <dir>/<name>.lock exclusively locked for
// as long as it uses <dir>/<name>; for every such lock file whose name
// starts with prefix and whose lock is free, RemoveStale removes <name>
// (file or tree) and then the lock file. It returns how many entries it
// removed. Entries it cannot remove are reported but do not stop the
// sweep; their lock file stays so that a later sweep retries them.
func RemoveStale(ctx context.Context, dir, prefix string) (int, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("listing scratch directory %s: %w", dir, err)
	}
	var errs []error
	removed := 0
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return removed, fmt.Errorf("cleaning scratch directory %s: %w", dir, err)
		}
		name, ok := strings.CutSuffix(e.Name(), ".lock")
		if !ok || !strings.HasPrefix(name, prefix) || e.IsDir() {
			continue
		}
		lockPath := filepath.Join(dir, e.Name())
		l, err := TryLock(lockPath)
		if errors.Is(err, ErrLocked) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := removeStaleEntry(filepath.Join(dir, name), lockPath); err != nil {
			errs = append(errs, err)
		} else {
			removed++
		}
		if err := l.Unlock(); err != nil {
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

// removeStaleEntry removes path and then its lock file, in that order, so
// that an interrupted removal leaves the lock file for the next sweep.
func removeStaleEntry(path, lockPath string) error {
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("removing stale scratch entry %s: %w", path, err)
	}
	if err := os.Remove(lockPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing stale lock file %s: %w", lockPath, err)
	}
	return nil
}
