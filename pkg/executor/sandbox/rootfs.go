package sandbox

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// mountRootfs mounts the step's root filesystem at target, inside the
// child's mount namespace. It is nodev: a device node in the image, made by
// an earlier step or this one, cannot be opened (the minimal /dev mounted
// over it holds the only usable ones).
func mountRootfs(r Rootfs, target string) error {
	if r.Overlay != nil {
		return mountOverlay(*r.Overlay, target)
	}
	if err := unix.Mount(r.Dir, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mounting root directory %s: %w", r.Dir, err)
	}
	if err := addMountAttrs(target, unix.MOUNT_ATTR_NODEV); err != nil {
		return fmt.Errorf("making root directory %s nodev: %w", r.Dir, err)
	}
	return nil
}

// addMountAttrs sets attrs (MOUNT_ATTR_*) on the mount at p and every mount
// below it, keeping the flags they have. A bind mount takes the flags of
// its source, so a flag the sandbox needs is set on the bind itself.
func addMountAttrs(p string, attrs uint64) error {
	attr := unix.MountAttr{Attr_set: attrs}
	err := unix.MountSetattr(unix.AT_FDCWD, p, unix.AT_RECURSIVE, &attr)
	if !errors.Is(err, unix.ENOSYS) {
		return err
	}
	// Before Linux 5.12: remount the top mount with its current flags
	// and the new ones.
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return err
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT)
	for _, f := range []struct {
		st    int64
		ms    uintptr
		attrs uint64
	}{
		{unix.ST_RDONLY, unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY},
		{unix.ST_NOSUID, unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
		{unix.ST_NODEV, unix.MS_NODEV, unix.MOUNT_ATTR_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME, unix.MOUNT_ATTR_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME, unix.MOUNT_ATTR_RELATIME},
	} {
		if st.Flags&f.st != 0 || attrs&f.attrs != 0 {
			flags |= f.ms
		}
	}
	return unix.Mount("", p, "", flags, "")
}

// mountOverlay mounts o at target from the common parent of the lower
// directories, where the relative names in the mount data resolve.
func mountOverlay(o Overlay, target string) error {
	d, err := overlayMountData(o, pageSize())
	if err != nil {
		return err
	}
	if err := unix.Chdir(d.dir); err != nil {
		return fmt.Errorf("entering overlay parent directory %s: %w", d.dir, err)
	}
	if err := unix.Mount("overlay", target, "overlay", unix.MS_NODEV, d.data); err != nil {
		return fmt.Errorf("mounting overlay: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("leaving overlay parent directory: %w", err)
	}
	return nil
}
