package cgroup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Version is a cgroup hierarchy layout.
type Version int

const (
	// Legacy is cgroup v1, or a hybrid layout whose controllers are bound
	// to v1 hierarchies.
	Legacy Version = 1
	// Unified is cgroup v2 mounted at the root of the cgroup filesystem.
	Unified Version = 2
)

// String returns "v1" or "v2".
func (v Version) String() string {
	switch v {
	case Legacy:
		return "v1"
	case Unified:
		return "v2"
	}
	return fmt.Sprintf("Version(%d)", int(v))
}

// DefaultRoot is where the cgroup filesystem is mounted.
const DefaultRoot = "/sys/fs/cgroup"

// controllerNames are the controllers the limits need, in the order they are
// enabled.
func controllerNames() []string { return []string{"memory", "cpu", "pids"} }

// ErrUnavailable is wrapped by the errors of Open and Manager.Check when
// this machine's cgroups cannot enforce limits.
var ErrUnavailable = errors.New("cgroups unavailable")

// Config says where the hierarchy is; the zero value means this process's
// place in the real one.
type Config struct {
	// Root is the cgroup filesystem mount; "" means DefaultRoot.
	Root string
	// Version is the layout under Root; zero means detecting it with
	// statfs(2) on Root.
	Version Version
	// Membership is the content of /proc/PID/cgroup for the process whose
	// cgroups the subtree is made beside; "" means /proc/self/cgroup.
	Membership string
	// Name is the name of the subtree directory; "" means a fresh
	// "ocibuilder-PID-RANDOM".
	Name string
}

// Manager owns one subtree of the cgroup hierarchy and makes a Group per
// step in it. Its methods are safe for use by several goroutines.
type Manager struct {
	version Version
	// dirs maps each usable controller to the subtree's directory in
	// that controller's hierarchy; on v2 every controller maps to the
	// same directory.
	dirs map[string]string
	// why says, per missing controller, why it cannot be used.
	why map[string]error
	// devProg is the device allow-list program attached to every group's
	// deviceFilterV2 directory; nil without one.
	devProg *ebpf.Program
	seq     atomic.Int64
}

// Open makes the subtree steps' groups go in. The error wraps
// ErrUnavailable when cgroups cannot be used here at all; Check tells
// whether particular limits can be enforced.
func Open(c Config) (*Manager, error) {
	if c.Root == "" {
		c.Root = DefaultRoot
	}
	if c.Version == 0 {
		v, err := DetectVersion(c.Root)
		if err != nil {
			return nil, err
		}
		c.Version = v
	}
	if c.Membership == "" {
		data, err := os.ReadFile("/proc/self/cgroup")
		if err != nil {
			return nil, fmt.Errorf("%w: reading /proc/self/cgroup: %v", ErrUnavailable, err)
		}
		c.Membership = string(data)
	}
	mem, err := parseMembership(c.Membership)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if c.Name == "" {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("naming cgroup: %w", err)
		}
		c.Name = fmt.Sprintf("ocibuilder-%d-%s", os.Getpid(), hex.EncodeToString(b[:]))
	}
	if c.Name == "." || c.Name == ".." || strings.ContainsAny(c.Name, "/\x00") {
		return nil, fmt.Errorf("cgroup name %q: not a single path element", c.Name)
	}
	m := &Manager{version: c.Version, dirs: map[string]string{}, why: map[string]error{}}
	switch c.Version {
	case Unified:
		err = m.openUnified(c.Root, mem, c.Name)
	case Legacy:
		err = m.openLegacy(c.Root, mem, c.Name)
	default:
		err = fmt.Errorf("unknown cgroup version %d", int(c.Version))
	}
	if err != nil {
		return nil, err
	}
	if len(m.dirs) == 0 {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, m.missing(controllerNames()))
	}
	return m, nil
}

