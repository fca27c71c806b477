package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrUnavailable is wrapped by the errors of Available and
// OverlayAvailable.
var ErrUnavailable = errors.New("sandbox unavailable")

// Available reports whether this process can create sandboxes: it must be
// root with CAP_SYS_ADMIN and the kernel must offer mount, PID, UTS, IPC and
// network namespaces. It inspects rather than tries, so Run can still fail
// where a security policy forbids what the checks cannot see; Run's error
// then says what was refused. A nil result says nothing about overlayfs: see
// OverlayAvailable.
func Available() error {
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Errorf("%w: running as uid %d, not root", ErrUnavailable, uid)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("%w: reading capabilities: %v", ErrUnavailable, err)
	}
	if data[0].Effective&(1<<unix.CAP_SYS_ADMIN) == 0 {
		return fmt.Errorf("%w: CAP_SYS_ADMIN is not in the effective set", ErrUnavailable)
	}
	for _, ns := range []string{"mnt", "pid", "uts", "ipc", "net"} {
		if _, err := os.Stat("/proc/self/ns/" + ns); err != nil {
			return fmt.Errorf("%w: kernel lacks %s namespaces: %v", ErrUnavailable, ns, err)
		}
	}
	if _, err := os.Stat("/proc/self/exe"); err != nil {
		return fmt.Errorf("%w: cannot re-execute this program: %v", ErrUnavailable, err)
	}
	return nil
}

// OverlayAvailable reports whether the kernel offers overlayfs, which Rootfs
// Overlay needs; without it, use Rootfs Dir.
func OverlayAvailable() error {
	ok, err := hasFilesystem("/proc/filesystems", "overlay")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if !ok && !overlayModuleInstalled() {
		return fmt.Errorf("%w: kernel has no overlay filesystem (modprobe overlay?)", ErrUnavailable)
	}
	return nil
}

// overlayModuleInstalled reports whether overlayfs is a module the kernel
// loads on the first overlay mount.
func overlayModuleInstalled() bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	_, err := os.Stat("/lib/modules/" + unix.ByteSliceToString(u.Release[:]) + "/kernel/fs/overlayfs")
	return err == nil
}

// hasFilesystem reports whether the /proc/filesystems-format file at path
// lists fstype.
func hasFilesystem(path, fstype string) (found bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("closing %s: %w", path, cerr)
		}
	}()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 && fields[len(fields)-1] == fstype {
			return true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	return false, nil
}
