package sandbox

import (
	"encoding/binary"
	"fmt"

	"github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Offsets in struct seccomp_data.
const (
	seccompDataNr   = 0
	seccompDataArch = 4
	seccompDataArgs = 16
)

// x32SyscallBit marks syscalls of the x32 ABI, which shares x86-64's
// audit architecture.
const x32SyscallBit = 0x40000000

// assembleRules turns rules into a seccomp BPF program for the
// architecture info describes.
//
// go-seccomp-bpf's own assembler (v1.6.0) cannot be used: after a syscall
// whose argument conditions fail it compares the next syscall number with
// the argument it loaded last, so personality(56) on x86-64 was judged by
// clone's rule. Here every syscall with conditions is a block that ends in
// a return, so the accumulator always holds the number when it is
// compared, and every jump stays inside its block.
//
// Calls of another audit architecture (i386 on x86-64, for instance) get
// the default action; x32 calls on x86-64 get ENOSYS.
func assembleRules(rs filterRules, info *arch.Info) ([]bpf.Instruction, error) {
	def := bpf.RetConstant{Val: uint32(rs.def)}
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: seccompDataArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.ID), SkipTrue: 1},
		def,
		bpf.LoadAbsolute{Off: seccompDataNr, Size: 4},
	}
	if info.ID == arch.X86_64.ID {
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32SyscallBit, SkipFalse: 1},
			bpf.RetConstant{Val: uint32(seccomp.ActionErrno) | uint32(unix.ENOSYS)},
		)
	}
	for _, c := range rs.calls {
		ret := bpf.RetConstant{Val: uint32(c.action)}
		if c.alternatives == nil {
			prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: c.nr, SkipFalse: 1}, ret)
			continue
		}
		var block []bpf.Instruction
		for _, alt := range c.alternatives {
			insts, err := alternative(alt, ret)
			if err != nil {
				return nil, fmt.Errorf("assembling seccomp rule for %s: %w", c.name, err)
			}
			block = append(block, insts...)
		}
		// No alternative held: nothing after this block may see the
		// accumulator, which holds an argument now.
		block = append(block, def)
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: c.nr, SkipTrue: 1},
			bpf.Jump{Skip: uint32(len(block))},
		)
		prog = append(prog, block...)
	}
	prog = append(prog, def)
	if len(prog) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("assembling seccomp program: %d instructions, more than the kernel's %d", len(prog), unix.BPF_MAXINSNS)
	}
	return prog, nil
}

// alternative assembles conditions that must all hold, followed by ret. A
// failing condition jumps past ret, to the next alternative.
func alternative(conds seccomp.ArgumentConditions, ret bpf.Instruction) ([]bpf.Instruction, error) {
	var a altAssembler
	for _, c := range conds {
		if err := a.condition(c); err != nil {
			return nil, err
		}
	}
	a.insts = append(a.insts, ret)
	if !a.resolveFails() {
		return nil, fmt.Errorf("%d conditions are too many for one rule", len(conds))
	}
	return a.insts, nil
}

// altAssembler holds one alternative as it is assembled.
type altAssembler struct {
	insts []bpf.Instruction
	// fails are the jumps taken when a condition fails. They lead past
	// the alternative's ret, so their offsets are set by resolveFails
	// once its length is known.
	fails []failJump
}

// failJump is a jump of an alternative that leaves it: the instruction at
// at, on its true branch or its false one.
type failJump struct {
	at     int
	onTrue bool
}

// jump appends a comparison of the accumulator with val. skipTrue and
// skipFalse are offsets within the alternative; failOnTrue or failOnFalse
// mark a branch that leaves it instead.
func (a *altAssembler) jump(test bpf.JumpTest, val uint32, skipTrue, skipFalse uint8, failOnTrue, failOnFalse bool) {
	if failOnTrue || failOnFalse {
		a.fails = append(a.fails, failJump{at: len(a.insts), onTrue: failOnTrue})
	}
	a.insts = append(a.insts, bpf.JumpIf{Cond: test, Val: val, SkipTrue: skipTrue, SkipFalse: skipFalse})
}

