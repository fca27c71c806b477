package cgroup

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRealHierarchy runs a process in a group of this machine's hierarchy,
// whichever it is, and checks what the kernel reports back.
func TestRealHierarchy(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating cgroups needs root")
	}
	m, err := Open(Config{})
	if err != nil {
		t.Skipf("cgroups unavailable here: %v", err)
	}
	subtrees := m.subtrees()
	l := Limits{Memory: 64 << 20, CPUs: 0.5, Pids: 10}
	if err := m.Check(l); err != nil {
		t.Skipf("cgroups here cannot enforce %+v: %v", l, err)
	}
	g, err := m.New(l)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.Command("sleep", "30")
	if f, err := g.CloneInto(); err != nil {
		t.Fatal(err)
	} else if f != nil {
		defer f.Close()
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if cmd.SysProcAttr == nil {
		if err := g.Join(cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
	}
	membership, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(membership), "/step-1\n"); n != len(g.Dirs()) {
		t.Errorf("the process is in %d of the group's %d directories:\n%s", n, len(g.Dirs()), membership)
	}
	want := map[string]string{
		"memory.limit_in_bytes": "67108864", "cpu.cfs_quota_us": "50000", "cpu.cfs_period_us": "100000", "pids.max": "10",
	}
	if m.Version() == Unified {
		want = map[string]string{"memory.max": "67108864", "cpu.max": "50000 100000", "pids.max": "10"}
	}
	for file, v := range want {
		ctrl, _, _ := strings.Cut(file, ".")
		data, err := os.ReadFile(filepath.Join(g.dirs[ctrl], file))
		if err != nil || strings.TrimSpace(string(data)) != v {
			t.Errorf("%s = %q, %v; want %q", file, data, err, v)
		}
	}
	if oom, err := g.OOMKilled(); err != nil || oom {
		t.Errorf("OOMKilled of a sleeping process = %v, %v", oom, err)
	}
	if err := g.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	werr := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("the process left in the group ended with %v, want SIGKILL", werr)
	}
	for _, d := range g.Dirs() {
		if _, err := os.Lstat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("group %s still exists (%v)", d, err)
		}
	}
	if _, err := m.New(Limits{Pids: 5}); err != nil {
		t.Fatal(err)
	}
	// Close removes groups nobody removed, then the subtree.
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range subtrees {
		if _, err := os.Lstat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("subtree %s still exists (%v)", d, err)
		}
	}
}
