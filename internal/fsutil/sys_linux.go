package fsutil

import (
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The Linux system calls Dir and the other helpers use; sys_other.go has
// their stand-ins for other systems.

// oPath opens a directory only to resolve names below it.
const oPath = unix.O_PATH

// openat2Beneath opens rel below dirfd, the kernel refusing symlinks and
// any way out of dirfd.
func openat2Beneath(dirfd int, rel string, flags int) (int, error) {
	return unix.Openat2(dirfd, rel, &unix.OpenHow{
		Flags:   uint64(flags),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
}

// getxattrat is getxattrat(2) (Linux 6.13) without following a symlink at
// p.
func getxattrat(dirfd int, p, attr *byte, args *xattrArgs) (uintptr, unix.Errno) {
	r, _, errno := unix.Syscall6(unix.SYS_GETXATTRAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		unix.AT_SYMLINK_NOFOLLOW, uintptr(unsafe.Pointer(attr)), uintptr(unsafe.Pointer(args)), unsafe.Sizeof(*args))
	return r, errno
}

// listxattrat is listxattrat(2) (Linux 6.13) without following a symlink
// at p.
func listxattrat(dirfd int, p *byte, buf unsafe.Pointer, size int) (uintptr, unix.Errno) {
	r, _, errno := unix.Syscall6(unix.SYS_LISTXATTRAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		unix.AT_SYMLINK_NOFOLLOW, uintptr(buf), uintptr(size), 0)
	return r, errno
}

// lgetxattr, llistxattr and lsetxattr are the path forms, used through
// /proc/self/fd.
func lgetxattr(p, attr string, buf []byte) (int, error) { return unix.Lgetxattr(p, attr, buf) }
func llistxattr(p string, buf []byte) (int, error)      { return unix.Llistxattr(p, buf) }
func lsetxattr(p, attr string, value []byte) error      { return unix.Lsetxattr(p, attr, value, 0) }

// renameExchange swaps the entries at a and b in one step.
func renameExchange(a, b string) error {
	return unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
}

// openTmpfile opens an unnamed file in dir (O_TMPFILE).
func openTmpfile(dir string) (int, error) {
	return unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
}

// statMtime is st's modification time.
func statMtime(st *syscall.Stat_t) time.Time { return time.Unix(st.Mtim.Unix()) }
