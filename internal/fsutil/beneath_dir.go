package fsutil

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Dir is an open directory whose entries are reached through its file
// descriptor. No operation builds a path from where the directory itself
// is, so how long that path is does not matter: a tree below a deep state
// directory is read as well as one below "/". The kernel only ever
// resolves the name given relative to the descriptor.
//
// A name is one component, or for Lstat, Readlink and the xattr methods
// also a relative path whose directories the caller has seen to be
// directories (they are resolved as given, a symlink among them
// followed). The Beneath methods take any relative path and keep it below
// the directory.
//
// A Dir is safe for concurrent use; Names moves a shared read offset, so
// concurrent listings of one Dir need their own Dir each.
type Dir struct {
	f *os.File
	// name is the directory's path for messages: the host path it was
	// opened as, extended by the names it was reached through.
	name string
}

// OpenDir opens the directory at the host path p. Symlinks in p are
// followed: p is trusted, only what lies below it is read by name.
func OpenDir(p string) (*Dir, error) {
	fd, err := openRetry(func() (int, error) {
		return unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return &Dir{f: os.NewFile(uintptr(fd), p), name: p}, nil
}

// Name returns the path the directory is known by in messages.
func (d *Dir) Name() string { return d.name }

// Fd returns the directory's descriptor, valid until Close.
func (d *Dir) Fd() int { return int(d.f.Fd()) }

// Close closes the directory.
func (d *Dir) Close() error { return d.f.Close() }

// Stat describes the directory itself.
func (d *Dir) Stat() (fs.FileInfo, error) {
	return d.Lstat(".")
}

// join names the entry name of d in messages.
func (d *Dir) join(name string) string {
	if name == "." {
		return d.name
	}
	return d.name + "/" + name
}

// OpenDir opens the subdirectory name of d, which must be a directory
// itself and not a symlink.
func (d *Dir) OpenDir(name string) (*Dir, error) {
	fd, err := openRetry(func() (int, error) {
		return unix.Openat(d.Fd(), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: d.join(name), Err: err}
	}
	return &Dir{f: os.NewFile(uintptr(fd), d.join(name)), name: d.join(name)}, nil
}

// OpenDirBeneath opens the directory at the slash path rel below d ("" or
// "." is d itself, opened again), refusing symlinks on the way and any way
// out of d. One openat2 call resolves the whole path; where openat2 is
// missing the path is walked a component at a time.
func (d *Dir) OpenDirBeneath(rel string) (*Dir, error) {
	if rel == "" {
		rel = "."
	}
	fd, err := d.openBeneath(rel, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &Dir{f: os.NewFile(uintptr(fd), d.join(rel)), name: d.join(rel)}, nil
}

// OpenBeneath opens the entry at the slash path rel below d for reading,
// refusing symlinks on the way (the last component included) and any way
// out of d.
func (d *Dir) OpenBeneath(rel string) (*os.File, error) {
	fd, err := d.openBeneath(rel, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), d.join(rel)), nil
}

// openBeneath opens rel below d with flags, through openat2 or, where the
// kernel or a seccomp filter refuses it, a walk of O_NOFOLLOW openat calls.
func (d *Dir) openBeneath(rel string, flags int) (int, error) {
	fd, err := openRetry(func() (int, error) {
		return openat2Beneath(d.Fd(), rel, flags)
	})
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		fd, err = d.walkBeneath(rel, flags)
	}
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: d.join(rel), Err: err}
	}
	return fd, nil
}

// walkBeneath is openBeneath without openat2: each component is opened
// with O_NOFOLLOW from the one before, and ".." or an absolute path is
// refused as RESOLVE_BENEATH would.
func (d *Dir) walkBeneath(rel string, flags int) (int, error) {
	if path.IsAbs(rel) {
		return -1, unix.EXDEV
	}
	parts := strings.Split(rel, "/")
	cur := d.Fd()
	owned := false
	defer func() {
		if owned {
			unix.Close(cur)
		}
	}()
	for i, c := range parts {
		if c == ".." {
			return -1, unix.EXDEV
		}
		fl := oPath | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if i == len(parts)-1 {
			fl = flags
		}
		if c == "" {
			c = "."
		}
		next, err := openRetry(func() (int, error) { return unix.Openat(cur, c, fl, 0) })
		if err != nil {
			return -1, err
		}
		if owned {
			unix.Close(cur)
		}
		cur, owned = next, true
	}
	owned = false
	return cur, nil
}

