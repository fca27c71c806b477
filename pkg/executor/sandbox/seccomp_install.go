package sandbox

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// seccompProgram compiles Docker's default seccomp profile, resolved
// against the capability set caps, into a BPF program for this machine's
// architecture. Calls of other architectures' ABIs (i386 and x32 on
// x86-64, for instance) are refused by the program.
func seccompProgram(caps uint64) ([]unix.SockFilter, error) {
	profile, err := defaultProfile(caps)
	if err != nil {
		return nil, err
	}
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, fmt.Errorf("looking up syscall table: %w", err)
	}
	rules, err := compileProfile(profile, info)
	if err != nil {
		return nil, err
	}
	insts, err := assembleRules(rules, info)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(insts)
	if err != nil {
		return nil, fmt.Errorf("assembling seccomp program: %w", err)
	}
	prog := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		prog[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return prog, nil
}

// installSeccomp confines the calling thread, and whatever it execs, to
// prog. Other threads of the process are left alone (no TSYNC): the caller
// is locked to the thread that execs the command, and exec ends the others.
// The thread must have no_new_privs set, as the sandbox has no
// CAP_SYS_ADMIN by then.
func installSeccomp(prog []unix.SockFilter) error {
	if len(prog) == 0 {
		return fmt.Errorf("installing seccomp filter: empty program")
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if errno != 0 {
		return fmt.Errorf("installing seccomp filter: %w", errno)
	}
	return nil
}
