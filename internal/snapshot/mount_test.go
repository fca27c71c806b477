package snapshot

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// overlayMount is an overlayfs mount of a Stack with a fresh upper dir.
type overlayMount struct {
	upper, mnt string
	mounted    bool
}

// mountOverlay mounts lower with a new upper directory under base, with the
// options the builder requires. A cleanup detaches it if the test did not
// unmount, and then checks no mount under base is left.
func mountOverlay(t testing.TB, base string, lower *Stack) *overlayMount {
	t.Helper()
	m := &overlayMount{
		upper: filepath.Join(base, "upper"),
		mnt:   filepath.Join(base, "merged"),
	}
	work := filepath.Join(base, "work")
	for _, p := range []string{m.upper, work, m.mnt} {
		must(t, os.Mkdir(p, 0o755))
	}
	lowers := lower.Dirs()
	if len(lowers) == 0 {
		empty := filepath.Join(base, "empty")
		must(t, os.Mkdir(empty, 0o755))
		lowers = []string{empty}
	}
	slices.Reverse(lowers) // overlayfs wants the top first
	opts := "lowerdir=" + strings.Join(lowers, ":") + ",upperdir=" + m.upper + ",workdir=" + work +
		",index=off,metacopy=off,redirect_dir=off"
	t.Cleanup(func() { assertNoMounts(t, base) })
	if err := unix.Mount("overlay", m.mnt, "overlay", 0, opts); err != nil {
		if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EPERM) {
			t.Skipf("overlayfs unavailable: %v", err)
		}
		t.Fatalf("mounting overlay: %v", err)
	}
	m.mounted = true
	t.Cleanup(func() {
		if m.mounted {
			_ = unix.Unmount(m.mnt, unix.MNT_DETACH)
		}
	})
	return m
}

// unmount unmounts m so its upper directory is stable.
func (m *overlayMount) unmount(t testing.TB) {
	t.Helper()
	must(t, unix.Unmount(m.mnt, 0))
	m.mounted = false
}

// assertNoMounts fails if any mount point lies under base.
func assertNoMounts(t testing.TB, base string) {
	t.Helper()
	fh, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Errorf("reading mountinfo: %v", err)
		return
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], base) {
			t.Errorf("mount left behind: %s", sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Errorf("reading mountinfo: %v", err)
	}
}
