package sandbox

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// mountRootfs mounts the step's root filesystem at target, inside the
// child's mount namespace.
func mountRootfs(r Rootfs, target string) error {
	if r.Overlay != nil {
		return mountOverlay(*r.Overlay, target)
	}
	if err := unix.Mount(r.Dir, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mounting root directory %s: %w", r.Dir, err)
	}
	return nil
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
	if err := unix.Mount("overlay", target, "overlay", 0, d.data); err != nil {
		return fmt.Errorf("mounting overlay: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("leaving overlay parent directory: %w", err)
	}
	return nil
}
