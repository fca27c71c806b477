package sandbox

import (
	"fmt"
	"slices"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// defaultProfile returns Docker's default seccomp profile with its
// conditions resolved for a sandbox whose bounding set is caps, on this
// machine: rules for capabilities outside caps, for other architectures and
// for newer kernels are dropped, exactly as Docker resolves them when it
// creates a container.
func defaultProfile(caps uint64) (*specs.LinuxSeccomp, error) {
	rs := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: capNames(caps)}}}
	p, err := mobyseccomp.GetDefaultProfile(rs)
	if err != nil {
		return nil, fmt.Errorf("resolving the default seccomp profile: %w", err)
	}
	restrictPtrace(p)
	return p, nil
}

// tracerRequests are the ptrace requests a step may make: everything but
// PTRACE_ATTACH (16) and PTRACE_SEIZE (0x4206). A step can then trace
// only children that asked for it (PTRACE_TRACEME, as strace and gdb do
// for the programs they start), never a process it did not start. This is
// stricter than docker's profile, which allows ptrace whole and leaves
// attaching to the kernel's checks; a build has no reason to attach.
var tracerRequests = [...]uint64{
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 17, 18, 19, 24, 25, 26, 30, 31, 32,
	0x4200, 0x4201, 0x4202, 0x4203, 0x4204, 0x4205, 0x4207, 0x4208, 0x4209, 0x420a, 0x420b,
	0x420c, 0x420d, 0x420e, 0x420f, 0x4210, 0x4211,
}

// restrictPtrace replaces the profile's unconditional ptrace allowance
// with one limited to tracerRequests (conditions on one argument are
// alternatives).
func restrictPtrace(p *specs.LinuxSeccomp) {
	found := false
	kept := p.Syscalls[:0]
	for _, sc := range p.Syscalls {
		if sc.Action == specs.ActAllow && len(sc.Args) == 0 {
			if i := slices.Index(sc.Names, "ptrace"); i >= 0 {
				found = true
				sc.Names = slices.Delete(slices.Clone(sc.Names), i, i+1)
				if len(sc.Names) == 0 {
					continue
				}
			}
		}
		kept = append(kept, sc)
	}
	p.Syscalls = kept
	if !found {
		return
	}
	rule := specs.LinuxSyscall{Names: []string{"ptrace"}, Action: specs.ActAllow}
	for _, r := range tracerRequests {
		rule.Args = append(rule.Args, specs.LinuxSeccompArg{Index: 0, Value: r, Op: specs.OpEqualTo})
	}
	p.Syscalls = append(p.Syscalls, rule)
}

// capNames returns the names, as seccomp profiles spell them, of the
// capabilities in mask.
func capNames(mask uint64) []string {
	names := [...]string{
		unix.CAP_CHOWN:              "CAP_CHOWN",
		unix.CAP_DAC_OVERRIDE:       "CAP_DAC_OVERRIDE",
		unix.CAP_DAC_READ_SEARCH:    "CAP_DAC_READ_SEARCH",
		unix.CAP_FOWNER:             "CAP_FOWNER",
		unix.CAP_FSETID:             "CAP_FSETID",
		unix.CAP_KILL:               "CAP_KILL",
		unix.CAP_SETGID:             "CAP_SETGID",
		unix.CAP_SETUID:             "CAP_SETUID",
		unix.CAP_SETPCAP:            "CAP_SETPCAP",
		unix.CAP_LINUX_IMMUTABLE:    "CAP_LINUX_IMMUTABLE",
		unix.CAP_NET_BIND_SERVICE:   "CAP_NET_BIND_SERVICE",
		unix.CAP_NET_BROADCAST:      "CAP_NET_BROADCAST",
		unix.CAP_NET_ADMIN:          "CAP_NET_ADMIN",
		unix.CAP_NET_RAW:            "CAP_NET_RAW",
		unix.CAP_IPC_LOCK:           "CAP_IPC_LOCK",
		unix.CAP_IPC_OWNER:          "CAP_IPC_OWNER",
		unix.CAP_SYS_MODULE:         "CAP_SYS_MODULE",
		unix.CAP_SYS_RAWIO:          "CAP_SYS_RAWIO",
		unix.CAP_SYS_CHROOT:         "CAP_SYS_CHROOT",
		unix.CAP_SYS_PTRACE:         "CAP_SYS_PTRACE",
		unix.CAP_SYS_PACCT:          "CAP_SYS_PACCT",
		unix.CAP_SYS_ADMIN:          "CAP_SYS_ADMIN",
		unix.CAP_SYS_BOOT:           "CAP_SYS_BOOT",
		unix.CAP_SYS_NICE:           "CAP_SYS_NICE",
		unix.CAP_SYS_RESOURCE:       "CAP_SYS_RESOURCE",
		unix.CAP_SYS_TIME:           "CAP_SYS_TIME",
		unix.CAP_SYS_TTY_CONFIG:     "CAP_SYS_TTY_CONFIG",
		unix.CAP_MKNOD:              "CAP_MKNOD",
		unix.CAP_LEASE:              "CAP_LEASE",
		unix.CAP_AUDIT_WRITE:        "CAP_AUDIT_WRITE",
		unix.CAP_AUDIT_CONTROL:      "CAP_AUDIT_CONTROL",
		unix.CAP_SETFCAP:            "CAP_SETFCAP",
		unix.CAP_MAC_OVERRIDE:       "CAP_MAC_OVERRIDE",
		unix.CAP_MAC_ADMIN:          "CAP_MAC_ADMIN",
		unix.CAP_SYSLOG:             "CAP_SYSLOG",
		unix.CAP_WAKE_ALARM:         "CAP_WAKE_ALARM",
		unix.CAP_BLOCK_SUSPEND:      "CAP_BLOCK_SUSPEND",
		unix.CAP_AUDIT_READ:         "CAP_AUDIT_READ",
		unix.CAP_PERFMON:            "CAP_PERFMON",
		unix.CAP_BPF:                "CAP_BPF",
		unix.CAP_CHECKPOINT_RESTORE: "CAP_CHECKPOINT_RESTORE",
	}
	var out []string
	for c, name := range names {
		if mask&(1<<c) != 0 {
			out = append(out, name)
		}
	}
	return out
}
