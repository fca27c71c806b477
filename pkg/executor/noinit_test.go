package executor_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/internal/testutil"
)

// TestBuildWithoutInit runs testdata/noinit, a program that forgets
// sandbox.Init, and checks that Build refuses before starting anything:
// the error names the fix, main ran once (a sandbox child of a program
// without Init runs main again), and the state directory stays empty.
func TestBuildWithoutInit(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "noinit")
	build := exec.Command("go", "build", "-o", bin, "./pkg/executor/testdata/noinit")
	build.Dir = testutil.RepoRoot(t)
	if msg, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/noinit: %v\n%s", err, msg)
	}
	root := t.TempDir()
	cmd := exec.Command(bin, root)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Fatalf("noinit: got %v, want exit status 1\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	if got := strings.Count(stdout.String(), "noinit: main started"); got != 1 {
		t.Errorf("main started %d times, want once: a sandbox child ran the program's main\nstdout:\n%s", got, &stdout)
	}
	if want := "noinit: call sandbox.Init() first in main: "; !strings.HasPrefix(stderr.String(), want) {
		t.Errorf("stderr = %q, want it to start with %q", &stderr, want)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("Build left %d entries in the state directory, want none before failing", len(entries))
	}
}
