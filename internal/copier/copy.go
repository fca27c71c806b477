package copier

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"syscall"
	"time"

	"github.com/ocibuilder/builder/internal/source"
)

// CopyInto copies the source entry src (already resolved in fsys) to the
// image path dst, replacing what the upper holds there unless both are
// directories.
func (c *Copier) CopyInto(fsys source.FS, src, dst string) error {
	fi, err := fsys.Lstat(src)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		// Only the directory's contents are copied: the destination is
		// made like any missing parent, or keeps its metadata when the
		// image has it, as in docker.
		if err := c.MkdirDest(dst); err != nil {
			return err
		}
		return c.copyTree(fsys, src, "", dst)
	}
	if err := c.MkdirParents(dst); err != nil {
		return err
	}
	return c.CopyEntry(fsys, src, dst, fi)
}

// copyTree copies the contents of the directory src, at rel below the
// directory --exclude patterns are matched from, as Walk lists them: each
// entry to its path below root.
func (c *Copier) copyTree(fsys source.FS, src, rel, root string) error {
	return Walk(c.ctx, fsys, src, rel, c.opts.Exclude, func(s, r string, fi fs.FileInfo) error {
		return c.CopyEntry(fsys, s, path.Join(root, r), fi)
	})
}

// CopyEntry creates dst in the upper as a copy of the single entry src of
// fsys, whose lstat is fi; a directory is created empty (CopyInto fills
// one). dst's parent must exist (MkdirParents).
func (c *Copier) CopyEntry(fsys source.FS, src, dst string, fi fs.FileInfo) error {
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

// copyFile copies the content of the regular file src into a new file dst.
func (c *Copier) copyFile(fsys source.FS, src, dst string) (err error) {
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

// WriteFile creates dst with the content r (a heredoc or a download),
// owned by Options.Owner or root, with mode (or --chmod) and mtime.
func (c *Copier) WriteFile(dst string, r io.Reader, mode fs.FileMode, mtime time.Time) (err error) {
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
	uid, gid := c.owner()
	if err := c.upper.Lchown(dst, uid, gid); err != nil {
		return fmt.Errorf("chown %q: %w", "/"+dst, err)
	}
	if c.opts.HasChmod {
		mode = c.opts.Chmod
	}
	if err := c.upper.Chmod(dst, mode); err != nil {
		return fmt.Errorf("chmod %q: %w", "/"+dst, err)
	}
	return c.setTimes(dst, mtime)
}

// applyMeta sets owner, mode, xattrs and (for non-directories) mtime of
// dst from the source entry.
func (c *Copier) applyMeta(fsys source.FS, src, dst string, fi fs.FileInfo) error {
	st, _ := fi.Sys().(*syscall.Stat_t)
	uid, gid := c.owner()
	if c.opts.Owner == nil && c.opts.KeepOwner && st != nil {
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
func (c *Copier) modeFor(fi fs.FileInfo) fs.FileMode {
	if c.opts.HasChmod {
		return c.opts.Chmod
	}
	return ModeBits(fi.Mode())
}

// ModeBits keeps the permission and special bits of m in the form
// os.Chmod expects: the part of a source's mode a copy keeps.
func ModeBits(m fs.FileMode) fs.FileMode {
	return m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}
