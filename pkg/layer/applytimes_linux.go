package layer

import (
	"errors"
	"fmt"
	"sort"

	"golang.org/x/sys/unix"
)

// finishDirs sets the times of every directory the archive described.
// Names are looked up again because later entries may have replaced a
// directory; anything that is no longer a directory is left alone.
func (a *applier) finishDirs() error {
	names := make([]string, 0, len(a.dirTimes))
	for n := range a.dirTimes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		dir, base := splitName(name)
		parent, err := a.openDir(dir, false)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			continue
		}
		if err != nil {
			return err
		}
		err = setDirTimes(int(parent.Fd()), base, a.dirTimes[name])
		if cerr := parent.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("setting times of %q: %w", name, err)
		}
	}
	return nil
}

// setDirTimes sets the times of base in dirfd if it is still a directory.
func setDirTimes(dirfd int, base string, t fileTimes) error {
	var st unix.Stat_t
	err := unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) || (err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR) {
		return nil
	}
	if err != nil {
		return err
	}
	return unix.UtimesNanoAt(dirfd, base, t[:], unix.AT_SYMLINK_NOFOLLOW)
}
