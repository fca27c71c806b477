package sandbox

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Verdicts a filter returns.
const (
	verdictAllow  = uint32(unix.SECCOMP_RET_ALLOW)
	verdictEPERM  = uint32(unix.SECCOMP_RET_ERRNO) | uint32(unix.EPERM)
	verdictENOSYS = uint32(unix.SECCOMP_RET_ERRNO) | uint32(unix.ENOSYS)
)

// filterVM runs a seccomp program the way the kernel does, on seccomp_data.
type filterVM struct {
	vm   *bpf.VM
	info *arch.Info
}

func newFilterVM(t testing.TB, prog []unix.SockFilter) *filterVM {
	t.Helper()
	raw := make([]bpf.RawInstruction, len(prog))
	for i, f := range prog {
		raw[i] = bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}
	}
	insts, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("program has instructions the BPF VM does not know")
	}
	vm, err := bpf.NewVM(insts)
	if err != nil {
		t.Fatalf("loading program: %v", err)
	}
	info, err := arch.GetInfo("")
	if err != nil {
		t.Fatal(err)
	}
	return &filterVM{vm: vm, info: info}
}

func rulesVM(t testing.TB, rs filterRules, info *arch.Info) *filterVM {
	t.Helper()
	insts, err := assembleRules(rs, info)
	if err != nil {
		t.Fatalf("assembling rules: %v", err)
	}
	raw, err := bpf.Assemble(insts)
	if err != nil {
		t.Fatal(err)
	}
	prog := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		prog[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return newFilterVM(t, prog)
}

// run returns the filter's verdict on a call numbered nr of the audit
// architecture auditArch.
func (f *filterVM) run(t testing.TB, nr, auditArch uint32, args ...uint64) uint32 {
	t.Helper()
	data := make([]byte, 64) // struct seccomp_data
	binary.NativeEndian.PutUint32(data[0:], nr)
	binary.NativeEndian.PutUint32(data[4:], auditArch)
	for i, a := range args {
		binary.NativeEndian.PutUint64(data[16+8*i:], a)
	}
	// The kernel loads words in native order, the VM in network order.
	for i := 0; i < len(data); i += 4 {
		binary.BigEndian.PutUint32(data[i:], binary.NativeEndian.Uint32(data[i:]))
	}
	v, err := f.vm.Run(data)
	if err != nil {
		t.Fatalf("running filter: %v", err)
	}
	return uint32(v)
}

// call returns the verdict on the named syscall of this architecture.
func (f *filterVM) call(t testing.TB, name string, args ...uint64) uint32 {
	t.Helper()
	nr, ok := f.info.SyscallNames[name]
	if !ok {
		t.Fatalf("no syscall %s on %s", name, f.info.Name)
	}
	return f.run(t, uint32(nr), uint32(f.info.ID), args...)
}

func TestDefaultSeccompProgram(t *testing.T) {
	prog, err := seccompProgram(defaultCaps)
	if err != nil {
		t.Fatal(err)
	}
	vm := newFilterVM(t, prog)
	const nsFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
		unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP
	tests := []struct {
		name    string
		syscall string
		args    []uint64
		want    uint32
	}{
		{name: "read", syscall: "read", want: verdictAllow},
		{name: "execve", syscall: "execve", want: verdictAllow},
		{name: "chown", syscall: "fchownat", want: verdictAllow},
		{name: "chroot with CAP_SYS_CHROOT", syscall: "chroot", want: verdictAllow},
		{name: "ptrace TRACEME", syscall: "ptrace", args: []uint64{unix.PTRACE_TRACEME}, want: verdictAllow},
		{name: "ptrace PEEKDATA of a tracee", syscall: "ptrace", args: []uint64{unix.PTRACE_PEEKDATA}, want: verdictAllow},
		{name: "ptrace ATTACH", syscall: "ptrace", args: []uint64{unix.PTRACE_ATTACH}, want: verdictEPERM},
		{name: "ptrace SEIZE", syscall: "ptrace", args: []uint64{unix.PTRACE_SEIZE}, want: verdictEPERM},
		{name: "keyctl", syscall: "keyctl", want: verdictEPERM},
		{name: "add_key", syscall: "add_key", want: verdictEPERM},
		{name: "mount", syscall: "mount", want: verdictEPERM},
		{name: "umount2", syscall: "umount2", want: verdictEPERM},
		{name: "unshare", syscall: "unshare", want: verdictEPERM},
		{name: "setns", syscall: "setns", want: verdictEPERM},
		{name: "bpf", syscall: "bpf", want: verdictEPERM},
		{name: "perf_event_open", syscall: "perf_event_open", want: verdictEPERM},
		{name: "open_by_handle_at without CAP_DAC_READ_SEARCH", syscall: "open_by_handle_at", want: verdictEPERM},
		{name: "io_uring_setup", syscall: "io_uring_setup", want: verdictEPERM},
		{name: "reboot", syscall: "reboot", want: verdictEPERM},
		{name: "init_module", syscall: "init_module", want: verdictEPERM},
		{name: "clone a thread", syscall: "clone", args: []uint64{unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND}, want: verdictAllow},
		{name: "clone a process", syscall: "clone", args: []uint64{uint64(unix.SIGCHLD)}, want: verdictAllow},
		{name: "clone flags in the upper half", syscall: "clone", args: []uint64{1 << 40}, want: verdictAllow},
		{name: "clone a mount namespace", syscall: "clone", args: []uint64{unix.CLONE_NEWNS | uint64(unix.SIGCHLD)}, want: verdictEPERM},
		{name: "clone a user namespace", syscall: "clone", args: []uint64{unix.CLONE_NEWUSER}, want: verdictEPERM},
		{name: "clone every namespace", syscall: "clone", args: []uint64{nsFlags}, want: verdictEPERM},
		{name: "clone3 says ENOSYS so libc falls back to clone", syscall: "clone3", want: verdictENOSYS},
		{name: "personality query", syscall: "personality", args: []uint64{0xffffffff}, want: verdictAllow},
		{name: "personality linux", syscall: "personality", args: []uint64{0}, want: verdictAllow},
		{name: "personality linux32", syscall: "personality", args: []uint64{8}, want: verdictAllow},
		{name: "personality uname26", syscall: "personality", args: []uint64{0x20000}, want: verdictAllow},
		{name: "personality no randomize", syscall: "personality", args: []uint64{0x0040000}, want: verdictEPERM},
		{name: "personality read implies exec", syscall: "personality", args: []uint64{0x0400000}, want: verdictEPERM},
		{name: "personality with upper bits", syscall: "personality", args: []uint64{1 << 32}, want: verdictEPERM},
		{name: "socket unix", syscall: "socket", args: []uint64{unix.AF_UNIX}, want: verdictAllow},
		{name: "socket inet6", syscall: "socket", args: []uint64{unix.AF_INET6}, want: verdictAllow},
		{name: "socket netlink", syscall: "socket", args: []uint64{unix.AF_NETLINK}, want: verdictAllow},
		{name: "socket alg", syscall: "socket", args: []uint64{unix.AF_ALG}, want: verdictEPERM},
		{name: "socket vsock", syscall: "socket", args: []uint64{unix.AF_VSOCK}, want: verdictEPERM},
		{name: "socket domain in the upper half", syscall: "socket", args: []uint64{1<<32 | unix.AF_INET}, want: verdictEPERM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := vm.call(t, tt.syscall, tt.args...); got != tt.want {
				t.Errorf("%s(%#x) = %#x, want %#x", tt.syscall, tt.args, got, tt.want)
			}
		})
	}
	t.Run("unknown syscall number", func(t *testing.T) {
		if got := vm.run(t, 4000, uint32(vm.info.ID)); got != verdictEPERM {
			t.Errorf("verdict %#x, want EPERM", got)
		}
	})
	if vm.info.ID == arch.X86_64.ID {
		t.Run("x32 ABI", func(t *testing.T) {
			if got := vm.run(t, uint32(unix.SYS_READ)|0x40000000, uint32(vm.info.ID)); got != verdictENOSYS {
				t.Errorf("verdict %#x, want ENOSYS", got)
			}
		})
		t.Run("i386 ABI", func(t *testing.T) {
			const i386Read = 3
			if got := vm.run(t, i386Read, uint32(arch.I386.ID)); got != verdictEPERM {
				t.Errorf("verdict %#x, want EPERM", got)
			}
		})
	}
}

