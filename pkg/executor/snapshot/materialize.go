package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Materialize copies the union view of s into dst, which must be empty or
// not exist yet. Content, mode (with setuid, setgid and sticky bits), owner,
// xattrs other than overlay ones, atime and mtime to the nanosecond,
// symlinks, devices, fifos and sockets are reproduced, so DirChanges finds
// an untouched copy identical to s. Directory times are set after their
// children are written.
//
// Every entry becomes its own inode: hard links between entries of the view
// are not kept. This matches overlayfs mounted with index=off, which breaks
// a lower hard link when one of its names is copied up, so a step changing
// one name of a linked pair changes the same paths on both snapshotters.
func Materialize(ctx context.Context, s *Stack, dst string) error {
	if err := prepareDst(dst); err != nil {
		return err
	}
	root, err := rootNode(s.dirs)
	if err != nil {
		return err
	}
	if root.fi == nil {
		return nil // an empty view
	}
	m := materializer{ctx: ctx}
	return m.dir(root, dst)
}

// prepareDst makes sure dst is an empty directory.
func prepareDst(dst string) error {
	ents, err := os.ReadDir(dst)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(dst, 0o700); err != nil {
			return fmt.Errorf("creating materialized root %s: %w", dst, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening materialized root %s: %w", dst, err)
	}
	if len(ents) > 0 {
		return fmt.Errorf("materializing into %s: %w", dst, unix.ENOTEMPTY)
	}
	return nil
}

// materializer copies one view.
type materializer struct {
	ctx context.Context
}

// dir fills the existing directory dst with the content of n, then gives
// dst the metadata of n.
func (m *materializer) dir(n node, dst string) error {
	kids, err := list(n)
	if err != nil {
		return err
	}
	for _, k := range kids {
		if err := m.ctx.Err(); err != nil {
			return err
		}
		if err := m.entry(k, filepath.Join(dst, k.name)); err != nil {
			return err
		}
	}
	return copyMeta(n, dst)
}

// entry creates dst as a copy of n.
func (m *materializer) entry(n node, dst string) error {
	st := statOf(n.fi)
	switch mode := n.fi.Mode(); {
	case mode.IsDir():
		if err := os.Mkdir(dst, 0o700); err != nil {
			return fmt.Errorf("creating directory %s: %w", dst, err)
		}
		return m.dir(n, dst)
	case mode.IsRegular():
		if err := copyFile(n.host, dst); err != nil {
			return err
		}
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(n.host)
		if err != nil {
			return fmt.Errorf("reading link %s: %w", n.host, err)
		}
		if err := os.Symlink(target, dst); err != nil {
			return fmt.Errorf("creating link %s: %w", dst, err)
		}
	default: // devices, fifos, sockets
		if err := unix.Mknod(dst, st.Mode, int(st.Rdev)); err != nil {
			return fmt.Errorf("creating node %s: %w", dst, err)
		}
	}
	return copyMeta(n, dst)
}

// copyFile copies the content of the regular file src to the new file dst.
func copyFile(src, dst string) (err error) {
	in, err := os.OpenFile(src, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", src, err)
	}
	defer func() {
		if cerr := in.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing file %s: %w", src, cerr)
		}
	}()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating file %s: %w", dst, err)
	}
	defer func() {
		if cerr := out.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing file %s: %w", dst, cerr)
		}
	}()
	if _, err := io.Copy(out, in); err != nil {
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	return nil
}

// copyMeta gives dst the owner, mode, xattrs and times of n. The order
// matters: chown clears setuid, setgid and security.capability, so mode and
// xattrs come after it, and times come last as every other change touches
// ctime and may touch mtime.
func copyMeta(n node, dst string) error {
	st := statOf(n.fi)
	if err := unix.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("setting owner of %s: %w", dst, err)
	}
	if n.fi.Mode()&fs.ModeSymlink == 0 {
		if err := unix.Chmod(dst, st.Mode&0o7777); err != nil {
			return fmt.Errorf("setting mode of %s: %w", dst, err)
		}
	}
	xs, err := metaXattrs(n.host)
	if err != nil {
		return err
	}
	for name, v := range xs {
		if err := unix.Lsetxattr(dst, name, v, 0); err != nil {
			return fmt.Errorf("setting xattr %s of %s: %w", name, dst, err)
		}
	}
	ts := []unix.Timespec{
		{Sec: st.Atim.Sec, Nsec: st.Atim.Nsec},
		{Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec},
	}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting times of %s: %w", dst, err)
	}
	return nil
}
