package copier

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ocibuilder/builder/internal/snapshot"
	"github.com/ocibuilder/builder/pkg/layer"
)

// newTestCopier opens a Copier on a fresh upper directory over lower.
func newTestCopier(t *testing.T, lower string) (*Copier, string) {
	t.Helper()
	upper := t.TempDir()
	c, err := New(context.Background(), upper, snapshot.NewStack(lower), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, upper
}

// TestWritesStayInUpper checks that a symlink in the upper directory does
// not lead a write out of it.
func TestWritesStayInUpper(t *testing.T) {
	outside := t.TempDir()
	c, upper := newTestCopier(t, t.TempDir())
	if err := os.Symlink(outside, filepath.Join(upper, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFile("escape/x", strings.NewReader("x"), 0o644, time.Now()); err == nil {
		t.Fatal("writing through a symlink out of the upper directory succeeded")
	}
	if _, err := os.Lstat(filepath.Join(outside, "x")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a file appeared outside the upper directory: %v", err)
	}
}

// TestHardLinksKept checks that names of one source inode land as hard
// links of one copy, and that Changes lists every entry written.
func TestHardLinksKept(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "a"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(src, "a"), filepath.Join(src, "b")); err != nil {
		t.Fatal(err)
	}
	c, upper := newTestCopier(t, t.TempDir())
	if err := c.CopyInto(snapshot.NewStack(src), "", "dst"); err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	a, err := os.Lstat(filepath.Join(upper, "dst", "a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.Lstat(filepath.Join(upper, "dst", "b"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Sys().(*syscall.Stat_t).Ino != b.Sys().(*syscall.Stat_t).Ino {
		t.Error("dst/a and dst/b are separate files, want hard links")
	}
	var got []string
	err = c.Changes()(context.Background(), func(_ layer.ChangeKind, p string, _ fs.FileInfo) error {
		got = append(got, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "dst dst/a dst/b"; strings.Join(got, " ") != want {
		t.Errorf("changes = %q, want %q", got, want)
	}
}
