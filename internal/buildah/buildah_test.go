package buildah

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

func TestArgs(t *testing.T) {
	tool := &Tool{Bin: "buildah", Root: "/r", Runroot: "/rr", Driver: "vfs"}
	got := tool.Args("bud", "-f", "Dockerfile")
	want := []string{"--root", "/r", "--runroot", "/rr", "--storage-driver", "vfs", "bud", "-f", "Dockerfile"}
	if !slices.Equal(got, want) {
		t.Errorf("Args = %q, want %q", got, want)
	}
	cmd := (&Tool{Bin: "buildah", Env: []string{"TMPDIR=/x"}}).Command(context.Background(), "info")
	if !slices.Contains(cmd.Env, "TMPDIR=/x") {
		t.Errorf("Command's environment lacks the tool's Env: %q", cmd.Env)
	}
}

// TestClearEmptyState runs the real buildah, where it is installed (the
// benchmark and comparison dependencies), on a state with nothing in it:
// that is no error.
func TestClearEmptyState(t *testing.T) {
	bin, err := exec.LookPath("buildah")
	if err != nil {
		t.Skip("buildah is not installed (scripts/bench-deps.sh installs it)")
	}
	if os.Geteuid() != 0 {
		t.Skip("buildah's storage here needs root")
	}
	dir := t.TempDir()
	tool := &Tool{Bin: bin, Root: filepath.Join(dir, "root"), Runroot: filepath.Join(dir, "runroot"), Driver: "vfs",
		Env: []string{"TMPDIR=" + dir}}
	if err := tool.Clear(context.Background()); err != nil {
		t.Fatalf("Clear on an empty state: %v", err)
	}
	// A bad binary is reported, not swallowed.
	bad := *tool
	bad.Bin = filepath.Join(dir, "missing-buildah")
	if err := bad.Clear(context.Background()); err == nil {
		t.Error("Clear with a missing binary reported no error")
	}
}
