package fsutil

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// deepTree makes below a fresh directory with a 250-byte name a file at a
// relative path of 4086 bytes (the most a path inside a tree may have is
// 4095), so that the file's host path is longer than PATH_MAX, and returns
// the directory and the path.
func deepTree(t *testing.T) (string, string) {
	t.Helper()
	base := filepath.Join(t.TempDir(), strings.Repeat("b", 250))
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	var parts []string
	for range 16 {
		parts = append(parts, strings.Repeat("d", 250))
	}
	rel := strings.Join(parts, "/") + "/" + strings.Repeat("f", 70)
	r, err := os.OpenRoot(base)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.MkdirAll(path.Dir(rel), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteFile(rel, []byte("deep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Symlink("..", path.Dir(rel)+"/up"); err != nil {
		t.Fatal(err)
	}
	return base, rel
}

// TestDirReachesPathsLongerThanPathMax reads, stats and lists entries
// whose host paths the kernel would refuse, and keeps the Beneath methods
// from following symlinks.
func TestDirReachesPathsLongerThanPathMax(t *testing.T) {
	base, rel := deepTree(t)
	if _, err := os.Lstat(filepath.Join(base, rel)); !errors.Is(err, unix.ENAMETOOLONG) {
		t.Fatalf("the host path should be too long for lstat; got %v", err)
	}
	root, err := OpenDir(base)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	dir, err := root.OpenDirBeneath(path.Dir(rel))
	if err != nil {
		t.Fatalf("OpenDirBeneath: %v", err)
	}
	defer dir.Close()
	fi, err := dir.Lstat(path.Base(rel))
	if err != nil || fi.Size() != 4 || !fi.Mode().IsRegular() {
		t.Fatalf("Lstat = %v, %v", fi, err)
	}
	names, err := dir.Names()
	if err != nil || len(names) != 2 {
		t.Fatalf("Names = %v, %v; want file and up", names, err)
	}
	if target, err := dir.Readlink("up"); err != nil || target != ".." {
		t.Fatalf("Readlink(up) = %q, %v", target, err)
	}
	f, err := root.OpenBeneath(rel)
	if err != nil {
		t.Fatalf("OpenBeneath: %v", err)
	}
	now, err := f.Stat()
	f.Close()
	if err != nil || !SameFile(fi, now) {
		t.Fatalf("OpenBeneath opened another file (%v)", err)
	}
	if err := root.SetXattr(rel, "user.test", []byte("v")); errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM) {
		t.Log("no user xattrs here; skipping the xattr checks")
	} else if err != nil {
		t.Fatalf("SetXattr: %v", err)
	} else {
		// A relative path that makes /proc/self/fd/N/rel too long goes
		// through its parent, the path the kernels without getxattrat take.
		p, release, err := root.xattrPath(rel)
		if err != nil || !strings.HasSuffix(p, "/"+path.Base(rel)) || len(p) > 100 {
			t.Fatalf("xattrPath = %q, %v", p, err)
		}
		release()
		if v, ok, err := root.GetXattr(rel, "user.test"); err != nil || !ok || string(v) != "v" {
			t.Fatalf("GetXattr = %q, %v, %v", v, ok, err)
		}
		if names, err := root.ListXattrs(rel); err != nil || len(names) != 1 {
			t.Fatalf("ListXattrs = %v, %v", names, err)
		}
	}
	for _, p := range []string{path.Dir(rel) + "/up/" + path.Base(path.Dir(rel)) + "/" + path.Base(rel), "../x", "/etc"} {
		if f, err := root.OpenBeneath(p); err == nil {
			f.Close()
			t.Errorf("OpenBeneath(%.30s…) followed a symlink or left the root", p)
		}
		if d, err := root.OpenDirBeneath(path.Dir(p)); err == nil && path.Dir(p) != "." {
			d.Close()
			t.Errorf("OpenDirBeneath(%.30s…) followed a symlink or left the root", path.Dir(p))
		}
	}
	fd, err := OpenLong(filepath.Join(base, rel), unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		t.Fatalf("OpenLong: %v", err)
	}
	buf := make([]byte, 8)
	n, _ := unix.Read(fd, buf)
	unix.Close(fd)
	if string(buf[:n]) != "deep" {
		t.Fatalf("OpenLong read %q", buf[:n])
	}
}
