package copier

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/ocibuilder/builder/internal/source"
	"golang.org/x/sys/unix"
)

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
func (c *Copier) copyXattrs(xs map[string][]byte, dst string) error {
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
func (c *Copier) parentFd(p string) (*os.File, string, error) {
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
func (c *Copier) setTimes(p string, mt time.Time) error {
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

func (c *Copier) mknod(p string, st *syscall.Stat_t) error {
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
