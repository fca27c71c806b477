package fsutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
//
// Temporary siblings are named .<dst name>.tmp-<16 hex digits> and locked
// (RemoveStale's <name>.lock) for as long as they exist, so a process
// killed midway leaves one behind only until the next ReplaceDir in the
// same parent directory: it removes every such sibling whose lock is free,
// and nothing else.
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
	if _, err := RemoveStaleFunc(ctx, parent, IsTempSibling); err != nil {
		return fmt.Errorf("removing temporary directories left next to %s: %w", dst, err)
	}
	sc, err := ReserveScratch(parent, tempSiblingPrefix(base))
	if err != nil {
		return fmt.Errorf("creating temporary directory for %s: %w", dst, err)
	}
	tmp := sc.Path
	swapped := false
	defer func() {
		if !swapped {
			if rmErr := os.RemoveAll(tmp); rmErr != nil && err != nil {
				err = errors.Join(err, fmt.Errorf("removing %s: %w", tmp, rmErr))
			}
		}
		if relErr := sc.Release(); relErr != nil {
			err = errors.Join(err, relErr)
		}
	}()
	if err := fillTemp(ctx, tmp, dst, fill); err != nil {
		return err
	}
	swapped, err = putInPlace(tmp, dst, parent, base, existing)
	return err
}

// fillTemp creates the temporary directory tmp for dst, has fill fill it
// and syncs it.
func fillTemp(ctx context.Context, tmp, dst string, fill func(tmpDir string) error) error {
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return fmt.Errorf("creating temporary directory for %s: %w", dst, err)
	}
	// Outputs are meant to be readable like any directory the user
	// creates, whatever the umask.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("setting mode of %s: %w", tmp, err)
	}
	if err := fill(tmp); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("replacing directory %s: %w", dst, err)
	}
	return SyncDir(tmp)
}

// putInPlace moves the filled directory tmp to dst, in place of the
// directory there if existing, and removes the previous content. swapped
// reports whether tmp has taken dst's place, whatever else failed.
func putInPlace(tmp, dst, parent, base string, existing bool) (swapped bool, err error) {
	if !existing {
		if err := os.Rename(tmp, dst); err != nil {
			return false, fmt.Errorf("renaming %s into place: %w", dst, err)
		}
		return true, SyncDir(parent)
	}
	old, release, err := swapIn(tmp, dst, parent, base)
	if err != nil {
		return false, err
	}
	syncErr := SyncDir(parent)
	rmErr := os.RemoveAll(old)
	if rmErr != nil {
		rmErr = fmt.Errorf("removing previous content of %s at %s: %w", dst, old, rmErr)
	}
	return true, errors.Join(syncErr, rmErr, release())
}

// tempSiblingSuffix separates a temporary sibling's destination name from
// its random part.
const tempSiblingSuffix = ".tmp-"

// maxTempBase bounds the part of the destination name kept in a temporary
// sibling's name, so that name plus ".lock" stays within NAME_MAX.
const maxTempBase = 200

// tempSiblingPrefix is the name of ReplaceDir's temporary siblings of a
// destination named base, up to the random part.
func tempSiblingPrefix(base string) string {
	if len(base) > maxTempBase {
		base = base[:maxTempBase]
	}
	return "." + base + tempSiblingSuffix
}

// IsTempSibling reports whether name is the name of one of ReplaceDir's
// temporary siblings: "." + a destination name + ".tmp-" + 16 lower-case
// hex digits.
func IsTempSibling(name string) bool {
	rest, ok := strings.CutPrefix(name, ".")
	i := strings.LastIndex(rest, tempSiblingSuffix)
	if !ok || i < 1 {
		return false
	}
	random := rest[i+len(tempSiblingSuffix):]
	if len(random) != scratchSuffixLen {
		return false
	}
	for _, c := range random {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
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

// swapIn puts tmp at dst and returns where the previous content now lives,
// with the function that gives up that place once it is removed.
func swapIn(tmp, dst, parent, base string) (string, func() error, error) {
	err := renameExchange(tmp, dst)
	if err == nil {
		// After the exchange the old tree sits under the temporary
		// name, which the caller still holds locked.
		return tmp, func() error { return nil }, nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EOPNOTSUPP) {
		return "", nil, fmt.Errorf("exchanging %s with %s: %w", tmp, dst, err)
	}
	// Filesystems without RENAME_EXCHANGE: a short window without dst is
	// unavoidable, but dst is restored if the second rename fails. The
	// old tree goes to a locked sibling of its own, so it is removed by
	// a later sweep if this process dies before removing it.
	aside, err := ReserveScratch(parent, tempSiblingPrefix(base))
	if err != nil {
		return "", nil, fmt.Errorf("reserving a name for the previous %s: %w", dst, err)
	}
	if err := os.Rename(dst, aside.Path); err != nil {
		return "", nil, errors.Join(fmt.Errorf("moving previous %s aside: %w", dst, err), aside.Release())
	}
	if err := os.Rename(tmp, dst); err != nil {
		if restoreErr := os.Rename(aside.Path, dst); restoreErr != nil {
			return "", nil, errors.Join(fmt.Errorf("renaming %s into place: %w (previous content left at %s)", dst, err, aside.Path), aside.Release())
		}
		return "", nil, errors.Join(fmt.Errorf("renaming %s into place: %w", dst, err), aside.Release())
	}
	return aside.Path, aside.Release, nil
}