// TestSeccompCapabilityRules shows the capability-conditional rules are
// resolved against the capability set given.
func TestSeccompCapabilityRules(t *testing.T) {
	tests := []struct {
		name    string
		caps    uint64
		syscall string
		args    []uint64
		want    uint32
	}{
		{name: "CAP_SYS_ADMIN allows mount", caps: defaultCaps | 1<<unix.CAP_SYS_ADMIN, syscall: "mount", want: verdictAllow},
		{name: "CAP_SYS_ADMIN allows namespaces", caps: defaultCaps | 1<<unix.CAP_SYS_ADMIN, syscall: "clone", args: []uint64{unix.CLONE_NEWNS}, want: verdictAllow},
		{name: "CAP_SYS_ADMIN allows clone3", caps: defaultCaps | 1<<unix.CAP_SYS_ADMIN, syscall: "clone3", want: verdictAllow},
		{name: "no CAP_SYS_CHROOT refuses chroot", caps: defaultCaps &^ (1 << unix.CAP_SYS_CHROOT), syscall: "chroot", want: verdictEPERM},
		{name: "CAP_DAC_READ_SEARCH allows open_by_handle_at", caps: defaultCaps | 1<<unix.CAP_DAC_READ_SEARCH, syscall: "open_by_handle_at", want: verdictAllow},
		{name: "CAP_SYS_TIME allows settimeofday", caps: defaultCaps | 1<<unix.CAP_SYS_TIME, syscall: "settimeofday", want: verdictAllow},
		{name: "default caps refuse settimeofday", caps: defaultCaps, syscall: "settimeofday", want: verdictEPERM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prog, err := seccompProgram(tt.caps)
			if err != nil {
				t.Fatal(err)
			}
			if got := newFilterVM(t, prog).call(t, tt.syscall, tt.args...); got != tt.want {
				t.Errorf("%s(%#x) = %#x, want %#x", tt.syscall, tt.args, got, tt.want)
			}
		})
	}
}

