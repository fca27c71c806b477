package sandbox

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// pivotRoot makes root the process's "/" and detaches the old root. Working
// through directory descriptors avoids needing a put_old directory inside
// the image: after pivot_root(".", ".") the old root sits on top of the new
// one and is unmounted from under it.
func pivotRoot(root string) (err error) {
	oldRoot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening old root: %w", err)
	}
	defer func() { err = errors.Join(err, closeFD(oldRoot, "old root")) }()
	newRoot, err := unix.Open(root, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening new root: %w", err)
	}
	defer func() { err = errors.Join(err, closeFD(newRoot, "new root")) }()

	if err := unix.Fchdir(newRoot); err != nil {
		return fmt.Errorf("entering new root: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivoting root: %w", err)
	}
	if err := unix.Fchdir(oldRoot); err != nil {
		return fmt.Errorf("entering old root: %w", err)
	}
	// The old root's mounts are slaves already; this keeps the unmount
	// below from reaching any mount that was still shared.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("making old root a slave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("entering new root: %w", err)
	}
	return nil
}

func closeFD(fd int, what string) error {
	if err := unix.Close(fd); err != nil {
		return fmt.Errorf("closing %s: %w", what, err)
	}
	return nil
}
