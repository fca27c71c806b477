package fsutil

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// xattrPath names the entry name of d through /proc/self/fd, for the
// extended attribute calls that have no *at form: the kernel resolves only
// name below the descriptor. When name is a relative path too long for
// that, its parent is opened below d first. The caller calls release once
// done with the path.
func (d *Dir) xattrPath(name string) (p string, release func(), err error) {
	p = "/proc/self/fd/" + strconv.Itoa(d.Fd()) + "/" + name
	i := strings.LastIndexByte(name, '/')
	if len(p) < unix.PathMax || i < 0 {
		return p, func() {}, nil
	}
	fd, err := d.openBeneath(name[:i], oPath|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
	if err != nil {
		return "", nil, err
	}
	return "/proc/self/fd/" + strconv.Itoa(fd) + "/" + name[i+1:], func() { unix.Close(fd) }, nil
}

// ListXattrs returns the extended attribute names of the entry name of d,
// not following a symlink there. A filesystem without xattrs has none.
func (d *Dir) ListXattrs(name string) ([]string, error) {
	var buf []byte
	for {
		n, err := d.listxattr(name, buf)
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if errors.Is(err, unix.ERANGE) {
			buf = nil // grew since the size query
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("listing xattrs of %s: %w", d.join(name), err)
		}
		if n == 0 {
			return nil, nil
		}
		if buf == nil {
			buf = make([]byte, n)
			continue
		}
		var names []string
		for b := range bytes.SplitSeq(buf[:n], []byte{0}) {
			if len(b) > 0 {
				names = append(names, string(b))
			}
		}
		return names, nil
	}
}

// GetXattr returns the value of the extended attribute attr of the entry
// name of d (not following a symlink there) and whether it is set.
func (d *Dir) GetXattr(name, attr string) ([]byte, bool, error) {
	var buf []byte
	for {
		n, err := d.getxattr(name, attr, buf)
		if errors.Is(err, unix.ENODATA) || errors.Is(err, unix.ENOTSUP) {
			return nil, false, nil
		}
		if errors.Is(err, unix.ERANGE) {
			buf = nil
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("reading xattr %s of %s: %w", attr, d.join(name), err)
		}
		if buf == nil && n > 0 {
			buf = make([]byte, n)
			continue
		}
		return buf[:n:n], true, nil
	}
}

// xattrArgs is the kernel's struct xattr_args.
type xattrArgs struct {
	value uint64
	size  uint32
	flags uint32
}

// getxattr reads attr of name into buf (only its size when buf is nil).
func (d *Dir) getxattr(name, attr string, buf []byte) (int, error) {
	a, err := unix.BytePtrFromString(attr)
	if err != nil {
		return 0, err
	}
	args := xattrArgs{size: uint32(len(buf))}
	if len(buf) > 0 {
		args.value = uint64(uintptr(unsafe.Pointer(&buf[0])))
	}
	return d.xattrAt(name, func(p *byte) (uintptr, unix.Errno) {
		r, errno := getxattrat(d.Fd(), p, a, &args)
		runtime.KeepAlive(buf)
		return r, errno
	}, func(pp string) (int, error) { return lgetxattr(pp, attr, buf) })
}

// listxattr lists the xattr names of name into buf (only their size when
// buf is nil), as getxattr does.
func (d *Dir) listxattr(name string, buf []byte) (int, error) {
	var bp unsafe.Pointer
	if len(buf) > 0 {
		bp = unsafe.Pointer(&buf[0])
	}
	return d.xattrAt(name, func(p *byte) (uintptr, unix.Errno) {
		r, errno := listxattrat(d.Fd(), p, bp, len(buf))
		runtime.KeepAlive(buf)
		return r, errno
	}, func(pp string) (int, error) { return llistxattr(pp, buf) })
}

// xattrAt runs one of the *xattrat system calls (Linux 6.13), which take
// name relative to the descriptor; where the kernel lacks it (or a seccomp
// filter refuses it), byPath runs the path form on the entry reached
// through /proc/self/fd.
func (d *Dir) xattrAt(name string, at func(p *byte) (uintptr, unix.Errno), byPath func(p string) (int, error)) (int, error) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return 0, err
	}
	for {
		r, errno := at(p)
		switch errno {
		case 0:
			return int(r), nil
		case unix.EINTR:
			continue
		case unix.ENOSYS, unix.EPERM:
			pp, release, err := d.xattrPath(name)
			if err != nil {
				return 0, err
			}
			defer release()
			return byPath(pp)
		}
		return 0, errno
	}
}

// SetXattr sets the extended attribute attr of the entry name of d, not
// following a symlink there.
func (d *Dir) SetXattr(name, attr string, value []byte) error {
	p, release, err := d.xattrPath(name)
	if err != nil {
		return fmt.Errorf("setting xattr %s: %w", attr, err)
	}
	defer release()
	if err := lsetxattr(p, attr, value); err != nil {
		return fmt.Errorf("setting xattr %s of %s: %w", attr, d.join(name), err)
	}
	return nil
}
