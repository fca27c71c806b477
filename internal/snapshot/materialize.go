package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/ocibuilder/builder/internal/fsutil"
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
	r, root, err := openRoot(s.dirs)
	if err != nil {
		return err
	}
	defer r.close()
	if root.fi == nil {
		return nil // an empty view
	}
	out, err := fsutil.OpenDir(dst)
	if err != nil {
		return fmt.Errorf("opening materialized root: %w", err)
	}
	defer out.Close()
	m := materializer{ctx: ctx}
	if err := m.fill(root.dir(), out); err != nil {
		return err
	}
	return copyMeta(root, out, ".")
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

// materializer copies one view. Both sides are reached through directory
// descriptors, a name at a time, so depth does not matter.
type materializer struct {
	ctx context.Context
}

// fill fills the existing directory out with the content of the union
// directory u.
func (m *materializer) fill(u udir, out *fsutil.Dir) error {
	kids, err := list(u)
	if err != nil {
		return err
	}
	for _, k := range kids {
		if err := m.ctx.Err(); err != nil {
			return err
		}
		if err := m.entry(k, out); err != nil {
			return err
		}
	}
	return nil
}

// entry creates the entry n.name in out as a copy of n, then gives it the
// metadata of n (a directory after its children are written).
func (m *materializer) entry(n node, out *fsutil.Dir) error {
	st := statOf(n.fi)
	fd := out.Fd()
	switch mode := n.fi.Mode(); {
	case mode.IsDir():
		if err := unix.Mkdirat(fd, n.name, 0o700); err != nil {
			return fmt.Errorf("creating directory %s/%s: %w", out.Name(), n.name, err)
		}
		sub, err := out.OpenDir(n.name)
		if err != nil {
			return fmt.Errorf("creating directory: %w", err)
		}
		defer sub.Close()
		if err := m.fill(n.dir(), sub); err != nil {
			return err
		}
	case mode.IsRegular():
		if err := copyFile(n, out); err != nil {
			return err
		}
	case mode&fs.ModeSymlink != 0:
		target, err := n.at.Readlink(n.rel)
		if err != nil {
			return fmt.Errorf("reading link: %w", err)
		}
		if err := unix.Symlinkat(target, fd, n.name); err != nil {
			return fmt.Errorf("creating link %s/%s: %w", out.Name(), n.name, err)
		}
	default: // devices, fifos, sockets
		if err := unix.Mknodat(fd, n.name, st.Mode, int(st.Rdev)); err != nil {
			return fmt.Errorf("creating node %s/%s: %w", out.Name(), n.name, err)
		}
	}
	return copyMeta(n, out, n.name)
}

// copyFile copies the content of the regular file n to the new file
// n.name in out.
func copyFile(n node, out *fsutil.Dir) (err error) {
	in, err := n.at.OpenBeneath(n.rel)
	if err != nil {
		return fmt.Errorf("opening layer file: %w", err)
	}
	defer func() {
		if cerr := in.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing file %s: %w", in.Name(), cerr)
		}
	}()
	fd, err := unix.Openat(out.Fd(), n.name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("creating file %s/%s: %w", out.Name(), n.name, err)
	}
	f := os.NewFile(uintptr(fd), out.Name()+"/"+n.name)
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing file %s: %w", f.Name(), cerr)
		}
	}()
	if _, err := io.Copy(f, in); err != nil {
		return fmt.Errorf("copying %s to %s: %w", in.Name(), f.Name(), err)
	}
	return nil
}

// copyMeta gives the entry name of out the owner, mode, xattrs and times
// of n. The order matters: chown clears setuid, setgid and
// security.capability, so mode and xattrs come after it, and times come
// last as every other change touches ctime and may touch mtime.
func copyMeta(n node, out *fsutil.Dir, name string) error {
	st := statOf(n.fi)
	fd := out.Fd()
	if err := unix.Fchownat(fd, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting owner of %s/%s: %w", out.Name(), name, err)
	}
	if n.fi.Mode()&fs.ModeSymlink == 0 {
		// name was just created by this copy and is no symlink.
		if err := unix.Fchmodat(fd, name, st.Mode&0o7777, 0); err != nil {
			return fmt.Errorf("setting mode of %s/%s: %w", out.Name(), name, err)
		}
	}
	xs, err := metaXattrs(n.at, n.rel)
	if err != nil {
		return err
	}
	for x, v := range xs {
		if err := out.SetXattr(name, x, v); err != nil {
			return err
		}
	}
	ts := []unix.Timespec{
		{Sec: st.Atim.Sec, Nsec: st.Atim.Nsec},
		{Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec},
	}
	if err := unix.UtimesNanoAt(fd, name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting times of %s/%s: %w", out.Name(), name, err)
	}
	return nil
}
