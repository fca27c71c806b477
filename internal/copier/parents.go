package copier

import (
	"fmt"
	"path"
	"strings"

	"github.com/ocibuilder/builder/internal/source"
)

// CopyWithParents copies the entry at rel below the directory pivot of
// fsys to rel below dst, the destination directory (COPY --parents): dst
// is made like a missing parent, the directories between pivot and the
// entry are copied with their own metadata, and the entry with
// everything below it. --exclude patterns are matched against paths
// below pivot, as rel is.
func (c *Copier) CopyWithParents(fsys source.FS, pivot, rel, dst string) error {
	if err := c.MkdirDest(dst); err != nil {
		return err
	}
	parts := strings.Split(rel, "/")
	for i := range parts {
		r := path.Join(parts[:i+1]...)
		src := path.Join(pivot, r)
		fi, err := fsys.Lstat(src)
		if err != nil {
			return err
		}
		if i < len(parts)-1 && !fi.IsDir() {
			return fmt.Errorf("copying %q: %q is not a directory", rel, r)
		}
		if err := c.CopyEntry(fsys, src, path.Join(dst, r), fi); err != nil {
			return err
		}
		if i == len(parts)-1 && fi.IsDir() {
			return c.copyTree(fsys, src, r, dst)
		}
	}
	return nil
}
