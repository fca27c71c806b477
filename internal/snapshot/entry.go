package snapshot

import (
	"fmt"
	"io/fs"
	"maps"
	"syscall"

	"github.com/ocibuilder/builder/internal/fsutil"
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

// sameEntry reports whether the entry a, named an in ad, carries the same
// metadata as b, named bn in bd, by the rules in the package
// documentation. Directory size and link count are ignored: they depend on
// the filesystem and on unrelated entries, not on the directory itself.
func sameEntry(a fs.FileInfo, ad *fsutil.Dir, an string, b fs.FileInfo, bd *fsutil.Dir, bn string) (bool, error) {
	sa, sb := statOf(a), statOf(b)
	if sa == nil || sb == nil {
		return false, fmt.Errorf("comparing %s: no stat data", an)
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
		// A name linked to the file in this step is a change of the file
		// too: the image spec counts hard links among the attributes of
		// an entry, and the layer must hold every name of the inode. A
		// copy-up never shares its inode with another name (overlayfs
		// with index=off gives each copied-up name its own inode, and
		// Materialize copies every name on its own), so a name that
		// exists below and has more than one link in a has been linked
		// in this step, whatever the count below was: with a lower pair
		// a, b, "ln a c" leaves a and c one inode of two links, like the
		// pair below, and b a separate one.
		if sa.Nlink > 1 {
			return false, nil
		}
	case a.Mode()&fs.ModeSymlink != 0:
		ta, err := ad.Readlink(an)
		if err != nil {
			return false, fmt.Errorf("comparing link: %w", err)
		}
		tb, err := bd.Readlink(bn)
		if err != nil {
			return false, fmt.Errorf("comparing link: %w", err)
		}
		if ta != tb {
			return false, nil
		}
	}
	xa, err := metaXattrs(ad, an)
	if err != nil {
		return false, err
	}
	xb, err := metaXattrs(bd, bn)
	if err != nil {
		return false, err
	}
	return maps.EqualFunc(xa, xb, func(x, y []byte) bool { return string(x) == string(y) }), nil
}