// condition appends the test of one 64-bit argument condition, made of
// comparisons of its upper and lower halves.
func (a *altAssembler) condition(c seccomp.Condition) error {
	hi, lo := uint32(c.Value>>32), uint32(c.Value)
	loadHi, loadLo := argLoads(c.Argument)
	a.insts = append(a.insts, loadHi)
	switch c.Operation {
	case seccomp.Equal:
		a.jump(bpf.JumpEqual, hi, 0, 0, false, true)
		a.insts = append(a.insts, loadLo)
		a.jump(bpf.JumpEqual, lo, 0, 0, false, true)
	case seccomp.NotEqual:
		a.jump(bpf.JumpEqual, hi, 0, 2, false, false) // upper halves differ: holds
		a.insts = append(a.insts, loadLo)
		a.jump(bpf.JumpEqual, lo, 0, 0, true, false)
	case seccomp.GreaterThan, seccomp.GreaterOrEqual:
		test := bpf.JumpGreaterThan
		if c.Operation == seccomp.GreaterOrEqual {
			test = bpf.JumpGreaterOrEqual
		}
		a.jump(bpf.JumpGreaterThan, hi, 3, 0, false, false) // holds
		a.jump(bpf.JumpEqual, hi, 0, 0, false, true)
		a.insts = append(a.insts, loadLo)
		a.jump(test, lo, 0, 0, false, true)
	case seccomp.LessThan, seccomp.LessOrEqual:
		// lo < v is !(lo >= v); lo <= v is !(lo > v).
		test := bpf.JumpGreaterOrEqual
		if c.Operation == seccomp.LessOrEqual {
			test = bpf.JumpGreaterThan
		}
		a.jump(bpf.JumpGreaterThan, hi, 0, 0, true, false)
		a.jump(bpf.JumpEqual, hi, 0, 2, false, false) // upper half smaller: holds
		a.insts = append(a.insts, loadLo)
		a.jump(test, lo, 0, 0, true, false)
	case seccomp.BitsNotSet:
		a.jump(bpf.JumpBitsSet, hi, 0, 0, true, false)
		a.insts = append(a.insts, loadLo)
		a.jump(bpf.JumpBitsSet, lo, 0, 0, true, false)
	case seccomp.BitsSet:
		a.jump(bpf.JumpBitsSet, hi, 2, 0, false, false) // holds
		a.insts = append(a.insts, loadLo)
		a.jump(bpf.JumpBitsSet, lo, 0, 0, false, true)
	default:
		return fmt.Errorf("unknown comparison %q", c.Operation)
	}
	return nil
}

// resolveFails points every failing branch just past the last
// instruction. It reports false when one is too far: a jump skips at most
// 255 instructions.
func (a *altAssembler) resolveFails() bool {
	for _, f := range a.fails {
		skip := len(a.insts) - f.at - 1
		if skip > 255 {
			return false
		}
		j := a.insts[f.at].(bpf.JumpIf)
		if f.onTrue {
			j.SkipTrue = uint8(skip)
		} else {
			j.SkipFalse = uint8(skip)
		}
		a.insts[f.at] = j
	}
	return true
}

// argLoads returns the loads of the upper and lower halves of an argument.
func argLoads(arg uint32) (hi, lo bpf.LoadAbsolute) {
	off := seccompDataArgs + 8*arg
	hi, lo = bpf.LoadAbsolute{Off: off + 4, Size: 4}, bpf.LoadAbsolute{Off: off, Size: 4}
	if nativeBigEndian() {
		hi.Off, lo.Off = off, off+4
	}
	return hi, lo
}

// nativeBigEndian reports whether this machine stores words most
// significant byte first, as seccomp_data's arguments are in native order.
func nativeBigEndian() bool {
	var probe [2]byte
	binary.NativeEndian.PutUint16(probe[:], 1)
	return probe[0] == 0
}
