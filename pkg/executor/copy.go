package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/ocibuilder/builder/internal/snapshot"
	"github.com/ocibuilder/builder/internal/source"
	"golang.org/x/sys/unix"
)

// copier writes what a COPY or ADD brings into the step's upper directory.
// Every write goes through an os.Root on the upper directory, so nothing a
// source holds (names, links) can make it write elsewhere; destination
// paths are resolved first against the union of the lower layers and the
// upper, as the kernel would inside the image.
type copier struct {
	ctx      context.Context
	upper    *dirRoots
	upperDir string
	view     *snapshot.Stack // lower layers with the upper on top
	lower    *snapshot.Stack

	owner     *Identity   // --chown; nil keeps the source owner (keepOwner) or uses 0:0
	keepOwner bool        // sources from a stage keep their ownership
	chmod     fs.FileMode // --chmod; 0 keeps the source mode
	hasChmod  bool
	exclude   *patternmatcher.PatternMatcher // --exclude

	links    map[fileKey]string // hard-link groups of the source: inode -> first dest path
	copiedUp map[string]fs.FileInfo
	dirTimes []dirTime // applied last: writing children changes a directory's mtime
}

type fileKey struct{ dev, ino uint64 }

type dirTime struct {
	path  string
	mtime time.Time
}

func newCopier(ctx context.Context, upperDir string, lower *snapshot.Stack) (*copier, error) {
	r, err := openDirRoots(upperDir)
	if err != nil {
		return nil, err
	}
	return &copier{
		ctx:      ctx,
		upper:    r,
		upperDir: upperDir,
		view:     lower.With(upperDir),
		lower:    lower,
		links:    map[fileKey]string{},
		copiedUp: map[string]fs.FileInfo{},
	}, nil
}

func (c *copier) close() error { return c.upper.Close() }

// finish restores directory mtimes, deepest first.
func (c *copier) finish() error {
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

// resolveDest resolves a destination path inside the image. The returned
// path is relative to the image root and free of symlinks.
func (c *copier) resolveDest(dest string) (string, error) {
	return c.view.Resolve(dest, true)
}

// isDir reports whether p is a directory in the image as it stands now.
func (c *copier) isDir(p string) bool {
	fi, err := c.view.Lstat(p)
	return err == nil && fi.IsDir()
}

// mkdirAll makes sure every component of p is a directory in the upper,
// copying up directories the lower layers have and creating the rest with
// permission bits perm, owned by --chown.
func (c *copier) mkdirAll(p string, perm fs.FileMode) error {
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
		if err := c.upper.Mkdir(cur, 0o755); err != nil {
			return fmt.Errorf("creating directory %q: %w", "/"+cur, err)
		}
		uid, gid := 0, 0
		if c.owner != nil {
			uid, gid = int(c.owner.UID), int(c.owner.GID)
		}
		if err := c.upper.Lchown(cur, uid, gid); err != nil {
			return fmt.Errorf("creating directory %q: %w", "/"+cur, err)
		}
		if err := c.upper.Chmod(cur, perm); err != nil {
			return fmt.Errorf("creating directory %q: %w", "/"+cur, err)
		}
		c.dirTimes = append(c.dirTimes, dirTime{cur, time.Now()})
	}
	return nil
}

// dirPerm is the mode of the directories a copy creates: as in docker,
// the permission bits of --chmod (its special bits are for what is
// copied), or 0755.
func (c *copier) dirPerm() fs.FileMode {
	if c.hasChmod {
		return c.chmod.Perm()
	}
	return 0o755
}

