package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// overlayOpaqueXattr marks an overlayfs upper or lower directory as
// hiding the content of the layers below it.
const overlayOpaqueXattr = "trusted.overlay.opaque"

// whiteout applies the whiteout entry base found in dir.
func (a *applier) whiteout(hdr *tar.Header, dir, base string) error {
	if base == whiteoutOpaque {
		if a.opts.Whiteouts == WhiteoutOverlay {
			return a.overlayOpaque(hdr, dir)
		}
		return a.ociOpaque(hdr, dir)
	}
	if strings.HasPrefix(base, whiteoutPrefix+whiteoutPrefix) {
		// Other ".wh..wh." names are aufs bookkeeping with no meaning here.
		return nil
	}
	target := strings.TrimPrefix(base, whiteoutPrefix)
	if target == "" || target == "." || target == ".." {
		return &UnsafePathError{Name: hdr.Name, Reason: "whiteout names no entry"}
	}
	if a.opts.Whiteouts == WhiteoutOverlay {
		return a.overlayWhiteout(hdr, dir, target)
	}
	parent, err := a.openDir(dir, false)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil // nothing below to hide
	}
	if err != nil {
		return fmt.Errorf("applying whiteout %q: %w", hdr.Name, err)
	}
	err = removeAllAt(int(parent.Fd()), target)
	if cerr := parent.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("applying whiteout %q: %w", hdr.Name, err)
	}
	delete(a.dirTimes, joinName(dir, target))
	return nil
}

// ociOpaque empties dir of every entry this layer did not write.
func (a *applier) ociOpaque(hdr *tar.Header, dir string) error {
	d, err := a.openDir(dir, true)
	if err != nil {
		return fmt.Errorf("applying opaque whiteout %q: %w", hdr.Name, err)
	}
	err = removeChildren(d, func(n string) bool { return !a.unpacked[joinName(dir, n)] })
	if cerr := d.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("applying opaque whiteout %q: %w", hdr.Name, err)
	}
	return nil
}

// overlayOpaque marks dir opaque for overlayfs.
func (a *applier) overlayOpaque(hdr *tar.Header, dir string) error {
	d, err := a.openDir(dir, true)
	if err != nil {
		return fmt.Errorf("applying opaque whiteout %q: %w", hdr.Name, err)
	}
	err = unix.Fsetxattr(int(d.Fd()), overlayOpaqueXattr, []byte("y"), 0)
	if cerr := d.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("applying opaque whiteout %q: %w", hdr.Name, err)
	}
	a.markUnpacked(dir)
	return nil
}

// overlayWhiteout records the deletion of target in dir the way
// overlayfs does: a character device with device number 0/0.
func (a *applier) overlayWhiteout(hdr *tar.Header, dir, target string) error {
	parent, err := a.openDir(dir, true)
	if err != nil {
		return fmt.Errorf("applying whiteout %q: %w", hdr.Name, err)
	}
	defer parent.Close()
	pfd := int(parent.Fd())
	if err := removeAllAt(pfd, target); err != nil {
		return fmt.Errorf("applying whiteout %q: %w", hdr.Name, err)
	}
	if err := unix.Mknodat(pfd, target, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("applying whiteout %q: %w", hdr.Name, err)
	}
	if !a.opts.NoSameOwner {
		if err := unix.Fchownat(pfd, target, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("applying whiteout %q: changing owner: %w", hdr.Name, err)
		}
	}
	name := joinName(dir, target)
	delete(a.dirTimes, name)
	a.markUnpacked(name)
	return nil
}

// joinName joins a directory name ("" for the root) and a base name.
func joinName(dir, base string) string {
	if dir == "" {
		return base
	}
	return dir + "/" + base
}
