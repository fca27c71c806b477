package layer

import (
	"strings"

	"github.com/ocibuilder/builder/internal/fsutil"
)

// keepXattr reports whether WriteTar records the extended attribute name.
// File capabilities and user/trusted attributes belong to the image;
// overlayfs bookkeeping (opacity, redirects, metacopy) and SELinux labels
// belong to the host that produced the tree.
func keepXattr(name string) bool {
	if strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.") {
		return false
	}
	return name == "security.capability" ||
		strings.HasPrefix(name, "user.") ||
		strings.HasPrefix(name, "trusted.")
}

// applyXattr reports whether Apply restores the extended attribute name
// from an archive. An archive must not be able to forge overlayfs
// metadata (a redirect or opacity marker would change what the merged
// view shows) or impose the producer's SELinux labels.
func applyXattr(name string) bool {
	if strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.") {
		return false
	}
	return name != "security.selinux"
}

// readXattrsAt returns the extended attributes of the entry name of d (not
// following a symlink there) that keepXattr accepts, or nil when there are
// none.
func readXattrsAt(d *fsutil.Dir, name string) (map[string]string, error) {
	names, err := d.ListXattrs(name)
	if err != nil {
		return nil, err
	}
	var out map[string]string
	for _, x := range names {
		if !keepXattr(x) {
			continue
		}
		v, ok, err := d.GetXattr(name, x)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue // removed since the listing
		}
		if out == nil {
			out = make(map[string]string)
		}
		out[x] = string(v)
	}
	return out, nil
}
