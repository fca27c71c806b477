package snapshot

import (
	"fmt"
	"io/fs"
	"maps"
	"os"
	"syscall"
)

// statOf returns the raw stat of fi; every FileInfo in this package comes
// from lstat on Linux, so the assertion holds.
func statOf(fi fs.FileInfo) *syscall.Stat_t {
	st, _ := fi.Sys().(*syscall.Stat_t)
	return st
}

// isWhiteout reports whether fi is an overlay whiteout: a 0/0 character
// device.
func isWhiteout(fi fs.FileInfo) bool {
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return false
	}
	st := statOf(fi)
	return st != nil && st.Rdev == 0
}

// sameEntry reports whether the entry a at host path ap carries the same
// metadata as b at bp, by the rules in the package documentation. Directory
// size and link count are ignored: they depend on the filesystem and on
// unrelated entries, not on the directory itself.
func sameEntry(a fs.FileInfo, ap string, b fs.FileInfo, bp string) (bool, error) {
	sa, sb := statOf(a), statOf(b)
	if sa == nil || sb == nil {
		return false, fmt.Errorf("comparing %s and %s: no stat data", ap, bp)
	}
	if sa.Mode != sb.Mode || sa.Uid != sb.Uid || sa.Gid != sb.Gid || sa.Rdev != sb.Rdev {
		return false, nil
	}
	if sa.Mtim.Sec != sb.Mtim.Sec || sa.Mtim.Nsec != sb.Mtim.Nsec {
		return false, nil
	}
	switch {
	case a.Mode().IsRegular():
		if sa.Size != sb.Size {
			return false, nil
		}
	case a.Mode()&fs.ModeSymlink != 0:
		ta, err := os.Readlink(ap)
		if err != nil {
			return false, fmt.Errorf("comparing link %s: %w", ap, err)
		}
		tb, err := os.Readlink(bp)
		if err != nil {
			return false, fmt.Errorf("comparing link %s: %w", bp, err)
		}
		if ta != tb {
			return false, nil
		}
	}
	xa, err := metaXattrs(ap)
	if err != nil {
		return false, err
	}
	xb, err := metaXattrs(bp)
	if err != nil {
		return false, err
	}
	return maps.EqualFunc(xa, xb, func(x, y []byte) bool { return string(x) == string(y) }), nil
}
