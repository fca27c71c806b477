package cgroup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/cilium/ebpf/link"
)

// Group is the cgroup of one step.
type Group struct {
	version Version
	limits  Limits
	// dirs maps each controller to the group's directory in its
	// hierarchy; on v2 they are all the same directory.
	dirs map[string]string
	// links are the device programs attached to the group, detached
	// once it is removed.
	links []link.Link
}

// Limits returns the limits the group enforces.
func (g *Group) Limits() Limits { return g.limits }

// Dirs returns the group's directories, one per hierarchy, sorted.
func (g *Group) Dirs() []string { return distinctDirs(g.dirs) }

// anyDir returns one of the group's directories: the only one on v2.
func (g *Group) anyDir() string {
	if d := g.Dirs(); len(d) > 0 {
		return d[0]
	}
	return ""
}

// CloneInto opens the group's directory for clone3's CLONE_INTO_CGROUP
// (syscall.SysProcAttr.CgroupFD), which starts a process in the group so
// that none of its code runs outside it. It returns nil on v1, which has no
// such thing: use Join there.
func (g *Group) CloneInto() (*os.File, error) {
	if g.version != Unified {
		return nil, nil
	}
	f, err := os.OpenFile(g.anyDir(), os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening cgroup: %w", err)
	}
	return f, nil
}

// Join moves the process pid, with all its threads, into the group.
func (g *Group) Join(pid int) error {
	for _, d := range g.Dirs() {
		if err := writeValue(filepath.Join(d, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("joining cgroup: %w", err)
		}
	}
	return nil
}

// OOMKilled reports whether the kernel killed a process of the group
// because the group reached its memory limit. On v1 kernels older than 4.13,
// which do not count kills, reaching the limit at all counts.
func (g *Group) OOMKilled() (bool, error) {
	dir, ok := g.dirs["memory"]
	if !ok || g.limits.Memory == 0 {
		return false, nil
	}
	if g.version == Unified {
		n, _, err := readKeyed(filepath.Join(dir, "memory.events"), "oom_kill")
		return n > 0, err
	}
	n, found, err := readKeyed(filepath.Join(dir, "memory.oom_control"), "oom_kill")
	if err != nil || found {
		return n > 0, err
	}
	fails, err := readInt(filepath.Join(dir, "memory.failcnt"))
	return fails > 0, err
}

// Remove kills every process left in the group and deletes it. It waits for
// the processes to die, until ctx is done.
func (g *Group) Remove(ctx context.Context) error {
	var errs []error
	for _, d := range g.Dirs() {
		errs = append(errs, removeDir(ctx, d, g.version == Unified))
	}
	// Only now: the filter stays while anything of the step may run.
	for _, l := range g.links {
		errs = append(errs, l.Close())
	}
	g.links = nil
	return errors.Join(errs...)
}

// removePoll is how often removeDir looks whether killed processes are
// gone.
const removePoll = 5 * time.Millisecond

// removeDir kills the processes in the cgroup dir and removes it. On v2,
// cgroup.kill (Linux 5.14) kills the whole group at once, even processes
// forking while a PID list is being walked.
func removeDir(ctx context.Context, dir string, unified bool) error {
	if unified {
		if p := filepath.Join(dir, "cgroup.kill"); exists(p) {
			if err := writeValue(p, "1"); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("removing cgroup %s: %w", dir, err)
			}
		}
	}
	for {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) {
			return fmt.Errorf("removing cgroup %s: %w", dir, err)
		}
		pids, rerr := readPids(filepath.Join(dir, "cgroup.procs"))
		if rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return fmt.Errorf("removing cgroup %s: %w", dir, rerr)
		}
		for _, pid := range pids {
			// ESRCH: it died meanwhile, which is the point.
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("removing cgroup %s: %w", dir, ctx.Err())
		case <-time.After(removePoll):
		}
	}
}
