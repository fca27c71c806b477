package fsutil

import (
	"errors"
	"strings"

	"golang.org/x/sys/unix"
)

// OpenLong opens the host path p with flags (as unix.Open does) whatever
// its length: a path longer than the kernel takes in one call is opened a
// piece at a time, each piece relative to the directory the one before
// led to. Symlinks on the way are followed as open(2) follows them.
func OpenLong(p string, flags int) (int, error) {
	fd, err := openRetry(func() (int, error) { return unix.Open(p, flags, 0) })
	if !errors.Is(err, unix.ENAMETOOLONG) {
		return fd, err
	}
	dirfd := unix.AT_FDCWD
	rest := p
	for len(rest) >= unix.PathMax {
		cut := strings.LastIndexByte(rest[:unix.PathMax-1], '/')
		if cut <= 0 {
			break // a single component is too long: the kernel says so below
		}
		next, err := openRetry(func() (int, error) {
			return unix.Openat(dirfd, rest[:cut], oPath|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		})
		if dirfd != unix.AT_FDCWD {
			unix.Close(dirfd)
		}
		if err != nil {
			return -1, err
		}
		dirfd, rest = next, rest[cut+1:]
	}
	fd, err = openRetry(func() (int, error) { return unix.Openat(dirfd, rest, flags, 0) })
	if dirfd != unix.AT_FDCWD {
		unix.Close(dirfd)
	}
	return fd, err
}
