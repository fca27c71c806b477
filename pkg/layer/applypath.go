package layer

import (
	"fmt"
	"path"
	"strings"
)

// UnsafePathError reports an archive entry that Apply refused because
// extracting it would reach outside the target root, or because it names
// something (a hard link target) that does not exist inside it.
type UnsafePathError struct {
	// Name is the entry's name as it appears in the archive.
	Name string
	// Reason says what is wrong with it.
	Reason string
}

// Error returns a message naming the entry and the reason.
func (e *UnsafePathError) Error() string {
	return fmt.Sprintf("unsafe layer entry %q: %s", e.Name, e.Reason)
}

// cleanName turns an archive name into a clean slash path relative to the
// root, or "" for the root itself. Absolute names are taken relative to
// the root, as a chroot would; relative names that climb above the root
// are refused rather than clamped, because no honest producer writes them.
func cleanName(name string) (string, error) {
	if name == "" {
		return "", &UnsafePathError{Name: name, Reason: "empty name"}
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", &UnsafePathError{Name: name, Reason: "name contains a NUL byte"}
	}
	if strings.HasPrefix(name, "/") {
		return strings.TrimPrefix(path.Clean(name), "/"), nil
	}
	c := path.Clean(name)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", &UnsafePathError{Name: name, Reason: "climbs above the root"}
	}
	if c == "." {
		return "", nil
	}
	return c, nil
}

// splitName splits a clean relative name into its parent directory ("" at
// the top level) and base name.
func splitName(name string) (dir, base string) {
	dir, base = path.Split(name)
	return strings.TrimSuffix(dir, "/"), base
}