// Open opens the entry name of d for reading without following a symlink
// there. O_NONBLOCK keeps a FIFO from blocking the open.
func (d *Dir) Open(name string) (*os.File, error) {
	fd, err := openRetry(func() (int, error) {
		return unix.Openat(d.Fd(), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: d.join(name), Err: err}
	}
	return os.NewFile(uintptr(fd), d.join(name)), nil
}

// Lstat describes the entry name of d without following a symlink. The
// result's Sys is a *syscall.Stat_t, as os.Lstat's is.
func (d *Dir) Lstat(name string) (fs.FileInfo, error) {
	fi := &fileInfo{name: path.Base(name)}
	err := ignoringEINTR(func() error {
		return unix.Fstatat(d.Fd(), name, (*unix.Stat_t)(unsafe.Pointer(&fi.st)), unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		return nil, &os.PathError{Op: "lstat", Path: d.join(name), Err: err}
	}
	fi.fill()
	return fi, nil
}

// The stat buffer is filled by unix.Fstatat and read as the syscall
// package's type, which os.FileInfo users expect: both are the kernel's
// struct stat, generated from the same header.
var _ [unsafe.Sizeof(syscall.Stat_t{}) - unsafe.Sizeof(unix.Stat_t{})]struct{}
var _ [unsafe.Sizeof(unix.Stat_t{}) - unsafe.Sizeof(syscall.Stat_t{})]struct{}

// Readlink returns the target of the symlink name in d.
func (d *Dir) Readlink(name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		var n int
		err := ignoringEINTR(func() (err error) {
			n, err = unix.Readlinkat(d.Fd(), name, buf)
			return err
		})
		if err != nil {
			return "", &os.PathError{Op: "readlink", Path: d.join(name), Err: err}
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// Names lists the names in d in directory order, without "." and "..".
func (d *Dir) Names() ([]string, error) {
	// A fresh offset, so a Dir can be listed more than once.
	if _, err := d.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("reading directory %s: %w", d.name, err)
	}
	names, err := d.f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("reading directory %s: %w", d.name, err)
	}
	return names, nil
}

// SameFile reports whether a and b, from os.Lstat, File.Stat or
// Dir.Lstat, describe the same inode. Unlike os.SameFile it accepts
// every FileInfo whose Sys is a *syscall.Stat_t.
func SameFile(a, b fs.FileInfo) bool {
	sa, oka := a.Sys().(*syscall.Stat_t)
	sb, okb := b.Sys().(*syscall.Stat_t)
	return oka && okb && sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

func openRetry(open func() (int, error)) (int, error) {
	for {
		fd, err := open()
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

func ignoringEINTR(f func() error) error {
	for {
		if err := f(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// fileInfo is a FileInfo filled by fstatat, built the way os builds its
// own from stat data.
type fileInfo struct {
	name string
	st   syscall.Stat_t
	mode fs.FileMode
}

func (fi *fileInfo) fill() {
	fi.mode = fs.FileMode(fi.st.Mode & 0o777)
	switch fi.st.Mode & syscall.S_IFMT {
	case syscall.S_IFBLK:
		fi.mode |= fs.ModeDevice
	case syscall.S_IFCHR:
		fi.mode |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFDIR:
		fi.mode |= fs.ModeDir
	case syscall.S_IFIFO:
		fi.mode |= fs.ModeNamedPipe
	case syscall.S_IFLNK:
		fi.mode |= fs.ModeSymlink
	case syscall.S_IFSOCK:
		fi.mode |= fs.ModeSocket
	}
	if fi.st.Mode&syscall.S_ISGID != 0 {
		fi.mode |= fs.ModeSetgid
	}
	if fi.st.Mode&syscall.S_ISUID != 0 {
		fi.mode |= fs.ModeSetuid
	}
	if fi.st.Mode&syscall.S_ISVTX != 0 {
		fi.mode |= fs.ModeSticky
	}
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.st.Size }
func (fi *fileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi *fileInfo) ModTime() time.Time { return statMtime(&fi.st) }
func (fi *fileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi *fileInfo) Sys() any           { return &fi.st }
