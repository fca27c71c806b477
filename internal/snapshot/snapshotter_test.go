package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// snapshotters are the implementations every test here runs on.
var snapshotters = []struct {
	name string
	new  func(Config) Snapshotter
}{
	{"overlay", NewOverlay},
	{"copy", NewCopy},
}

// testConfig gives snapshotters scratch space in scratch and chain
// directories in chains.
func testConfig(scratch, chains string) Config {
	return Config{
		Scratch:  func(prefix string) (string, error) { return os.MkdirTemp(scratch, prefix) },
		ChainDir: func(id digest.Digest) string { return filepath.Join(chains, id.Encoded()) },
	}
}

// fakeIDs returns a diff ID per layer of s.
func fakeIDs(s *Stack) []digest.Digest {
	var ids []digest.Digest
	for _, d := range s.Dirs() {
		ids = append(ids, digest.FromString(d))
	}
	return ids
}

// inRoot runs step on the root m describes, as a sandbox sees it: a
// directory as it is, an overlay mounted in a private mount namespace of a
// thread that is discarded afterwards, so no mount outlives the step.
func inRoot(t testing.TB, m Mounts, step func(root string) error) {
	t.Helper()
	if m.Overlay == nil {
		must(t, step(m.Dir))
		return
	}
	merged := t.TempDir()
	err := inPrivateMounts(func() error {
		if err := unix.Mount("overlay", merged, "overlay", 0, m.Overlay.mountOptions()); err != nil {
			return fmt.Errorf("mounting overlay: %w", err)
		}
		return errors.Join(step(merged), unix.Unmount(merged, 0))
	})
	if errors.Is(err, unix.ENODEV) {
		t.Skipf("overlayfs unavailable: %v", err)
	}
	must(t, err)
}

// step changes a root as a RUN step would.
func step(root string) error {
	return errors.Join(
		os.WriteFile(filepath.Join(root, "etc/a"), []byte("changed"), 0o644),
		os.Remove(filepath.Join(root, "etc/b")),
		os.Mkdir(filepath.Join(root, "opt"), 0o755),
		os.WriteFile(filepath.Join(root, "opt/f"), []byte("new"), 0o644),
		os.RemoveAll(filepath.Join(root, "var")),
	)
}

// leftIn lists what is under dir, relative to it.
func leftIn(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	must(t, err)
	return out
}

// TestSnapshotters runs a step on each snapshotter through the interface:
// both report the same changes, Commit hands over the directory the
// changes are rendered from, and Release removes all but a directory
// handed over as a layer.
func TestSnapshotters(t *testing.T) {
	requireRoot(t)
	layers := [][]ent{
		{d("etc"), f("etc/a", "a"), f("etc/b", "b"), d("var"), f("var/x", "x"), f("var/y", "y")},
		{d("etc"), f("etc/c", "c"), d("var"), wh("var/x")},
	}
	want := []string{"M etc", "M etc/a", "D etc/b", "A opt", "A opt/f", "D var"}
	for _, sn := range snapshotters {
		t.Run(sn.name, func(t *testing.T) {
			base := t.TempDir()
			lower := buildStack(t, base, layers...)
			scratch := filepath.Join(base, "scratch")
			must(t, os.Mkdir(scratch, 0o755))
			snap, err := sn.new(testConfig(scratch, base)).Prepare(context.Background(), lower, fakeIDs(lower))
			must(t, err)
			m := snap.Mounts()
			if (m.Dir == "") == (m.Overlay == nil) {
				t.Fatalf("Mounts() = %+v, want exactly one of Dir and Overlay", m)
			}
			inRoot(t, m, step)
			res, err := snap.Commit()
			must(t, err)
			if got := short(collect(t, snap.Changes(), res.Dir)); !slices.Equal(got, want) {
				t.Errorf("changes\n got %q\nwant %q", got, want)
			}
			if got := short(collect(t, snap.Changes("opt"), res.Dir)); !slices.Equal(got, slices.Delete(slices.Clone(want), 3, 5)) {
				t.Errorf("changes but opt: %q", got)
			}
			if res.IsLayer != (m.Overlay != nil) {
				t.Errorf("Commit() IsLayer = %v for mounts %+v", res.IsLayer, m)
			}
			must(t, snap.Release())
			if res.IsLayer {
				// The layer directory is the caller's now: it is
				// all that may be left.
				if _, err := os.Stat(filepath.Join(res.Dir, "opt/f")); err != nil {
					t.Errorf("committed layer directory: %v", err)
				}
				if filepath.Dir(filepath.Dir(res.Dir)) != scratch {
					t.Errorf("committed layer directory %s is not in its own scratch directory", res.Dir)
				}
				must(t, os.RemoveAll(filepath.Dir(res.Dir)))
			}
			if left := leftIn(t, scratch); len(left) > 0 {
				t.Errorf("after Release, scratch holds %q", left)
			}
		})
	}
}

