package copier

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/ocibuilder/builder/internal/snapshot"
	"github.com/ocibuilder/builder/pkg/layer"
)

// Options is how a step's copy sets ownership and modes and what it skips.
type Options struct {
	// Owner owns every entry the copy writes and every directory it
	// creates (--chown, or the USER a WORKDIR is made for). Nil keeps the
	// source's owner when KeepOwner is set, and uses 0:0 otherwise.
	Owner *layer.Owner
	// KeepOwner keeps the owners a source records: a stage's or an
	// image's files, whose ownership is part of the content.
	KeepOwner bool
	// Chmod, when HasChmod is set, is the mode of every entry copied
	// (--chmod), and its permission bits the mode of directories made
	// for them.
	Chmod    fs.FileMode
	HasChmod bool
	// Exclude leaves out what its patterns match below a source
	// directory (--exclude); nil excludes nothing.
	Exclude *patternmatcher.PatternMatcher
}

// Copier writes what a COPY, ADD or WORKDIR step brings into the step's
// upper directory. Every write goes through an os.Root on the upper
// directory, so nothing a source holds (names, links) can make it write
// elsewhere; destination paths are resolved first against the union of
// the lower layers and the upper, as the kernel would inside the image.
type Copier struct {
	ctx      context.Context
	opts     Options
	upper    *dirRoots
	upperDir string
	view     *snapshot.Stack // lower layers with the upper on top
	lower    *snapshot.Stack

	links    map[fileKey]string // hard-link groups of the source: inode -> first dest path
	copiedUp map[string]fs.FileInfo
	dirTimes []dirTime // applied last: writing children changes a directory's mtime
}

type fileKey struct{ dev, ino uint64 }

type dirTime struct {
	path  string
	mtime time.Time
}

// New opens a Copier that writes into upperDir, an empty directory that
// holds the step's changes over the layers of lower. ctx bounds the walks
// of source directories.
func New(ctx context.Context, upperDir string, lower *snapshot.Stack, opts Options) (*Copier, error) {
	r, err := openDirRoots(upperDir)
	if err != nil {
		return nil, fmt.Errorf("opening the step's upper directory: %w", err)
	}
	return &Copier{
		ctx:      ctx,
		opts:     opts,
		upper:    r,
		upperDir: upperDir,
		view:     lower.With(upperDir),
		lower:    lower,
		links:    map[fileKey]string{},
		copiedUp: map[string]fs.FileInfo{},
	}, nil
}

// Close releases the directory descriptors the Copier holds on the upper
// directory; the directory and what was written stay.
func (c *Copier) Close() error { return c.upper.Close() }

// Finish restores directory mtimes, deepest first. It is called once,
// after the last write and before Changes is walked.
func (c *Copier) Finish() error {
	sort.SliceStable(c.dirTimes, func(i, j int) bool {
		return strings.Count(c.dirTimes[i].path, "/") > strings.Count(c.dirTimes[j].path, "/")
	})
	for _, d := range c.dirTimes {
		if err := c.setTimes(d.path, d.mtime); err != nil {
			return err
		}
	}
	for p, fi := range c.copiedUp {
		if err := c.setTimes(p, fi.ModTime()); err != nil {
			return err
		}
	}
	return nil
}

// ResolveDest resolves dest, a path relative to the image root, as the
// kernel would inside the image. The result is relative to the image root
// and free of symlinks.
func (c *Copier) ResolveDest(dest string) (string, error) {
	return c.view.Resolve(dest, true)
}

// IsDir reports whether p is a directory in the image as it stands now.
func (c *Copier) IsDir(p string) bool {
	fi, err := c.view.Lstat(p)
	return err == nil && fi.IsDir()
}

// MkdirParents makes the parent directories of p as a copy makes them:
// with the permission bits of --chmod, or 0755.
func (c *Copier) MkdirParents(p string) error {
	return c.MkdirAll(parentDir(p), c.dirPerm())
}

// MkdirDest makes the destination directory p as a copy into it makes
// it: its missing components as MkdirParents makes them.
func (c *Copier) MkdirDest(p string) error {
	return c.MkdirAll(p, c.dirPerm())
}

// MkdirAll makes sure every component of p is a directory in the upper,
// copying up directories the lower layers have and creating the rest with
// permission bits perm, owned by Options.Owner.
func (c *Copier) MkdirAll(p string, perm fs.FileMode) error {
	if p == "" {
		return nil
	}
	parts := strings.Split(p, "/")
	for i := range parts {
		cur := strings.Join(parts[:i+1], "/")
		if fi, err := c.upper.Lstat(cur); err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("creating directory %q: a non-directory is in the way", "/"+cur)
			}
			continue
		}
		if fi, err := c.lower.Lstat(cur); err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("creating directory %q: a non-directory is in the way", "/"+cur)
			}
			if err := c.copyUpDir(cur, fi); err != nil {
				return err
			}
			continue
		} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return err
		}
		if err := c.mkdir(cur, perm); err != nil {
			return fmt.Errorf("creating directory %q: %w", "/"+cur, err)
		}
	}
	return nil
}

// mkdir creates the missing directory p, owned by Options.Owner, and
// records its time to set once its children are written.
func (c *Copier) mkdir(p string, perm fs.FileMode) error {
	if err := c.upper.Mkdir(p, 0o755); err != nil {
		return err
	}
	uid, gid := c.owner()
	if err := c.upper.Lchown(p, uid, gid); err != nil {
		return err
	}
	if err := c.upper.Chmod(p, perm); err != nil {
		return err
	}
	c.dirTimes = append(c.dirTimes, dirTime{p, time.Now()})
	return nil
}

// owner is the owner of what the copy creates when the source's owner is
// not kept: Options.Owner, or root.
func (c *Copier) owner() (uid, gid int) {
	if o := c.opts.Owner; o != nil {
		return o.UID, o.GID
	}
	return 0, 0
}

// dirPerm is the mode of the directories a copy creates: as in docker,
// the permission bits of --chmod (its special bits are for what is
// copied), or 0755.
func (c *Copier) dirPerm() fs.FileMode {
	if c.opts.HasChmod {
		return c.opts.Chmod.Perm()
	}
	return 0o755
}

// copyUpDir creates in the upper a directory identical to the lower one,
// so that the layer diff sees it as unchanged.
func (c *Copier) copyUpDir(p string, fi fs.FileInfo) error {
	if err := c.upper.Mkdir(p, 0o700); err != nil {
		return fmt.Errorf("copying up %q: %w", "/"+p, err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if err := c.upper.Lchown(p, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("copying up %q: %w", "/"+p, err)
	}
	if err := c.upper.Chmod(p, ModeBits(fi.Mode())); err != nil {
		return fmt.Errorf("copying up %q: %w", "/"+p, err)
	}
	if xs, err := c.lower.Xattrs(p); err == nil {
		if err := c.copyXattrs(xs, p); err != nil {
			return err
		}
	}
	c.copiedUp[p] = fi
	return nil
}

// parentDir is the image path of p's parent; "" for the root.
func parentDir(p string) string {
	d := path.Dir(p)
	if d == "." || d == "/" {
		return ""
	}
	return d
}
