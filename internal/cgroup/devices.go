package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Keys of Manager.dirs and Group.dirs for device confinement, beside the
// limit controllers: the v1 devices controller, and a v2 directory a
// BPF_PROG_TYPE_CGROUP_DEVICE program is attached to. A hybrid layout has
// both, and the kernel consults both.
const (
	devicesV1      = "devices"
	deviceFilterV2 = "device-filter"
)

// deviceAccess is a set of the operations a device rule allows, with the
// bits of the kernel's BPF_DEVCG_ACC_* constants.
type deviceAccess uint32

const (
	accMknod deviceAccess = 1 << iota
	accRead
	accWrite
	accAll = accMknod | accRead | accWrite
)

// deviceRule allows access to the devices of one type and number; -1 is any
// major or minor.
type deviceRule struct {
	block        bool
	major, minor int64
	access       deviceAccess
}

// allowedDevices is the allow-list of a step, as docker's default: the
// standard character devices and ptys can be used, and any node may be
// created (images carry device nodes) but not opened.
func allowedDevices() []deviceRule {
	rules := []deviceRule{
		{major: -1, minor: -1, access: accMknod},
		{block: true, major: -1, minor: -1, access: accMknod},
	}
	for _, minor := range []int64{3, 5, 7, 8, 9} { // null zero full random urandom
		rules = append(rules, deviceRule{major: 1, minor: minor, access: accAll})
	}
	return append(rules,
		deviceRule{major: 5, minor: 0, access: accAll},    // tty
		deviceRule{major: 5, minor: 2, access: accAll},    // ptmx
		deviceRule{major: 136, minor: -1, access: accAll}, // pts/*
	)
}

// v1Line is the rule as a line of devices.allow: "c 1:3 rwm".
func (r deviceRule) v1Line() string {
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	kind := "c"
	if r.block {
		kind = "b"
	}
	acc := ""
	for _, a := range []struct {
		bit deviceAccess
		c   string
	}{{accRead, "r"}, {accWrite, "w"}, {accMknod, "m"}} {
		if r.access&a.bit != 0 {
			acc += a.c
		}
	}
	return fmt.Sprintf("%s %s:%s %s", kind, num(r.major), num(r.minor), acc)
}

// applyDevicesV1 denies every device to the v1 group in dir, then allows the
// allow-list.
func applyDevicesV1(dir string) error {
	if err := writeValue(filepath.Join(dir, "devices.deny"), "a"); err != nil {
		return err
	}
	for _, r := range allowedDevices() {
		if err := writeValue(filepath.Join(dir, "devices.allow"), r.v1Line()); err != nil {
			return err
		}
	}
	return nil
}

// deviceFilterInstructions is the allow-list as a cgroup device program: it
// returns 1 (allow) when the access matches a rule and 0 (deny, EPERM)
// otherwise. The context is struct bpf_cgroup_dev_ctx: access_type (device
// type in the low 16 bits, access in the high 16), major, minor.
func deviceFilterInstructions(rules []deviceRule) asm.Instructions {
	const (
		typ, acc, major, minor, scratch = asm.R3, asm.R2, asm.R4, asm.R5, asm.R6
		devBlock, devChar               = 1, 2
	)
	insns := asm.Instructions{
		asm.LoadMem(acc, asm.R1, 0, asm.Word),
		asm.Mov.Reg32(typ, acc),
		asm.And.Imm32(typ, 0xffff),
		asm.RSh.Imm32(acc, 16),
		asm.LoadMem(major, asm.R1, 4, asm.Word),
		asm.LoadMem(minor, asm.R1, 8, asm.Word),
	}
	label := func(i int) string {
		if i == len(rules) {
			return "deny"
		}
		return "rule-" + strconv.Itoa(i)
	}
	for i, r := range rules {
		next := label(i + 1)
		kind := int32(devChar)
		if r.block {
			kind = devBlock
		}
		block := asm.Instructions{asm.JNE.Imm32(typ, kind, next)}
		if r.major >= 0 {
			block = append(block, asm.JNE.Imm32(major, int32(r.major), next))
		}
		if r.minor >= 0 {
			block = append(block, asm.JNE.Imm32(minor, int32(r.minor), next))
		}
		// The access asked for must lie within the rule's.
		block = append(block,
			asm.Mov.Reg32(scratch, acc),
			asm.And.Imm32(scratch, int32(^r.access&accAll)),
			asm.JNE.Imm32(scratch, 0, next),
			asm.Ja.Label("allow"),
		)
		block[0] = block[0].WithSymbol(label(i))
		insns = append(insns, block...)
	}
	return append(insns,
		asm.Mov.Imm32(asm.R0, 0).WithSymbol("deny"),
		asm.Return(),
		asm.Mov.Imm32(asm.R0, 1).WithSymbol("allow"),
		asm.Return(),
	)
}

// loadDeviceFilter loads the allow-list program; one program serves every
// group it is attached to.
func loadDeviceFilter() (*ebpf.Program, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "builder_devices",
		Type:         ebpf.CGroupDevice,
		Instructions: deviceFilterInstructions(allowedDevices()),
		License:      "Apache-2.0",
	})
	if err != nil {
		return nil, fmt.Errorf("loading the device filter program: %w", err)
	}
	return prog, nil
}

// isCgroup2 tells whether dir lies on a cgroup v2 filesystem, where device
// programs can be attached.
func isCgroup2(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("inspecting %s: %w", dir, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return fmt.Errorf("%s is not on a cgroup v2 filesystem", dir)
	}
	return nil
}

// attachDeviceFilter attaches prog to the v2 group in dir. Closing the link
// detaches it; removing the group detaches it too.
func attachDeviceFilter(prog *ebpf.Program, dir string) (link.Link, error) {
	l, err := link.AttachCgroup(link.CgroupOptions{Path: dir, Attach: ebpf.AttachCGroupDevice, Program: prog})
	if err != nil {
		return nil, fmt.Errorf("attaching the device filter to %s: %w", dir, err)
	}
	return l, nil
}

// openDeviceFilter loads the device program for the groups under the v2
// subtree sub, which it creates first when create is set; a failure only
// costs the device filter, and is recorded.
func (m *Manager) openDeviceFilter(sub string, create bool) {
	if err := isCgroup2(filepath.Dir(sub)); err != nil {
		m.why[deviceFilterV2] = err
		return
	}
	prog, err := loadDeviceFilter()
	if err != nil {
		m.why[deviceFilterV2] = err
		return
	}
	if create {
		if err := os.Mkdir(sub, 0o755); err != nil {
			m.why[deviceFilterV2] = fmt.Errorf("creating cgroup %s: %w", sub, err)
			prog.Close()
			return
		}
	}
	m.devProg = prog
	m.dirs[deviceFilterV2] = sub
}

// Devices reports, wrapping ErrUnavailable, why groups cannot confine the
// devices a step opens to the standard set; nil means they do, through the
// v1 devices controller, a v2 device program, or both.
func (m *Manager) Devices() error {
	if m.dirs[devicesV1] != "" || m.dirs[deviceFilterV2] != "" {
		return nil
	}
	why := errors.Join(m.why[devicesV1], m.why[deviceFilterV2])
	if why == nil {
		why = errors.New("no devices controller and no cgroup v2 hierarchy")
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, why)
}
