package fsutil

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMarkTopDir sets the Orlov top-directory flag on ext4 and leaves
// directories on other filesystems alone without failing.
func TestMarkTopDir(t *testing.T) {
	dir := t.TempDir()
	MarkTopDir(dir)
	MarkTopDir(dir) // a second call keeps it set
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags, err := unix.IoctlGetInt(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	isExt := st.Type == unix.EXT4_SUPER_MAGIC
	switch {
	case isExt && err != nil:
		t.Fatalf("reading the flags of %s on ext4: %v", dir, err)
	case isExt && flags&fsTopDirFlag == 0:
		t.Errorf("flags of %s are %#x, want the top-directory flag %#x", dir, flags, fsTopDirFlag)
	case !isExt:
		t.Logf("%s is not on ext4 (filesystem type %#x): only checked that nothing fails", dir, st.Type)
	}
	MarkTopDir(dir + "/missing") // no directory: nothing to do, no panic
}
