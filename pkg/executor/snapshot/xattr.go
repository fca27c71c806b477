package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Overlay xattr names. The kernel uses the trusted namespace when mounted
// by root and the user namespace with the userxattr option.
const (
	xattrOpaque       = "trusted.overlay.opaque"
	xattrUserOpaque   = "user.overlay.opaque"
	xattrRedirect     = "trusted.overlay.redirect"
	xattrUserRedirect = "user.overlay.redirect"
	xattrMetacopy     = "trusted.overlay.metacopy"
	xattrUserMetacopy = "user.overlay.metacopy"
)

// isOverlayXattr reports whether name is overlayfs bookkeeping rather than
// file metadata: the kernel adds such xattrs on copy-up (origin, impure), so
// they must not make a copied-up entry look changed.
func isOverlayXattr(name string) bool {
	return strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.")
}

// listXattrs returns the xattr names of p without following a final symlink.
// A filesystem without xattr support has none.
func listXattrs(p string) ([]string, error) {
	for {
		n, err := unix.Llistxattr(p, nil)
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing xattrs of %s: %w", p, err)
		}
		if n == 0 {
			return nil, nil
		}
		buf := make([]byte, n)
		n, err = unix.Llistxattr(p, buf)
		if errors.Is(err, unix.ERANGE) {
			continue // grew between the two calls
		}
		if err != nil {
			return nil, fmt.Errorf("listing xattrs of %s: %w", p, err)
		}
		var names []string
		for _, b := range bytes.Split(buf[:n], []byte{0}) {
			if len(b) > 0 {
				names = append(names, string(b))
			}
		}
		return names, nil
	}
}

// getXattr returns the value of xattr name on p (not following a final
// symlink) and whether it is set.
func getXattr(p, name string) ([]byte, bool, error) {
	for {
		n, err := unix.Lgetxattr(p, name, nil)
		if errors.Is(err, unix.ENODATA) || errors.Is(err, unix.ENOTSUP) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("reading xattr %s of %s: %w", name, p, err)
		}
		buf := make([]byte, n)
		if n == 0 {
			return buf, true, nil
		}
		n, err = unix.Lgetxattr(p, name, buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if errors.Is(err, unix.ENODATA) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("reading xattr %s of %s: %w", name, p, err)
		}
		return buf[:n], true, nil
	}
}

// metaXattrs returns the xattrs of p that are file metadata, that is all but
// the overlay bookkeeping ones.
func metaXattrs(p string) (map[string][]byte, error) {
	names, err := listXattrs(p)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(names))
	for _, name := range names {
		if isOverlayXattr(name) {
			continue
		}
		v, ok, err := getXattr(p, name)
		if err != nil {
			return nil, err
		}
		if ok {
			out[name] = v
		}
	}
	return out, nil
}

// xattrIs reports whether any of names is set on p to exactly want.
func xattrIs(p string, want string, names ...string) (bool, error) {
	for _, name := range names {
		v, ok, err := getXattr(p, name)
		if err != nil {
			return false, err
		}
		if ok && string(v) == want {
			return true, nil
		}
	}
	return false, nil
}