func TestCapNames(t *testing.T) {
	got := capNames(defaultCaps)
	want := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
		"CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP"}
	if !slices.Equal(got, want) {
		t.Errorf("capNames(default) = %v, want %v", got, want)
	}
	if got := capNames(1 << unix.CAP_CHECKPOINT_RESTORE); !slices.Equal(got, []string{"CAP_CHECKPOINT_RESTORE"}) {
		t.Errorf("capNames(CAP_CHECKPOINT_RESTORE) = %v", got)
	}
}

func TestCompileProfile(t *testing.T) {
	eperm, enosys, big := uint(unix.EPERM), uint(unix.ENOSYS), uint(1<<16)
	allow := func(names []string, args ...specs.LinuxSeccompArg) specs.LinuxSyscall {
		return specs.LinuxSyscall{Names: names, Action: specs.ActAllow, Args: args}
	}
	arg := func(i uint, op specs.LinuxSeccompOperator, v, v2 uint64) specs.LinuxSeccompArg {
		return specs.LinuxSeccompArg{Index: i, Op: op, Value: v, ValueTwo: v2}
	}
	type check struct {
		syscall string
		args    []uint64
		want    uint32
	}
	tests := []struct {
		name    string
		rules   []specs.LinuxSyscall
		def     specs.LinuxSeccompAction
		defErr  *uint
		wantErr string
		checks  []check
	}{
		{
			name:  "names the architecture lacks are skipped",
			rules: []specs.LinuxSyscall{allow([]string{"read", "no_such_call", "chown32"})},
			checks: []check{
				{syscall: "read", want: verdictAllow},
				{syscall: "write", want: verdictEPERM},
			},
		},
		{
			name:  "comparisons of different arguments all must match",
			rules: []specs.LinuxSyscall{allow([]string{"kill"}, arg(0, specs.OpEqualTo, 1, 0), arg(1, specs.OpEqualTo, 2, 0))},
			checks: []check{
				{syscall: "kill", args: []uint64{1, 2}, want: verdictAllow},
				{syscall: "kill", args: []uint64{1, 3}, want: verdictEPERM},
				{syscall: "kill", args: []uint64{0, 2}, want: verdictEPERM},
			},
		},
		{
			name:  "comparisons of one argument are alternatives",
			rules: []specs.LinuxSyscall{allow([]string{"kill"}, arg(0, specs.OpEqualTo, 1, 0), arg(0, specs.OpEqualTo, 2, 0))},
			checks: []check{
				{syscall: "kill", args: []uint64{1}, want: verdictAllow},
				{syscall: "kill", args: []uint64{2}, want: verdictAllow},
				{syscall: "kill", args: []uint64{3}, want: verdictEPERM},
			},
		},
		{
			name: "inexpressible masked comparison drops an allow rule",
			rules: []specs.LinuxSyscall{
				allow([]string{"kill"}, arg(0, specs.OpMaskedEqual, 0b110, 0b100)),
				allow([]string{"read"}),
			},
			checks: []check{
				{syscall: "kill", args: []uint64{0b100}, want: verdictEPERM},
				{syscall: "kill", args: []uint64{0}, want: verdictEPERM},
				{syscall: "read", want: verdictAllow},
			},
		},
		{
			name: "inexpressible alternative drops only itself",
			rules: []specs.LinuxSyscall{allow([]string{"kill"},
				arg(0, specs.OpMaskedEqual, 0b110, 0b100), arg(0, specs.OpEqualTo, 9, 0))},
			checks: []check{
				{syscall: "kill", args: []uint64{9}, want: verdictAllow},
				{syscall: "kill", args: []uint64{0b100}, want: verdictEPERM},
			},
		},
		{
			name: "inexpressible comparison widens a deny rule",
			def:  specs.ActAllow,
			rules: []specs.LinuxSyscall{{Names: []string{"kill"}, Action: specs.ActErrno, ErrnoRet: &enosys,
				Args: []specs.LinuxSeccompArg{arg(0, specs.OpMaskedEqual, 0b110, 0b100)}}},
			checks: []check{
				{syscall: "kill", args: []uint64{0}, want: verdictENOSYS},
				{syscall: "read", want: verdictAllow},
			},
		},
		{
			name:  "single-bit masked comparison",
			rules: []specs.LinuxSyscall{allow([]string{"kill"}, arg(1, specs.OpMaskedEqual, 4, 4))},
			checks: []check{
				{syscall: "kill", args: []uint64{0, 5}, want: verdictAllow},
				{syscall: "kill", args: []uint64{0, 3}, want: verdictEPERM},
			},
		},
		{
			name:  "empty mask matches every call",
			rules: []specs.LinuxSyscall{allow([]string{"kill"}, arg(0, specs.OpMaskedEqual, 0, 0))},
			checks: []check{
				{syscall: "kill", args: []uint64{12345}, want: verdictAllow},
			},
		},
		{
			name:  "argument index out of range drops an allow rule",
			rules: []specs.LinuxSyscall{allow([]string{"kill"}, arg(6, specs.OpEqualTo, 0, 0)), allow([]string{"read"})},
			checks: []check{
				{syscall: "kill", want: verdictEPERM},
				{syscall: "read", want: verdictAllow},
			},
		},
		{name: "no rule for this architecture", rules: []specs.LinuxSyscall{allow([]string{"no_such_call"})}, wantErr: "no rule applies"},
		{
			name: "unconditional rule wins over conditional rules of the same action",
			rules: []specs.LinuxSyscall{
				allow([]string{"kill"}, arg(0, specs.OpEqualTo, 1, 0)),
				allow([]string{"kill"}),
			},
			checks: []check{
				{syscall: "kill", args: []uint64{7}, want: verdictAllow},
			},
		},
		{
			name: "range comparisons",
			rules: []specs.LinuxSyscall{
				allow([]string{"kill"}, arg(0, specs.OpGreaterEqual, 10, 0), arg(1, specs.OpLessThan, 1<<33, 0)),
			},
			checks: []check{
				{syscall: "kill", args: []uint64{10, 1<<33 - 1}, want: verdictAllow},
				{syscall: "kill", args: []uint64{9, 0}, want: verdictEPERM},
				{syscall: "kill", args: []uint64{10, 1 << 33}, want: verdictEPERM},
			},
		},
		{
			name: "conflicting actions for one syscall",
			rules: []specs.LinuxSyscall{
				allow([]string{"kill"}, arg(0, specs.OpEqualTo, 1, 0)),
				{Names: []string{"kill"}, Action: specs.ActErrno, ErrnoRet: &enosys},
			},
			wantErr: "has rules with actions",
		},
		{name: "errno too large", rules: []specs.LinuxSyscall{{Names: []string{"kill"}, Action: specs.ActErrno, ErrnoRet: &big}}, wantErr: "does not fit"},
		{name: "unsupported action", rules: []specs.LinuxSyscall{{Names: []string{"kill"}, Action: specs.ActNotify}}, wantErr: "unsupported"},
		{name: "default errno other than EPERM", defErr: &enosys, rules: []specs.LinuxSyscall{allow([]string{"read"})},
			checks: []check{{syscall: "write", want: verdictENOSYS}, {syscall: "read", want: verdictAllow}}},
		{name: "explicit default EPERM", defErr: &eperm, rules: []specs.LinuxSyscall{allow([]string{"read"})},
			checks: []check{{syscall: "write", want: verdictEPERM}}},
	}
	info, err := arch.GetInfo("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: tt.defErr, Syscalls: tt.rules}
			if tt.def != "" {
				p.DefaultAction = tt.def
			}
			rules, err := compileProfile(p, info)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			vm := rulesVM(t, rules, info)
			for _, c := range tt.checks {
				if got := vm.call(t, c.syscall, c.args...); got != c.want {
					t.Errorf("%s(%#x) = %#x, want %#x", c.syscall, c.args, got, c.want)
				}
			}
		})
	}
}

