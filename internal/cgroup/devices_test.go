package cgroup

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestDeviceRuleLines(t *testing.T) {
	want := []string{
		"c *:* m", "b *:* m",
		"c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
		"c 5:0 rwm", "c 5:2 rwm", "c 136:* rwm",
	}
	var got []string
	for _, r := range allowedDevices() {
		got = append(got, r.v1Line())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("allow-list:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// deviceProbe makes device nodes in a temporary directory: one the
// allow-list names (1:3, /dev/null's numbers) and one it does not (1:11,
// /dev/kmsg's, harmless to open for reading).
func deviceProbe(t *testing.T) (allowed, denied string) {
	t.Helper()
	dir := t.TempDir()
	allowed, denied = filepath.Join(dir, "null"), filepath.Join(dir, "kmsg")
	for _, n := range []struct {
		p     string
		minor uint32
	}{{allowed, 3}, {denied, 11}} {
		if err := unix.Mknod(n.p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, n.minor))); err != nil {
			t.Skipf("cannot make device nodes here: %v", err)
		}
	}
	return allowed, denied
}

// openInGroup starts a shell, places it in the group with join (before it
// does anything), and has it open each path for reading; it returns one
// "path ok|denied" line per path.
func openInGroup(t *testing.T, join func(pid int) error, paths ...string) string {
	t.Helper()
	script := "read go; for p in " + strings.Join(paths, " ") +
		`; do if (: < "$p") 2>/dev/null; then echo "$p ok"; else echo "$p denied"; fi; done; ` +
		`: > /dev/null && echo "/dev/null ok"`
	cmd := exec.Command("/bin/sh", "-c", script)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := join(cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal(err)
	}
	fmt.Fprintln(stdin, "go")
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("probe: %v\n%s", err, out.String())
	}
	return out.String()
}

func wantProbe(t *testing.T, out, allowed, denied string) {
	t.Helper()
	for _, want := range []string{allowed + " ok", denied + " denied", "/dev/null ok"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("probe output lacks %q:\n%s", want, out)
		}
	}
}

// TestDeviceConfinement checks each mechanism on its own in this machine's
// real hierarchy, then a Manager's group with all it has: a process in the
// group can open the allowed device and not the other, as root.
func TestDeviceConfinement(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating cgroups and device nodes needs root")
	}
	allowed, denied := deviceProbe(t)
	if out := openInGroup(t, func(int) error { return nil }, allowed, denied); !strings.Contains(out, denied+" ok") {
		t.Fatalf("outside any group, the probe cannot open %s, so the test would prove nothing:\n%s", denied, out)
	}
	name := fmt.Sprintf("devtest-%d", os.Getpid())

	t.Run("v1 devices controller", func(t *testing.T) {
		parent := filepath.Join(DefaultRoot, "devices")
		if _, err := os.Stat(filepath.Join(parent, "devices.allow")); err != nil {
			t.Skipf("no v1 devices hierarchy here: %v", err)
		}
		dir := filepath.Join(parent, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = removeDir(context.Background(), dir, false) })
		if err := applyDevicesV1(dir); err != nil {
			t.Fatal(err)
		}
		g := &Group{version: Legacy, dirs: map[string]string{devicesV1: dir}}
		wantProbe(t, openInGroup(t, g.Join, allowed, denied), allowed, denied)
	})

	t.Run("v2 device program", func(t *testing.T) {
		parent := DefaultRoot
		if isCgroup2(parent) != nil {
			parent = filepath.Join(DefaultRoot, "unified")
		}
		if err := isCgroup2(parent); err != nil {
			t.Skipf("no cgroup v2 hierarchy here: %v", err)
		}
		prog, err := loadDeviceFilter()
		if err != nil {
			t.Fatal(err)
		}
		defer prog.Close()
		dir := filepath.Join(parent, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Skipf("cannot create a v2 cgroup here: %v", err)
		}
		g := &Group{version: Legacy, dirs: map[string]string{deviceFilterV2: dir}}
		t.Cleanup(func() { _ = g.Remove(context.Background()) })
		if err := g.applyDevices(prog); err != nil {
			t.Fatal(err)
		}
		wantProbe(t, openInGroup(t, g.Join, allowed, denied), allowed, denied)
	})

	t.Run("manager group", func(t *testing.T) {
		m, err := Open(Config{})
		if err != nil {
			t.Skipf("cgroups unavailable here: %v", err)
		}
		defer m.Close(context.Background())
		if err := m.Devices(); err != nil {
			t.Fatalf("Devices() = %v on a machine with a devices hierarchy", err)
		}
		g, err := m.New(Limits{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		defer g.Remove(ctx)
		wantProbe(t, openInGroup(t, g.Join, allowed, denied), allowed, denied)
	})
}

// TestDevicesUnavailable checks that a hierarchy offering neither mechanism
// says so rather than pretending to confine devices.
func TestDevicesUnavailable(t *testing.T) {
	root := t.TempDir()
	for _, c := range []string{"memory", "cpu", "pids"} {
		if err := os.MkdirAll(filepath.Join(root, c), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, c, "cgroup.procs"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := Open(Config{Root: root, Version: Legacy, Membership: "3:memory:/\n2:cpu:/\n1:pids:/\n0::/\n", Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Devices(); err == nil || !strings.Contains(err.Error(), "devices") {
		t.Errorf("Devices() = %v, want an error naming the missing devices hierarchy", err)
	}
}
