package fsutil

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// OpenBeneath opens the regular file at the relative path p below the
// directory dir for reading, refusing any symlink on the way. One openat2
// call resolves the whole path, the kernel keeping it below dir; where
// openat2 is missing (kernels before 5.6, or a seccomp filter refusing
// it) it falls back to an os.Root on dir, which takes a call per path
// component.
func OpenBeneath(dir, p string) (*os.File, error) {
	d, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(d)
	fd, err := unix.Openat2(d, p, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	switch {
	case err == nil:
		return os.NewFile(uintptr(fd), filepath.Join(dir, p)), nil
	case errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM):
		root, err := os.OpenRoot(dir)
		if err != nil {
			return nil, err
		}
		defer root.Close()
		return root.OpenFile(filepath.FromSlash(p), os.O_RDONLY|unix.O_NOFOLLOW, 0)
	}
	return nil, &os.PathError{Op: "open", Path: p, Err: err}
}
