package copier

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"syscall"

	"github.com/ocibuilder/builder/internal/fsutil"
	"github.com/ocibuilder/builder/pkg/layer"
)

// Changes reports what the step wrote into the upper directory, in the
// order layer.Changes requires: depth first, names in byte order, a
// directory before its children. Every entry the copier wrote is a change
// even when its metadata equals the entry below: a copied file keeps its
// source's mtime, so a different file of the same size, mode, owner and
// mtime would be dropped by a metadata diff. Directories that were only
// copied up to reach a destination below them are left out while their
// metadata is unchanged. The upper directory is walked through directory
// descriptors, so a path is limited only by what the image allows. It is
// walked after Finish, and may be walked more than once.
func (c *Copier) Changes() layer.Changes {
	return func(ctx context.Context, fn layer.ChangeFunc) error {
		root, err := fsutil.OpenDir(c.upperDir)
		if err != nil {
			return fmt.Errorf("reading the step's changes: %w", err)
		}
		defer root.Close()
		return c.walkChanges(ctx, fn, root, "")
	}
}

// walkChanges reports the entries of dir, the upper directory at rel, and
// everything below them.
func (c *Copier) walkChanges(ctx context.Context, fn layer.ChangeFunc, dir *fsutil.Dir, rel string) error {
	names, err := dir.Names()
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := name
		if rel != "" {
			p = rel + "/" + name
		}
		fi, err := dir.Lstat(name)
		if err != nil {
			return err
		}
		if below, ok := c.copiedUp[p]; !ok || !sameMeta(fi, below) {
			kind := layer.ChangeAdd
			if _, err := c.lower.Lstat(p); err == nil {
				kind = layer.ChangeModify
			} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
				return err
			}
			if err := fn(kind, p, fi); err != nil {
				return err
			}
		}
		if !fi.IsDir() {
			continue
		}
		sub, err := dir.OpenDir(name)
		if err != nil {
			return err
		}
		err = c.walkChanges(ctx, fn, sub, p)
		sub.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// sameMeta reports whether a copied-up directory still has the owner,
// mode and mtime of the lower directory it copies.
func sameMeta(a, b fs.FileInfo) bool {
	sa, oka := a.Sys().(*syscall.Stat_t)
	sb, okb := b.Sys().(*syscall.Stat_t)
	return oka && okb && sa.Mode == sb.Mode && sa.Uid == sb.Uid && sa.Gid == sb.Gid &&
		sa.Mtim == sb.Mtim
}