// TestSnapshotReleaseUnused checks that a snapshot released without
// Commit leaves nothing in the scratch space.
func TestSnapshotReleaseUnused(t *testing.T) {
	requireRoot(t)
	for _, sn := range snapshotters {
		t.Run(sn.name, func(t *testing.T) {
			base := t.TempDir()
			lower := buildStack(t, base, []ent{f("a", "a")})
			scratch := filepath.Join(base, "scratch")
			must(t, os.Mkdir(scratch, 0o755))
			snap, err := sn.new(testConfig(scratch, base)).Prepare(context.Background(), lower, fakeIDs(lower))
			must(t, err)
			must(t, snap.Release())
			if left := leftIn(t, scratch); len(left) > 0 {
				t.Errorf("after Release, scratch holds %q", left)
			}
		})
	}
}

// TestOverlayDeepStack prepares an overlay over more layers than one mount
// takes: the bottom is squashed into a chain directory that shows the same
// tree, and the squash needs every layer's diff ID.
func TestOverlayDeepStack(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	const n = MaxLowerDirs + 2
	var dirs []string
	for i := range n {
		dir := filepath.Join(base, fmt.Sprintf("l%02d", i))
		buildLayer(t, dir, []ent{f(fmt.Sprintf("f%02d", i), "x")})
		dirs = append(dirs, dir)
	}
	lower := NewStack(dirs...)
	ids := fakeIDs(lower)
	scratch, chains := filepath.Join(base, "scratch"), filepath.Join(base, "chains")
	must(t, os.Mkdir(scratch, 0o755))
	must(t, os.Mkdir(chains, 0o755))
	o := NewOverlay(testConfig(scratch, chains))

	pending := slices.Clone(ids)
	pending[n-1] = ""
	if _, err := o.Prepare(context.Background(), lower, pending); err == nil || !strings.Contains(err.Error(), "still being written") {
		t.Fatalf("Prepare with a layer still being written: %v", err)
	}
	snap, err := o.Prepare(context.Background(), lower, ids)
	must(t, err)
	defer snap.Release()
	lowers := snap.Mounts().Overlay.LowerDirs
	if len(lowers) > MaxLowerDirs || len(lowers) < keepLowerDirs || !strings.HasPrefix(lowers[0], chains) {
		t.Fatalf("lower dirs %q: want a chain directory and at most %d in all", lowers, MaxLowerDirs)
	}
	if !slices.Equal(lowers[1:], dirs[n-len(lowers)+1:]) {
		t.Errorf("lower dirs above the squash %q, want the stack's top %q", lowers[1:], dirs[n-len(lowers)+1:])
	}
	inRoot(t, snap.Mounts(), func(root string) error {
		for i := range n {
			if _, err := os.Stat(filepath.Join(root, fmt.Sprintf("f%02d", i))); err != nil {
				return err
			}
		}
		return nil
	})
	if got := collect(t, snap.Changes(), snap.Mounts().Overlay.UpperDir); len(got) > 0 {
		t.Errorf("a step that changed nothing: %v", got)
	}
}
