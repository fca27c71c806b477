package layer

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// removeAllAt removes name inside the directory dirfd and, if it is a
// directory, everything below it. It never follows symlinks, so it cannot
// be steered outside dirfd. A missing name is not an error.
func removeAllAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) {
		return fmt.Errorf("removing %q: %w", name, err)
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s for removal: %w", name, err)
	}
	dir := os.NewFile(uintptr(fd), name)
	if err := removeChildren(dir, func(string) bool { return true }); err != nil {
		_ = dir.Close() // the removal error matters more
		return fmt.Errorf("emptying %q: %w", name, err)
	}
	if err := dir.Close(); err != nil {
		return fmt.Errorf("closing %q: %w", name, err)
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing directory %q: %w", name, err)
	}
	return nil
}

// removeChildren removes every entry of the open directory dir for which
// remove returns true.
func removeChildren(dir *os.File, remove func(name string) bool) error {
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("listing %q: %w", dir.Name(), err)
	}
	for _, n := range names {
		if !remove(n) {
			continue
		}
		if err := removeAllAt(int(dir.Fd()), n); err != nil {
			return err
		}
	}
	return nil
}
