package fsutil

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWriteFileAtomicHasNoNameWhileWriting: while the data is being
// written the directory shows no temporary file, so a process killed at
// that point leaves nothing behind.
func TestWriteFileAtomicHasNoNameWhileWriting(t *testing.T) {
	dir := t.TempDir()
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY, 0o600)
	if err != nil {
		t.Skipf("O_TMPFILE is not supported here: %v", err)
	}
	unix.Close(fd)
	p := filepath.Join(dir, "out.tar")
	var during []os.DirEntry
	err = WriteFileAtomic(p, 0o644, func(w io.Writer) error {
		if _, err := io.WriteString(w, "data"); err != nil {
			return err
		}
		var err error
		during, err = os.ReadDir(dir)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(during) != 0 {
		t.Errorf("directory during the write holds %d entries (%s); want none", len(during), during[0].Name())
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 || ents[0].Name() != "out.tar" {
		t.Fatalf("directory after the write: %v, %v", ents, err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, %v; want 0644", fi.Mode(), err)
	}
	// A failed write leaves no name either.
	boom := errors.New("boom")
	if err := WriteFileAtomic(filepath.Join(dir, "other"), 0o644, func(io.Writer) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("error = %v; want boom", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("a failed write left %d entries", len(ents))
	}
}
