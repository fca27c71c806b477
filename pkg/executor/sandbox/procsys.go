package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// maskedPaths hide kernel interfaces that leak host information or allow
// harm; they are runc's defaults, relative to the sandbox's root.
func maskedPaths() []string {
	return []string{
		"proc/acpi",
		"proc/asound",
		"proc/kcore",
		"proc/keys",
		"proc/latency_stats",
		"proc/timer_list",
		"proc/timer_stats",
		"proc/sched_debug",
		"proc/scsi",
		"sys/firmware",
		"sys/devices/virtual/powercap",
	}
}

// readonlyPaths stay visible but read-only, as in runc.
func readonlyPaths() []string {
	return []string{
		"proc/bus",
		"proc/fs",
		"proc/irq",
		"proc/sys",
		"proc/sysrq-trigger",
	}
}

const procFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC

// mountProc mounts a proc of the child's new PID namespace.
func mountProc(p string) error {
	if err := unix.Mount("proc", p, "proc", procFlags, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	return nil
}

// mountSys mounts a read-only sysfs. A fresh sysfs shows the child's network
// namespace and carries none of the host's submounts (cgroup, securityfs,
// ...), which a recursive bind would expose writable unless each were
// remounted. Where a new sysfs is refused, the host's /sys is bound
// recursively and made read-only as a whole.
func mountSys(p string) error {
	err := unix.Mount("sysfs", p, "sysfs", unix.MS_RDONLY|procFlags, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("mounting /sys: %w", err)
	}
	if err := unix.Mount("/sys", p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mounting /sys: %w", err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}
	if err := unix.MountSetattr(unix.AT_FDCWD, p, unix.AT_RECURSIVE, &attr); err != nil {
		return fmt.Errorf("making /sys read-only: %w", err)
	}
	return nil
}

// maskPaths applies maskedPaths and readonlyPaths under the new /proc and
// /sys, skipping those this kernel does not have.
func maskPaths(mp mountpoints) error {
	for _, rel := range maskedPaths() {
		p := mp.kernelPath(rel)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("masking /%s: %w", rel, err)
		}
		if fi.IsDir() {
			err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|procFlags, "size=0,mode=0555")
		} else {
			err = unix.Mount(filepath.Join(mp.dev, "null"), p, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("masking /%s: %w", rel, err)
		}
	}
	for _, rel := range readonlyPaths() {
		p := mp.kernelPath(rel)
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return fmt.Errorf("making /%s read-only: %w", rel, err)
		}
		if err := bindReadonly(p, p); err != nil {
			return fmt.Errorf("making /%s read-only: %w", rel, err)
		}
	}
	return nil
}

// bindReadonly binds src onto dst and remounts the bind read-only; a bind
// mount ignores MS_RDONLY until remounted.
func bindReadonly(src, dst string) error {
	if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	return unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|procFlags, "")
}

// kernelPath maps a path under /proc or /sys to the host path of the fresh
// mount, which the image's symlinks may have moved.
func (mp mountpoints) kernelPath(rel string) string {
	if r, ok := strings.CutPrefix(rel, "proc/"); ok {
		return filepath.Join(mp.proc, r)
	}
	if r, ok := strings.CutPrefix(rel, "sys/"); ok {
		return filepath.Join(mp.sys, r)
	}
	return filepath.Join(mp.root, rel)
}
