// Command seccompprobe makes the system calls named on its command line and
// prints, for each, "name errno" with the errno's name, or "name ok". It is
// built statically by the sandbox tests and run inside a sandbox.
package main

import (
	"fmt"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	none := []byte("none\x00")
	tmpfs := []byte("tmpfs\x00")
	target := []byte("/nonexistent-mountpoint\x00")
	session := int64(unix.KEY_SPEC_SESSION_KEYRING)
	probes := map[string]func() unix.Errno{
		// KEYCTL_GET_KEYRING_ID of the session keyring.
		"keyctl": func() unix.Errno {
			_, _, e := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, uintptr(session), 0)
			return e
		},
		"personality-query": func() unix.Errno {
			_, _, e := unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
			return e
		},
		// ADDR_NO_RANDOMIZE, which Docker's profile does not allow.
		"personality-norandom": func() unix.Errno {
			_, _, e := unix.Syscall(unix.SYS_PERSONALITY, 0x0040000, 0, 0)
			return e
		},
		// unshare with no flags needs no capability: only a filter
		// refuses it.
		"unshare-nothing": func() unix.Errno {
			_, _, e := unix.Syscall(unix.SYS_UNSHARE, 0, 0, 0)
			return e
		},
		// The kernel resolves the target before checking CAP_SYS_ADMIN,
		// so without a filter this fails with ENOENT.
		"mount-missing": func() unix.Errno {
			_, _, e := unix.Syscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(&none[0])), uintptr(unsafe.Pointer(&target[0])),
				uintptr(unsafe.Pointer(&tmpfs[0])), 0, 0, 0)
			return e
		},
		// A zero-sized clone_args is EINVAL to the kernel.
		"clone3": func() unix.Errno {
			_, _, e := unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
			return e
		},
		"socket-inet": func() unix.Errno { return socket(unix.AF_INET, unix.SOCK_STREAM) },
		"socket-alg":  func() unix.Errno { return socket(unix.AF_ALG, unix.SOCK_SEQPACKET) },
		// PTRACE_SEIZE of a process that is not this one's child (its
		// pid in $SIBLING_PID): same permission checks as PTRACE_ATTACH,
		// without stopping the tracee, which is detached again when this
		// process exits.
		"ptrace-sibling": func() unix.Errno {
			pid, err := strconv.Atoi(os.Getenv("SIBLING_PID"))
			if err != nil {
				return unix.EINVAL
			}
			_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(pid), 0, 0, 0, 0)
			return e
		},
	}
	for _, name := range os.Args[1:] {
		probe, ok := probes[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown probe %q\n", name)
			os.Exit(2)
		}
		if e := probe(); e != 0 {
			fmt.Println(name, unix.ErrnoName(e))
		} else {
			fmt.Println(name, "ok")
		}
	}
}

func socket(domain, typ int) unix.Errno {
	fd, _, e := unix.Syscall(unix.SYS_SOCKET, uintptr(domain), uintptr(typ), 0)
	if e == 0 {
		unix.Close(int(fd))
	}
	return e
}
