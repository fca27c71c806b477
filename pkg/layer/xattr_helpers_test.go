package layer

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Path-based xattr readers for tests, which look at trees by host path;
// WriteTar itself reads through directory descriptors (readXattrsAt).

// readXattrs returns the extended attributes of p (not following a final
// symlink) that keepXattr accepts, or nil when there are none.
func readXattrs(p string) (map[string]string, error) {
	names, err := listXattrs(p)
	if err != nil {
		return nil, err
	}
	var out map[string]string
	for _, name := range names {
		if !keepXattr(name) {
			continue
		}
		v, err := getXattr(p, name)
		if errors.Is(err, unix.ENODATA) {
			continue // removed since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("reading xattr %s of %s: %w", name, p, err)
		}
		if out == nil {
			out = make(map[string]string)
		}
		out[name] = v
	}
	return out, nil
}

// listXattrs returns the extended attribute names of p. Filesystems
// without xattr support yield no names.
func listXattrs(p string) ([]string, error) {
	for {
		size, err := unix.Llistxattr(p, nil)
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing xattrs of %s: %w", p, err)
		}
		if size == 0 {
			return nil, nil
		}
		buf := make([]byte, size)
		n, err := unix.Llistxattr(p, buf)
		if errors.Is(err, unix.ERANGE) {
			continue // grew since the size query
		}
		if err != nil {
			return nil, fmt.Errorf("listing xattrs of %s: %w", p, err)
		}
		var names []string
		for _, name := range strings.Split(string(buf[:n]), "\x00") {
			if name != "" {
				names = append(names, name)
			}
		}
		return names, nil
	}
}

// getXattr reads one extended attribute of p without following a final
// symlink.
func getXattr(p, name string) (string, error) {
	for {
		size, err := unix.Lgetxattr(p, name, nil)
		if err != nil {
			return "", err
		}
		buf := make([]byte, size)
		n, err := unix.Lgetxattr(p, name, buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
}
