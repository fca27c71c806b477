package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// openLegacy makes the subtree on v1, under the caller's own cgroup in each
// controller's hierarchy; v1 lets a cgroup with processes have children.
func (m *Manager) openLegacy(root string, mem membership, name string) error {
	for _, c := range append(controllerNames(), devicesV1) {
		own, ok := mem.legacy[c]
		if !ok {
			m.why[c] = fmt.Errorf("this process is in no %s hierarchy", c)
			continue
		}
		// /sys/fs/cgroup/cpu is the mount itself or, where controllers
		// share a hierarchy ("cpu,cpuacct"), a link to it.
		mount := filepath.Join(root, c)
		if !exists(filepath.Join(mount, "cgroup.procs")) {
			m.why[c] = fmt.Errorf("no hierarchy mounted at %s", mount)
			continue
		}
		sub := filepath.Join(mount, filepath.FromSlash(own), name)
		if err := os.Mkdir(sub, 0o755); err != nil {
			m.why[c] = fmt.Errorf("creating cgroup %s: %w", sub, err)
			continue
		}
		m.dirs[c] = sub
	}
	// A hybrid layout also mounts the v2 hierarchy, without controllers:
	// device programs attach there as on v2, and apply on top of the v1
	// devices controller. A v2 cgroup without controllers may have
	// children beside its processes.
	if mem.unified != "" {
		v2 := filepath.Join(root, "unified")
		if err := isCgroup2(v2); err != nil {
			m.why[deviceFilterV2] = err
			return nil
		}
		m.openDeviceFilter(filepath.Join(v2, filepath.FromSlash(mem.unified), name), true)
	}
	return nil
}

// applyLegacy writes the limits into the group's v1 directories.
func (g *Group) applyLegacy() error {
	l := g.limits
	if l.Memory != 0 {
		dir := g.dirs["memory"]
		v := strconv.FormatInt(l.Memory, 10)
		if err := writeValue(filepath.Join(dir, "memory.limit_in_bytes"), v); err != nil {
			return err
		}
		// memory+swap may not be below memory, so it goes second; equal
		// to memory, it allows no swap.
		if p := filepath.Join(dir, "memory.memsw.limit_in_bytes"); exists(p) {
			if err := writeValue(p, v); err != nil {
				return err
			}
		}
	}
	if l.CPUs != 0 {
		dir := g.dirs["cpu"]
		q, period := l.CPUQuota()
		if err := writeValue(filepath.Join(dir, "cpu.cfs_period_us"), strconv.FormatInt(period, 10)); err != nil {
			return err
		}
		if err := writeValue(filepath.Join(dir, "cpu.cfs_quota_us"), strconv.FormatInt(q, 10)); err != nil {
			return err
		}
	}
	if l.Pids > 0 {
		if err := writeValue(filepath.Join(g.dirs["pids"], "pids.max"), strconv.FormatInt(l.Pids, 10)); err != nil {
			return err
		}
	}
	return nil
}