// copyUpDir creates in the upper a directory identical to the lower one,
// so that the layer diff sees it as unchanged.
func (c *copier) copyUpDir(p string, fi fs.FileInfo) error {
	if err := c.upper.Mkdir(p, 0o700); err != nil {
		return fmt.Errorf("copying up %q: %w", "/"+p, err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if err := c.upper.Lchown(p, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("copying up %q: %w", "/"+p, err)
	}
	if err := c.upper.Chmod(p, toOSMode(fi.Mode())); err != nil {
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

// copyInto copies the source entry src (already resolved in fsys) to the
// image path dst, replacing what the upper holds there unless both are
// directories.
func (c *copier) copyInto(fsys source.FS, src, dst string) error {
	fi, err := fsys.Lstat(src)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		// Only the directory's contents are copied: the destination is
		// made like any missing parent, or keeps its metadata when the
		// image has it, as in docker.
		if err := c.mkdirAll(dst, c.dirPerm()); err != nil {
			return err
		}
		return c.copyTree(fsys, src, dst)
	}
	if err := c.mkdirAll(parentDir(dst), c.dirPerm()); err != nil {
		return err
	}
	return c.copyEntry(fsys, src, dst, fi)
}

// copyTree copies the contents of the directory src into dst, as
// walkTree lists them.
func (c *copier) copyTree(fsys source.FS, src, dst string) error {
	return walkTree(c.ctx, fsys, src, "", c.exclude, func(s, rel string, fi fs.FileInfo) error {
		return c.copyEntry(fsys, s, path.Join(dst, rel), fi)
	})
}

// copyEntry creates dst in the upper as a copy of the single entry src
// (a directory is created empty; copyTree fills it).
func (c *copier) copyEntry(fsys source.FS, src, dst string, fi fs.FileInfo) error {
	if ufi, err := c.upper.Lstat(dst); err == nil {
		if !(ufi.IsDir() && fi.IsDir()) {
			if err := c.upper.RemoveAll(dst); err != nil {
				return fmt.Errorf("replacing %q: %w", "/"+dst, err)
			}
		}
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	switch mode := fi.Mode(); {
	case mode.IsDir():
		if _, err := c.upper.Lstat(dst); err != nil {
			if err := c.upper.Mkdir(dst, 0o700); err != nil {
				return fmt.Errorf("creating %q: %w", "/"+dst, err)
			}
		}
	case mode.IsRegular():
		if st != nil && st.Nlink > 1 {
			k := fileKey{uint64(st.Dev), st.Ino}
			if first, ok := c.links[k]; ok {
				if err := c.upper.Link(first, dst); err != nil {
					return fmt.Errorf("linking %q: %w", "/"+dst, err)
				}
				return nil
			}
			c.links[k] = dst
		}
		if err := c.copyFile(fsys, src, dst); err != nil {
			return err
		}
	case mode&fs.ModeSymlink != 0:
		target, err := fsys.Readlink(src)
		if err != nil {
			return err
		}
		if err := c.upper.Symlink(target, dst); err != nil {
			return fmt.Errorf("creating symlink %q: %w", "/"+dst, err)
		}
	case mode&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeNamedPipe) != 0:
		if st == nil {
			return fmt.Errorf("copying %q: no device numbers", src)
		}
		if err := c.mknod(dst, st); err != nil {
			return err
		}
	default:
		// Sockets cannot be copied meaningfully; docker skips them too.
		return nil
	}
	return c.applyMeta(fsys, src, dst, fi)
}

func (c *copier) copyFile(fsys source.FS, src, dst string) (err error) {
	in, err := fsys.Open(src)
	if err != nil {
		return fmt.Errorf("opening %q: %w", src, err)
	}
	defer in.Close()
	out, err := c.upper.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating %q: %w", "/"+dst, err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("writing %q: %w", "/"+dst, cerr)
		}
	}()
	if _, err := io.Copy(out, in); err != nil {
		return fmt.Errorf("copying %q to %q: %w", src, "/"+dst, err)
	}
	return nil
}

// writeFile creates dst with the given content (heredoc sources and
// downloads).
func (c *copier) writeFile(dst string, r io.Reader, mode fs.FileMode, mtime time.Time) (err error) {
	if ufi, err := c.upper.Lstat(dst); err == nil && ufi != nil {
		if err := c.upper.RemoveAll(dst); err != nil {
			return fmt.Errorf("replacing %q: %w", "/"+dst, err)
		}
	}
	out, err := c.upper.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating %q: %w", "/"+dst, err)
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return fmt.Errorf("writing %q: %w", "/"+dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("writing %q: %w", "/"+dst, err)
	}
	uid, gid := 0, 0
	if c.owner != nil {
		uid, gid = int(c.owner.UID), int(c.owner.GID)
	}
	if err := c.upper.Lchown(dst, uid, gid); err != nil {
		return fmt.Errorf("chown %q: %w", "/"+dst, err)
	}
	if c.hasChmod {
		mode = c.chmod
	}
	if err := c.upper.Chmod(dst, mode); err != nil {
		return fmt.Errorf("chmod %q: %w", "/"+dst, err)
	}
	return c.setTimes(dst, mtime)
}

// applyMeta sets owner, mode, xattrs and (for non-directories) mtime of
// dst from the source entry.
func (c *copier) applyMeta(fsys source.FS, src, dst string, fi fs.FileInfo) error {
	st, _ := fi.Sys().(*syscall.Stat_t)
	uid, gid := 0, 0
	switch {
	case c.owner != nil:
		uid, gid = int(c.owner.UID), int(c.owner.GID)
	case c.keepOwner && st != nil:
		uid, gid = int(st.Uid), int(st.Gid)
	}
	if err := c.upper.Lchown(dst, uid, gid); err != nil {
		return fmt.Errorf("chown %q: %w", "/"+dst, err)
	}
	isLink := fi.Mode()&fs.ModeSymlink != 0
	if !isLink {
		// chmod after chown: chown clears setuid/setgid bits.
		if err := c.upper.Chmod(dst, c.modeFor(fi)); err != nil {
			return fmt.Errorf("chmod %q: %w", "/"+dst, err)
		}
		if xs, ok := xattrsOf(fsys, src); ok {
			if err := c.copyXattrs(xs, dst); err != nil {
				return err
			}
		}
	}
	if fi.IsDir() {
		delete(c.copiedUp, dst)
		c.dirTimes = append(c.dirTimes, dirTime{dst, fi.ModTime()})
		return nil
	}
	return c.setTimes(dst, fi.ModTime())
}

// modeFor is the mode an entry lands with: --chmod, or the source's
// permission and special bits.
func (c *copier) modeFor(fi fs.FileInfo) fs.FileMode {
	if c.hasChmod {
		return c.chmod
	}
	return toOSMode(fi.Mode())
}

// toOSMode keeps the permission and special bits of m in the form
// os.Chmod expects.
func toOSMode(m fs.FileMode) fs.FileMode {
	return m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

// xattrsOf returns the extended attributes of the source entry p when
// fsys keeps them (a stage's layers do).
func xattrsOf(fsys source.FS, p string) (map[string][]byte, bool) {
	type xattrer interface {
		Xattrs(p string) (map[string][]byte, error)
	}
	x, ok := fsys.(xattrer)
	if !ok {
		return nil, false
	}
	xs, err := x.Xattrs(p)
	return xs, err == nil
}

// copyXattrs sets the extended attributes xs of a source entry on the
// upper entry dst, leaving out overlayfs' and SELinux's own.
func (c *copier) copyXattrs(xs map[string][]byte, dst string) error {
	if len(xs) == 0 {
		return nil
	}
	f, err := c.upper.OpenFile(dst, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("xattrs of %q: %w", "/"+dst, err)
	}
	defer f.Close()
	proc := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	for n, v := range xs {
		if strings.HasPrefix(n, "trusted.overlay.") || strings.HasPrefix(n, "user.overlay.") || n == "security.selinux" {
			continue
		}
		if err := unix.Setxattr(proc, n, v, 0); err != nil && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("setting xattr %q on %q: %w", n, "/"+dst, err)
		}
	}
	return nil
}

// parentFd opens the parent directory of p inside the upper, for *at
// system calls that os.Root does not offer.
func (c *copier) parentFd(p string) (*os.File, string, error) {
	dir, name := path.Split(p)
	if dir == "" {
		dir = "."
	}
	d, err := c.upper.OpenFile(strings.TrimSuffix(dir, "/"), unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, "", err
	}
	return d, name, nil
}

// setTimes sets the mtime (and atime) of p without following a symlink.
func (c *copier) setTimes(p string, mt time.Time) error {
	d, name, err := c.parentFd(p)
	if err != nil {
		return fmt.Errorf("setting times of %q: %w", "/"+p, err)
	}
	defer d.Close()
	ts := unix.NsecToTimespec(mt.UnixNano())
	if err := unix.UtimesNanoAt(int(d.Fd()), name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting times of %q: %w", "/"+p, err)
	}
	return nil
}

func (c *copier) mknod(p string, st *syscall.Stat_t) error {
	d, name, err := c.parentFd(p)
	if err != nil {
		return fmt.Errorf("creating %q: %w", "/"+p, err)
	}
	defer d.Close()
	if err := unix.Mknodat(int(d.Fd()), name, st.Mode, int(st.Rdev)); err != nil {
		return fmt.Errorf("creating %q: %w", "/"+p, err)
	}
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
