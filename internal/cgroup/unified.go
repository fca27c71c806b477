package cgroup

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
)

// openUnified makes the subtree on v2. The caller's own cgroup holds
// processes, so it cannot give controllers to children; the subtree goes
// beside it, under its parent, unless the caller is in the root cgroup,
// which is exempt from that rule.
func (m *Manager) openUnified(root string, mem membership, name string) error {
	if mem.unified == "" {
		return fmt.Errorf("%w: this process is in no cgroup v2 hierarchy", ErrUnavailable)
	}
	base := filepath.Join(root, filepath.FromSlash(path.Dir(mem.unified)))
	if mem.unified == "/" {
		base = root
	}
	avail, err := readControllers(filepath.Join(base, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	enabled, err := readControllers(filepath.Join(base, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	for _, c := range controllerNames() {
		switch {
		case enabled[c]:
		case !avail[c]:
			m.why[c] = fmt.Errorf("not offered to %s", base)
		default:
			// One write per controller: the kernel applies a write
			// whole or not at all, and one refusal must not cost the
			// others.
			if err := writeValue(filepath.Join(base, "cgroup.subtree_control"), "+"+c); err != nil {
				m.why[c] = fmt.Errorf("enabling it for the children of %s (a cgroup with processes cannot): %w", base, err)
				continue
			}
			enabled[c] = true
		}
	}
	sub := filepath.Join(base, name)
	if err := os.Mkdir(sub, 0o755); err != nil {
		return fmt.Errorf("%w: creating cgroup %s: %v", ErrUnavailable, sub, err)
	}
	for _, c := range controllerNames() {
		if !enabled[c] {
			continue
		}
		if err := writeValue(filepath.Join(sub, "cgroup.subtree_control"), "+"+c); err != nil {
			m.why[c] = err
			continue
		}
		m.dirs[c] = sub
	}
	m.openDeviceFilter(sub, false)
	if len(m.dirs) == 0 {
		// Nothing to manage: leave no empty directory behind.
		if err := os.Remove(sub); err != nil {
			return fmt.Errorf("removing cgroup %s: %w", sub, err)
		}
	}
	return nil
}

// applyUnified writes the limits into the group's v2 directory.
func (g *Group) applyUnified() error {
	l := g.limits
	dir := g.anyDir()
	if l.Memory != 0 {
		if err := writeValue(filepath.Join(dir, "memory.max"), strconv.FormatInt(l.Memory, 10)); err != nil {
			return err
		}
		// memory.max leaves swap unlimited; the limit is meant as the
		// step's whole footprint.
		if p := filepath.Join(dir, "memory.swap.max"); exists(p) {
			if err := writeValue(p, "0"); err != nil {
				return err
			}
		}
	}
	if l.CPUs != 0 {
		q, period := l.CPUQuota()
		if err := writeValue(filepath.Join(dir, "cpu.max"), fmt.Sprintf("%d %d", q, period)); err != nil {
			return err
		}
	}
	if l.Pids > 0 {
		if err := writeValue(filepath.Join(dir, "pids.max"), strconv.FormatInt(l.Pids, 10)); err != nil {
			return err
		}
	}
	return nil
}
