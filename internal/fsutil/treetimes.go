package fsutil

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// SetTreeTimes sets the mtime and atime of dir and of every entry below
// it (symlinks themselves, not their targets) to mt, children before
// their directory so that setting a child does not move its directory's
// time.
func SetTreeTimes(dir string, mt time.Time) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	if err != nil {
		return fmt.Errorf("walking %s: %w", dir, err)
	}
	ts := unix.NsecToTimespec(mt.UnixNano())
	for _, p := range slices.Backward(paths) {
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("setting times of %s: %w", p, err)
		}
	}
	return nil
}
