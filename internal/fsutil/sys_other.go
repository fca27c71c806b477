//go:build !linux

package fsutil

import (
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Stand-ins for the Linux system calls of sys_linux.go. Each reports the
// call as missing, so the callers take the fallbacks they already have for
// older kernels (a walk of O_NOFOLLOW opens, a named temporary file, two
// renames) or, for extended attributes, report none and refuse to set
// them.

// oPath: without O_PATH, directories on the way are opened for reading.
const oPath = 0

func openat2Beneath(int, string, int) (int, error) { return -1, unix.ENOSYS }

func getxattrat(int, *byte, *byte, *xattrArgs) (uintptr, unix.Errno) { return 0, unix.ENOTSUP }

func listxattrat(int, *byte, unsafe.Pointer, int) (uintptr, unix.Errno) { return 0, unix.ENOTSUP }

func lgetxattr(string, string, []byte) (int, error) { return 0, unix.ENOTSUP }
func llistxattr(string, []byte) (int, error)        { return 0, unix.ENOTSUP }
func lsetxattr(string, string, []byte) error        { return unix.ENOTSUP }

func renameExchange(string, string) error { return unix.ENOSYS }

func openTmpfile(string) (int, error) { return -1, unix.EOPNOTSUPP }

func statMtime(st *syscall.Stat_t) time.Time { return time.Unix(st.Mtimespec.Unix()) }

// MarkTopDir does nothing: the hint it gives (chattr +T, FS_TOPDIR_FL)
// is Linux's.
func MarkTopDir(string) {}
