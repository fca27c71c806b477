package fsutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ErrNotDir is returned by ReplaceDir when the destination exists and is not
// a directory; ReplaceDir never replaces a file with a directory.
var ErrNotDir = errors.New("destination exists and is not a directory")

// ReplaceDir builds a new directory with fill and puts it at dst in one step.
//
// fill receives an empty temporary directory that is a sibling of dst (so
// renames stay on one filesystem). When fill succeeds the temporary directory
// takes the place of dst: with an atomic exchange where the kernel supports
// it, otherwise by renaming the old dst aside first. The previous content is
// then removed. When fill or any step before the swap fails, the temporary
// directory is removed and dst is left untouched.
func ReplaceDir(ctx context.Context, dst string, fill func(tmpDir string) error) (err error) {
	dst = filepath.Clean(dst)
	parent, base := filepath.Split(dst)
	if parent == "" {
		parent = "."
	}
	if base == "" || base == "." || base == ".." || base == "/" {
		return fmt.Errorf("replacing directory %q: invalid destination", dst)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("replacing directory %s: %w", dst, err)
	}
	existing, err := dstExists(dst)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("creating parent of %s: %w", dst, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".tmp-")
	if err != nil {
		return fmt.Errorf("creating temporary directory for %s: %w", dst, err)
	}
	swapped := false
	defer func() {
		if !swapped {
			if rmErr := os.RemoveAll(tmp); rmErr != nil && err != nil {
				err = errors.Join(err, fmt.Errorf("removing %s: %w", tmp, rmErr))
			}
		}
	}()
	// MkdirTemp uses 0700; outputs are meant to be readable like any
	// directory the user creates.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("setting mode of %s: %w", tmp, err)
	}
	if err := fill(tmp); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("replacing directory %s: %w", dst, err)
	}
	if err := SyncDir(tmp); err != nil {
		return err
	}

	if !existing {
		if err := os.Rename(tmp, dst); err != nil {
			return fmt.Errorf("renaming %s into place: %w", dst, err)
		}
		swapped = true
		return SyncDir(parent)
	}

	old, err := swapIn(tmp, dst, parent, base)
	if err != nil {
		return err
	}
	swapped = true
	syncErr := SyncDir(parent)
	if err := os.RemoveAll(old); err != nil {
		return errors.Join(syncErr, fmt.Errorf("removing previous content of %s at %s: %w", dst, old, err))
	}
	return syncErr
}

// dstExists reports whether dst is an existing directory and refuses any
// other kind of file.
func dstExists(dst string) (bool, error) {
	fi, err := os.Lstat(dst)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("inspecting %s: %w", dst, err)
	case !fi.IsDir():
		return false, fmt.Errorf("replacing directory %s: %w", dst, ErrNotDir)
	}
	return true, nil
}

// swapIn puts tmp at dst and returns where the previous content now lives.
func swapIn(tmp, dst, parent, base string) (string, error) {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dst, unix.RENAME_EXCHANGE)
	if err == nil {
		// After the exchange the old tree sits under the temporary name.
		return tmp, nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EOPNOTSUPP) {
		return "", fmt.Errorf("exchanging %s with %s: %w", tmp, dst, err)
	}
	// Filesystems without RENAME_EXCHANGE: a short window without dst is
	// unavoidable, but dst is restored if the second rename fails.
	aside, err := os.MkdirTemp(parent, "."+base+".old-")
	if err != nil {
		return "", fmt.Errorf("reserving a name for the previous %s: %w", dst, err)
	}
	old := filepath.Join(aside, base)
	if err := os.Rename(dst, old); err != nil {
		_ = os.Remove(aside)
		return "", fmt.Errorf("moving previous %s aside: %w", dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		if restoreErr := os.Rename(old, dst); restoreErr != nil {
			return "", fmt.Errorf("renaming %s into place: %w (previous content left at %s)", dst, err, old)
		}
		_ = os.Remove(aside)
		return "", fmt.Errorf("renaming %s into place: %w", dst, err)
	}
	return aside, nil
}
