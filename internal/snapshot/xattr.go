package snapshot

import (
	"strings"

	"github.com/ocibuilder/builder/internal/fsutil"
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

// metaXattrs returns the xattrs of the entry name of d that are file
// metadata, that is all but the overlay bookkeeping ones.
func metaXattrs(d *fsutil.Dir, name string) (map[string][]byte, error) {
	names, err := d.ListXattrs(name)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(names))
	for _, x := range names {
		if isOverlayXattr(x) {
			continue
		}
		v, ok, err := d.GetXattr(name, x)
		if err != nil {
			return nil, err
		}
		if ok {
			out[x] = v
		}
	}
	return out, nil
}

// xattrIs reports whether any of attrs is set on the entry name of d to
// exactly want.
func xattrIs(d *fsutil.Dir, name, want string, attrs ...string) (bool, error) {
	for _, x := range attrs {
		v, ok, err := d.GetXattr(name, x)
		if err != nil {
			return false, err
		}
		if ok && string(v) == want {
			return true, nil
		}
	}
	return false, nil
}
