package executor

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"syscall"

	"github.com/ocibuilder/builder/pkg/layer"
)

// changes reports what the step wrote into the upper directory, in the
// order layer.Changes requires (WalkDir's). Every entry the copier wrote
// is a change even when its metadata equals the entry below: a copied file
// keeps its source's mtime, so a different file of the same size, mode,
// owner and mtime would be dropped by a metadata diff. Directories that
// were only copied up to reach a destination below them are left out
// while their metadata is unchanged.
func (c *copier) changes() layer.Changes {
	return func(ctx context.Context, fn layer.ChangeFunc) error {
		return filepath.WalkDir(c.upperDir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			rel, err := filepath.Rel(c.upperDir, p)
			if err != nil || rel == "." {
				return err
			}
			rel = filepath.ToSlash(rel)
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if below, ok := c.copiedUp[rel]; ok && sameMeta(fi, below) {
				return nil
			}
			kind := layer.ChangeAdd
			if _, err := c.lower.Lstat(rel); err == nil {
				kind = layer.ChangeModify
			} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
				return err
			}
			return fn(kind, rel, fi)
		})
	}
}

// sameMeta reports whether a copied-up directory still has the owner,
// mode and mtime of the lower directory it copies.
func sameMeta(a, b fs.FileInfo) bool {
	sa, oka := a.Sys().(*syscall.Stat_t)
	sb, okb := b.Sys().(*syscall.Stat_t)
	return oka && okb && sa.Mode == sb.Mode && sa.Uid == sb.Uid && sa.Gid == sb.Gid &&
		sa.Mtim == sb.Mtim
}