// DetectVersion tells the layouts apart by the filesystem at root (normally
// DefaultRoot): cgroup2 itself on v2, a tmpfs of per-controller mounts on v1
// and hybrid layouts. The error wraps ErrUnavailable.
func DetectVersion(root string) (Version, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return 0, fmt.Errorf("%w: inspecting %s: %v", ErrUnavailable, root, err)
	}
	switch st.Type {
	case unix.CGROUP2_SUPER_MAGIC:
		return Unified, nil
	case unix.TMPFS_MAGIC, unix.CGROUP_SUPER_MAGIC:
		return Legacy, nil
	}
	return 0, fmt.Errorf("%w: %s is not a cgroup filesystem (type %#x)", ErrUnavailable, root, st.Type)
}

// Version returns the layout the manager works with.
func (m *Manager) Version() Version { return m.version }

// Check reports, wrapping ErrUnavailable, why l cannot be enforced here.
func (m *Manager) Check(l Limits) error {
	var need []string
	if l.Memory != 0 {
		need = append(need, "memory")
	}
	if l.CPUs != 0 {
		need = append(need, "cpu")
	}
	if l.Pids > 0 {
		need = append(need, "pids")
	}
	if err := m.missing(need); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// missing joins the reasons the named controllers cannot be used.
func (m *Manager) missing(names []string) error {
	var errs []error
	for _, n := range names {
		if _, ok := m.dirs[n]; ok {
			continue
		}
		why := m.why[n]
		if why == nil {
			why = errors.New("not mounted")
		}
		errs = append(errs, fmt.Errorf("%s controller: %w", n, why))
	}
	return errors.Join(errs...)
}

// New makes a group with limits l for one step. The caller removes it with
// Group.Remove.
func (m *Manager) New(l Limits) (*Group, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if err := m.Check(l); err != nil {
		return nil, err
	}
	name := fmt.Sprintf("step-%d", m.seq.Add(1))
	g := &Group{version: m.version, limits: l, dirs: map[string]string{}}
	made := map[string]bool{}
	for _, c := range append(controllerNames(), devicesV1, deviceFilterV2) {
		parent, ok := m.dirs[c]
		if !ok {
			continue
		}
		dir := filepath.Join(parent, name)
		if !made[dir] {
			if err := os.Mkdir(dir, 0o755); err != nil {
				_ = g.Remove(context.Background())
				return nil, fmt.Errorf("creating cgroup %s: %w", dir, err)
			}
			made[dir] = true
		}
		g.dirs[c] = dir
	}
	var err error
	if m.version == Unified {
		err = g.applyUnified()
	} else {
		err = g.applyLegacy()
	}
	if err == nil {
		err = g.applyDevices(m.devProg)
	}
	if err != nil {
		return nil, errors.Join(err, g.Remove(context.Background()))
	}
	return g, nil
}

// applyDevices confines the group to the device allow-list with every
// mechanism the manager has.
func (g *Group) applyDevices(prog *ebpf.Program) error {
	if dir, ok := g.dirs[devicesV1]; ok {
		if err := applyDevicesV1(dir); err != nil {
			return err
		}
	}
	if dir, ok := g.dirs[deviceFilterV2]; ok {
		l, err := attachDeviceFilter(prog, dir)
		if err != nil {
			return err
		}
		g.links = append(g.links, l)
	}
	return nil
}

// Close removes the subtree, killing whatever still runs in groups that
// were not removed.
func (m *Manager) Close(ctx context.Context) error {
	var errs []error
	for _, dir := range m.subtrees() {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing cgroup %s: %w", dir, err))
			continue
		}
		for _, e := range entries {
			if e.IsDir() {
				errs = append(errs, removeDir(ctx, filepath.Join(dir, e.Name()), m.version == Unified))
			}
		}
		errs = append(errs, removeDir(ctx, dir, false))
	}
	if m.devProg != nil {
		errs = append(errs, m.devProg.Close())
	}
	return errors.Join(errs...)
}

// subtrees returns the distinct subtree directories, sorted.
func (m *Manager) subtrees() []string { return distinctDirs(m.dirs) }

// distinctDirs returns the distinct values of a controller → directory
// map, sorted (on v1 several controllers may share one directory).
func distinctDirs(dirs map[string]string) []string {
	set := map[string]bool{}
	for _, d := range dirs {
		set[d] = true
	}
	out := make([]string, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}