// referenceVerdict evaluates a resolved profile directly, the way runc and
// libseccomp read it, for comparison with the compiled program.
func referenceVerdict(p *specs.LinuxSeccomp, info *arch.Info, name string, args [6]uint64) uint32 {
	for _, r := range p.Syscalls {
		if !slices.Contains(r.Names, name) || !argsMatch(r.Args, args) {
			continue
		}
		return actionVerdict(r.Action, r.ErrnoRet)
	}
	return actionVerdict(p.DefaultAction, p.DefaultErrnoRet)
}

func argsMatch(cmps []specs.LinuxSeccompArg, args [6]uint64) bool {
	if len(cmps) == 0 {
		return true
	}
	seen := map[uint]bool{}
	repeated := false
	for _, c := range cmps {
		repeated = repeated || seen[c.Index]
		seen[c.Index] = true
	}
	for _, c := range cmps {
		ok := cmpMatch(c, args[c.Index])
		if repeated && ok {
			return true
		}
		if !repeated && !ok {
			return false
		}
	}
	return !repeated
}

func cmpMatch(c specs.LinuxSeccompArg, v uint64) bool {
	switch c.Op {
	case specs.OpEqualTo:
		return v == c.Value
	case specs.OpNotEqual:
		return v != c.Value
	case specs.OpLessThan:
		return v < c.Value
	case specs.OpLessEqual:
		return v <= c.Value
	case specs.OpGreaterThan:
		return v > c.Value
	case specs.OpGreaterEqual:
		return v >= c.Value
	case specs.OpMaskedEqual:
		return v&c.Value == c.ValueTwo
	}
	panic("unknown operator " + string(c.Op))
}

