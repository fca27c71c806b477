package snapshot

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// baseTime is the mtime of every test entry unless set: whole seconds, as
// entries extracted from a tar have.
var baseTime = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)

// ent describes one entry of a test layer directory.
type ent struct {
	path string
	// kind: 'f' file, 'd' dir, 'l' symlink, 'h' hard link to data, 'w'
	// whiteout, 'c' char device 1/3, 'p' fifo.
	kind   byte
	data   string
	perm   uint32 // 0 picks 0644 or 0755
	uid    int
	gid    int
	opaque bool
	mtime  time.Time
	xattrs map[string]string
}

func f(p, data string) ent   { return ent{path: p, kind: 'f', data: data} }
func d(p string) ent         { return ent{path: p, kind: 'd'} }
func l(p, target string) ent { return ent{path: p, kind: 'l', data: target} }
func wh(p string) ent        { return ent{path: p, kind: 'w'} }
func opq(p string) ent       { return ent{path: p, kind: 'd', opaque: true} }

// buildLayer writes ents into the new directory dir in overlay format. The
// root and every directory get baseTime after their content is written.
func buildLayer(t testing.TB, dir string, ents []ent) {
	t.Helper()
	must(t, os.Mkdir(dir, 0o755))
	for _, e := range ents {
		p := filepath.Join(dir, e.path)
		perm := e.perm
		switch e.kind {
		case 'f':
			if perm == 0 {
				perm = 0o644
			}
			must(t, os.WriteFile(p, []byte(e.data), 0o600))
		case 'd':
			if perm == 0 {
				perm = 0o755
			}
			must(t, os.Mkdir(p, 0o700))
			if e.opaque {
				must(t, unix.Lsetxattr(p, xattrOpaque, []byte("y"), 0))
			}
		case 'l':
			must(t, os.Symlink(e.data, p))
		case 'h':
			must(t, os.Link(filepath.Join(dir, e.data), p))
			continue
		case 'w':
			must(t, unix.Mknod(p, unix.S_IFCHR, 0))
		case 'c':
			must(t, unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))))
		case 'p':
			must(t, unix.Mkfifo(p, 0o600))
		default:
			t.Fatalf("unknown kind %q", e.kind)
		}
		must(t, os.Lchown(p, e.uid, e.gid))
		if perm != 0 {
			must(t, unix.Chmod(p, perm))
		}
		for k, v := range e.xattrs {
			must(t, unix.Lsetxattr(p, k, []byte(v), 0))
		}
		if e.kind != 'd' {
			setTimes(t, p, e.mtime)
		}
	}
	// Directory times last, deepest first, so writing children does not
	// move them.
	dirs := []ent{{path: ""}}
	for _, e := range ents {
		if e.kind == 'd' {
			dirs = append(dirs, e)
		}
	}
	slices.SortFunc(dirs, func(a, b ent) int {
		return strings.Count(b.path, "/") - strings.Count(a.path, "/")
	})
	for _, e := range dirs {
		setTimes(t, filepath.Join(dir, e.path), e.mtime)
	}
}

// setTimes sets atime and mtime of p without following a symlink; a zero
// mtime means baseTime.
func setTimes(t testing.TB, p string, mt time.Time) {
	t.Helper()
	if mt.IsZero() {
		mt = baseTime
	}
	ts := unix.NsecToTimespec(mt.UnixNano())
	must(t, unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW))
}

// buildStack writes one directory per layer under base, lowest first.
func buildStack(t testing.TB, base string, layers ...[]ent) *Stack {
	t.Helper()
	var dirs []string
	for i, ents := range layers {
		dir := filepath.Join(base, "layer"+string(rune('0'+i)))
		buildLayer(t, dir, ents)
		dirs = append(dirs, dir)
	}
	return NewStack(dirs...)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// requireRoot skips tests that need root for mknod, chown and trusted
// xattrs.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
