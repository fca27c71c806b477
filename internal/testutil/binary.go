package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// RepoRoot returns the repository's top directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("locating the repository: no caller information")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binaries compiles the builder binary once, on first use; a test package
// keeps one value for all its tests.
type Binaries struct {
	once sync.Once
	path string
	err  error
}

// Builder returns the path of the builder binary: $BUILDER_TEST_BINARY when
// set (make test builds it), else one compiled into dir for this process.
func (b *Binaries) Builder(t testing.TB, dir string) string {
	t.Helper()
	if p := os.Getenv("BUILDER_TEST_BINARY"); p != "" {
		return p
	}
	b.once.Do(func() {
		b.path = filepath.Join(dir, "builder")
		cmd := exec.Command("go", "build", "-o", b.path, "./cmd/builder")
		cmd.Dir = RepoRoot(t)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.err = &buildError{out: string(out), err: err}
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return "building the builder: " + e.err.Error() + "\n" + e.out }

// Busybox returns an OCI layout directory holding the busybox base image
// (tag "latest"): $BUILDER_TEST_BUSYBOX when set (make test makes it), else
// one made by scripts/busybox-base.sh into dir with the given builder.
func Busybox(t testing.TB, builder, dir string) string {
	t.Helper()
	if p := os.Getenv("BUILDER_TEST_BUSYBOX"); p != "" {
		if _, err := os.Stat(filepath.Join(p, "index.json")); err != nil {
			t.Fatalf("BUILDER_TEST_BUSYBOX=%s: %v", p, err)
		}
		return p
	}
	RequireTool(t, "dpkg-deb")
	dest := filepath.Join(dir, "busybox")
	cmd := exec.Command(filepath.Join(RepoRoot(t), "scripts", "busybox-base.sh"), dest, builder)
	cmd.Env = append(os.Environ(), "BUILDER_ROOT="+filepath.Join(dir, "busybox-state"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("making the busybox base: %v\n%s", err, out)
	}
	return dest
}
