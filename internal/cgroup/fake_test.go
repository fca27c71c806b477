package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The tests here stand a temporary directory in for /sys/fs/cgroup, to
// check what each hierarchy's code writes where, whichever hierarchy this
// machine has. The kernel creates control files with each directory; the
// stand-in gets them when they are first written.

func writeFakeFile(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func wantFakeFile(t *testing.T, p, want string) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Errorf("reading %s: %v", p, err)
		return
	}
	if string(data) != want {
		t.Errorf("%s holds %q, want %q", p, data, want)
	}
}

func TestUnifiedFakeTree(t *testing.T) {
	tests := []struct {
		name       string
		membership string
		base       string // relative to the root
	}{
		{"beside own cgroup", "0::/a/b\n", "a"},
		{"in the root cgroup", "0::/\n", "."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			base := filepath.Join(root, tt.base)
			writeFakeFile(t, filepath.Join(base, "cgroup.controllers"), "cpuset cpu io memory hugetlb pids\n")
			writeFakeFile(t, filepath.Join(base, "cgroup.subtree_control"), "cpu\n")
			m, err := Open(Config{Root: root, Version: Unified, Membership: tt.membership, Name: "t"})
			if err != nil {
				t.Fatal(err)
			}
			// cpu was enabled already; memory and pids are enabled
			// one per write, pids last.
			wantFakeFile(t, filepath.Join(base, "cgroup.subtree_control"), "+pids")
			wantFakeFile(t, filepath.Join(base, "t", "cgroup.subtree_control"), "+pids")
			g, err := m.New(Limits{Memory: 64 << 20, CPUs: 1.5, Pids: 64})
			if err != nil {
				t.Fatal(err)
			}
			step := filepath.Join(base, "t", "step-1")
			if d := g.Dirs(); len(d) != 1 || d[0] != step {
				t.Fatalf("group directories %q, want [%s]", d, step)
			}
			wantFakeFile(t, filepath.Join(step, "memory.max"), "67108864")
			wantFakeFile(t, filepath.Join(step, "cpu.max"), "150000 100000")
			wantFakeFile(t, filepath.Join(step, "pids.max"), "64")
			if err := g.Join(4242); err != nil {
				t.Fatal(err)
			}
			wantFakeFile(t, filepath.Join(step, "cgroup.procs"), "4242")
			f, err := g.CloneInto()
			if err != nil || f == nil {
				t.Fatalf("CloneInto on v2: %v, %v", f, err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			checkOOM(t, g, filepath.Join(step, "memory.events"), "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n", true)
			checkOOM(t, g, filepath.Join(step, "memory.events"), "low 0\nhigh 0\nmax 12\noom 1\noom_kill 0\n", false)
			g2, err := m.New(Limits{Pids: 10})
			if err != nil {
				t.Fatal(err)
			}
			if d := g2.Dirs(); len(d) != 1 || filepath.Base(d[0]) != "step-2" {
				t.Errorf("second group in %q, want step-2", d)
			}
			if _, err := os.Stat(filepath.Join(d0(g2), "memory.max")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("memory.max written for a group without a memory limit (%v)", err)
			}
		})
	}
}

func d0(g *Group) string { return g.Dirs()[0] }

func checkOOM(t *testing.T, g *Group, p, events string, want bool) {
	t.Helper()
	writeFakeFile(t, p, events)
	got, err := g.OOMKilled()
	if err != nil || got != want {
		t.Errorf("OOMKilled with %q = %v, %v; want %v", events, got, err, want)
	}
}

func TestUnifiedFakeTreeRefusals(t *testing.T) {
	t.Run("missing controller", func(t *testing.T) {
		root := t.TempDir()
		writeFakeFile(t, filepath.Join(root, "a", "cgroup.controllers"), "cpu io\n")
		writeFakeFile(t, filepath.Join(root, "a", "cgroup.subtree_control"), "")
		m, err := Open(Config{Root: root, Version: Unified, Membership: "0::/a/b\n", Name: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Check(Limits{CPUs: 1}); err != nil {
			t.Errorf("Check(cpu): %v", err)
		}
		for _, l := range []Limits{{Memory: 64 << 20}, {Pids: 5}} {
			if err := m.Check(l); !errors.Is(err, ErrUnavailable) {
				t.Errorf("Check(%+v) = %v, want ErrUnavailable", l, err)
			}
			if _, err := m.New(l); !errors.Is(err, ErrUnavailable) {
				t.Errorf("New(%+v) = %v, want ErrUnavailable", l, err)
			}
		}
	})
	t.Run("controllers cannot be enabled", func(t *testing.T) {
		root := t.TempDir()
		writeFakeFile(t, filepath.Join(root, "a", "cgroup.controllers"), "cpu memory pids\n")
		// A file even root cannot write stands in for the kernel's
		// EBUSY on a cgroup with processes: root ignores file modes,
		// but not a proc file without a write operation.
		if err := os.Symlink("/proc/version", filepath.Join(root, "a", "cgroup.subtree_control")); err != nil {
			t.Fatal(err)
		}
		_, err := Open(Config{Root: root, Version: Unified, Membership: "0::/a/b\n", Name: "t"})
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "enabling") {
			t.Fatalf("Open = %v, want ErrUnavailable saying enabling failed", err)
		}
		if _, err := os.Lstat(filepath.Join(root, "a", "t")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("unusable subtree left behind (%v)", err)
		}
	})
	t.Run("no v2 membership", func(t *testing.T) {
		_, err := Open(Config{Root: t.TempDir(), Version: Unified, Membership: "4:memory:/\n", Name: "t"})
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("Open = %v, want ErrUnavailable", err)
		}
	})
	t.Run("bad name", func(t *testing.T) {
		_, err := Open(Config{Root: t.TempDir(), Version: Unified, Membership: "0::/\n", Name: "../x"})
		if err == nil {
			t.Error("Open accepted a subtree name with a slash")
		}
	})
}

func TestLegacyFakeTree(t *testing.T) {
	root := t.TempDir()
	for _, c := range []string{"memory", "cpu,cpuacct", "pids"} {
		writeFakeFile(t, filepath.Join(root, c, "cgroup.procs"), "")
	}
	if err := os.Symlink("cpu,cpuacct", filepath.Join(root, "cpu")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "memory", "x", "y"), 0o755); err != nil {
		t.Fatal(err)
	}
	mem := "9:name=systemd:/\n8:pids:/\n4:memory:/x/y\n2:cpu,cpuacct:/\n0::/\n"
	m, err := Open(Config{Root: root, Version: Legacy, Membership: mem, Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := m.New(Limits{Memory: 64 << 20, CPUs: 0.5, Pids: 64})
	if err != nil {
		t.Fatal(err)
	}
	memDir := filepath.Join(root, "memory", "x", "y", "t", "step-1")
	cpuDir := filepath.Join(root, "cpu", "t", "step-1")
	pidsDir := filepath.Join(root, "pids", "t", "step-1")
	wantFakeFile(t, filepath.Join(memDir, "memory.limit_in_bytes"), "67108864")
	wantFakeFile(t, filepath.Join(cpuDir, "cpu.cfs_period_us"), "100000")
	wantFakeFile(t, filepath.Join(cpuDir, "cpu.cfs_quota_us"), "50000")
	wantFakeFile(t, filepath.Join(pidsDir, "pids.max"), "64")
	if err := g.Join(4242); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{memDir, cpuDir, pidsDir} {
		wantFakeFile(t, filepath.Join(d, "cgroup.procs"), "4242")
	}
	if f, err := g.CloneInto(); f != nil || err != nil {
		t.Errorf("CloneInto on v1 = %v, %v; want nil, nil", f, err)
	}
	checkOOM(t, g, filepath.Join(memDir, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", true)
	checkOOM(t, g, filepath.Join(memDir, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n", false)
	// Kernels before 4.13 count no kills: reaching the limit counts.
	writeFakeFile(t, filepath.Join(memDir, "memory.failcnt"), "5\n")
	checkOOM(t, g, filepath.Join(memDir, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\n", true)
	writeFakeFile(t, filepath.Join(memDir, "memory.failcnt"), "0\n")
	checkOOM(t, g, filepath.Join(memDir, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\n", false)
}

func TestLegacyFakeTreeRefusals(t *testing.T) {
	root := t.TempDir()
	writeFakeFile(t, filepath.Join(root, "memory", "cgroup.procs"), "")
	// The pids hierarchy is not mounted; the cpu one is, but this
	// process is not listed in it.
	writeFakeFile(t, filepath.Join(root, "cpu", "cgroup.procs"), "")
	m, err := Open(Config{Root: root, Version: Legacy, Membership: "4:memory:/\n8:pids:/\n", Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Check(Limits{Memory: 64 << 20}); err != nil {
		t.Errorf("Check(memory): %v", err)
	}
	err = m.Check(Limits{CPUs: 1, Pids: 3})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "cpu controller") || !strings.Contains(err.Error(), "pids controller") {
		t.Errorf("Check(cpu, pids) = %v, want ErrUnavailable naming both", err)
	}
	_, err = Open(Config{Root: t.TempDir(), Version: Legacy, Membership: "4:memory:/\n", Name: "t"})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Open without any hierarchy = %v, want ErrUnavailable", err)
	}
}