func actionVerdict(a specs.LinuxSeccompAction, errnoRet *uint) uint32 {
	switch a {
	case specs.ActAllow:
		return verdictAllow
	case specs.ActErrno:
		if errnoRet == nil {
			return verdictEPERM
		}
		return uint32(unix.SECCOMP_RET_ERRNO) | uint32(*errnoRet)
	}
	panic("unexpected action " + string(a))
}

// FuzzDefaultSeccompProgram compares the compiled default profile with a
// direct reading of it, on every syscall the profile names and on random
// arguments.
func FuzzDefaultSeccompProgram(f *testing.F) {
	profile, err := defaultProfile(defaultCaps)
	if err != nil {
		f.Fatal(err)
	}
	prog, err := seccompProgram(defaultCaps)
	if err != nil {
		f.Fatal(err)
	}
	vm := newFilterVM(f, prog)
	var names []string
	for _, r := range profile.Syscalls {
		for _, n := range r.Names {
			if _, ok := vm.info.SyscallNames[n]; ok && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	// Syscalls the profile does not name at all.
	for _, n := range []string{"keyctl", "add_key", "request_key", "io_uring_setup", "userfaultfd"} {
		if _, ok := vm.info.SyscallNames[n]; ok && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for i, n := range names {
		f.Add(uint16(i), uint64(0), uint64(0))
		switch n {
		case "clone":
			f.Add(uint16(i), uint64(unix.CLONE_NEWNS), uint64(0))
			f.Add(uint16(i), uint64(1<<40), uint64(0))
		case "personality":
			f.Add(uint16(i), uint64(0xffffffff), uint64(0))
			f.Add(uint16(i), uint64(0x20008), uint64(0))
			f.Add(uint16(i), uint64(0x1_0000_0008), uint64(0))
		case "socket":
			for _, d := range []uint64{unix.AF_UNIX, unix.AF_INET6, unix.AF_ALG, unix.AF_VSOCK, unix.AF_MCTP, 46, 1<<32 | 2} {
				f.Add(uint16(i), d, uint64(0))
			}
		}
	}
	f.Fuzz(func(t *testing.T, idx uint16, a0, a1 uint64) {
		name := names[int(idx)%len(names)]
		args := [6]uint64{a0, a1}
		want := referenceVerdict(profile, vm.info, name, args)
		if got := vm.call(t, name, args[:]...); got != want {
			t.Errorf("%s(%#x, %#x) = %#x, profile says %#x", name, a0, a1, got, want)
		}
	})
}

// FuzzSeccompComparison checks each comparison the program builder emits
// against its meaning on 64-bit values, through the rule compiler.
func FuzzSeccompComparison(f *testing.F) {
	ops := []specs.LinuxSeccompOperator{specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
		specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpMaskedEqual}
	for i := range ops {
		for _, v := range []uint64{0, 1, 1 << 32, 1<<32 + 1, 0xffffffff, ^uint64(0)} {
			f.Add(uint8(i), v, v, v)
			f.Add(uint8(i), v, uint64(0), v+1)
			f.Add(uint8(i), v, v, v-1)
		}
	}
	info, err := arch.GetInfo("")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, op uint8, value, valueTwo, arg uint64) {
		cmp := specs.LinuxSeccompArg{Index: 2, Op: ops[int(op)%len(ops)], Value: value, ValueTwo: valueTwo}
		p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"kill"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{cmp}},
			{Names: []string{"read"}, Action: specs.ActAllow},
		}}
		rules, err := compileProfile(p, info)
		if err != nil {
			t.Fatal(err)
		}
		_, _, expressible := condition(cmp)
		want := verdictEPERM
		if expressible && cmpMatch(cmp, arg) {
			want = verdictAllow
		}
		if got := rulesVM(t, rules, info).call(t, "kill", 0, 0, arg); got != want {
			t.Errorf("%s %#x/%#x on %#x: %#x, want %#x", cmp.Op, value, valueTwo, arg, got, want)
		}
		// An inexpressible allow rule may only deny more.
		if !expressible && cmpMatch(cmp, arg) {
			t.Logf("%s %#x/%#x on %#x denied for want of a comparison", cmp.Op, value, valueTwo, arg)
		}
	})
}
