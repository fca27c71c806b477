package snapshot

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ocibuilder/builder/internal/fsutil"
	"github.com/ocibuilder/builder/pkg/layer"
)

// rec is one reported change, with the metadata a tar writer would use.
type rec struct {
	Kind layer.ChangeKind
	Path string
	Mode fs.FileMode
	UID  uint32
	GID  uint32
	Size int64 // regular files only
}

func (r rec) String() string {
	if r.Kind == layer.ChangeDelete {
		return "D " + r.Path
	}
	return fmt.Sprintf("%s %s %v %d:%d %d", strings.ToUpper(r.Kind.String()[:1]), r.Path, r.Mode, r.UID, r.GID, r.Size)
}

// collect runs ch and records what it reports, checking each non-delete
// path exists under root with the reported FileInfo.
func collect(t testing.TB, ch layer.Changes, root string) []rec {
	t.Helper()
	var out []rec
	err := ch(context.Background(), func(k layer.ChangeKind, p string, fi fs.FileInfo) error {
		r := rec{Kind: k, Path: p}
		if p == "" || p != cleanRel(p) {
			t.Errorf("unclean path %q", p)
		}
		if k != layer.ChangeDelete {
			if fi == nil {
				t.Errorf("%s %s: nil FileInfo", k, p)
				return nil
			}
			st := statOf(fi)
			r.Mode, r.UID, r.GID = fi.Mode(), st.Uid, st.Gid
			if fi.Mode().IsRegular() {
				r.Size = fi.Size()
			}
			if on, err := os.Lstat(filepath.Join(root, p)); err != nil || !fsutil.SameFile(on, fi) {
				t.Errorf("%s %s: not the entry under %s (%v)", k, p, root, err)
			}
		} else if fi != nil {
			t.Errorf("delete %s with a FileInfo", p)
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatalf("collecting changes: %v", err)
	}
	return out
}

// short reduces records to "K path" for comparing with expectations.
func short(rs []rec) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, strings.ToUpper(r.Kind.String()[:1])+" "+r.Path)
	}
	return out
}

// runBoth builds layers, applies ops through a real overlay mount and to a
// materialized copy, and returns what Changes and DirChanges report.
func runBoth(t testing.TB, layers [][]ent, ops func(t testing.TB, root string), exclude ...string) (overlay, copied []rec, upper string) {
	t.Helper()
	s := buildStack(t, t.TempDir(), layers...)
	overlay, copied, upper, _ = runStack(t, s, ops, ops, exclude...)
	return overlay, copied, upper
}

// runStack applies ovOps through an overlay mount of s and cpOps to a
// materialized copy of s, and diffs both.
func runStack(t testing.TB, s *Stack, ovOps, cpOps func(t testing.TB, root string), exclude ...string) (overlay, copied []rec, upper, copyRoot string) {
	t.Helper()
	base := t.TempDir()
	m := mountOverlay(t, base, s)
	ovOps(t, m.mnt)
	m.unmount(t)
	overlay = collect(t, Changes(m.upper, s, exclude...), m.upper)

	mat := filepath.Join(base, "copy")
	must(t, Materialize(context.Background(), s, mat))
	cpOps(t, mat)
	copied = collect(t, DirChanges(mat, s, exclude...), mat)
	return overlay, copied, m.upper, mat
}

// Operations a step performs, relative to a root.
func write(t testing.TB, root, p, data string) {
	t.Helper()
	must(t, os.WriteFile(filepath.Join(root, p), []byte(data), 0o644))
}
func mkdir(t testing.TB, root, p string) {
	t.Helper()
	must(t, os.Mkdir(filepath.Join(root, p), 0o755))
}
func rm(t testing.TB, root, p string)    { t.Helper(); must(t, os.Remove(filepath.Join(root, p))) }
func rmAll(t testing.TB, root, p string) { t.Helper(); must(t, os.RemoveAll(filepath.Join(root, p))) }
func chmod(t testing.TB, root, p string, mode uint32) {
	t.Helper()
	must(t, unix.Chmod(filepath.Join(root, p), mode))
}

// baseLayers is the image the scenarios run on.
func baseLayers() [][]ent {
	nsTime := baseTime.Add(123456789)
	big := strings.Repeat("0123456789abcdef", 3<<16) // 3 MiB
	return [][]ent{
		{
			{path: "etc", kind: 'd'},
			f("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
			f("etc/group", "root:x:0:\n"),
			d("usr"), d("usr/bin"),
			{path: "usr/bin/tool", kind: 'f', data: "#!/bin/sh\n", perm: 0o755},
			d("usr/share"), d("usr/share/doc"),
			f("usr/share/doc/readme", "read me"), f("usr/share/doc/old1", "old"),
			d("usr/share/doc/sub"), f("usr/share/doc/sub/x", "x"),
			d("opt"), d("opt/app"), f("opt/app/main", "main"), f("opt/app/conf", "conf"),
			d("srv"), f("srv/data", "data"),
			d("bin"), f("bin/a", "linked"), {path: "bin/b", kind: 'h', data: "bin/a"},
			d("tmp"),
			l("lib", "usr/bin"),
			f("big", big),
			d("var"), f("var/gone", "g"), f("var/keep", "k"),
			d("x"), f("x/old", "o"),
			{path: "mtimens", kind: 'f', data: "ns", mtime: nsTime},
			{path: "owned", kind: 'f', data: "o", uid: 1000, gid: 1000},
		},
		{
			d("etc"), f("etc/group", "root:x:0:\nusers:x:100:\n"),
			d("var"), wh("var/gone"),
			opq("x"), f("x/new", "n"),
		},
	}
}

func TestChangesMatchDirChanges(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name    string
		ops     func(t testing.TB, root string)
		exclude []string
		want    []string
		// inUpper are paths the overlay must have copied up, proving that
		// dropping them was the differ's decision.
		inUpper []string
	}{
		{
			name: "create",
			ops:  func(t testing.TB, r string) { write(t, r, "new.txt", "n"); write(t, r, "etc/new", "n") },
			want: []string{"M etc", "A etc/new", "A new.txt"},
		},
		{
			name: "modify",
			ops:  func(t testing.TB, r string) { write(t, r, "etc/passwd", "changed") },
			want: []string{"M etc/passwd"},
		},
		{
			name: "chmod only",
			ops:  func(t testing.TB, r string) { chmod(t, r, "etc/passwd", 0o600) },
			want: []string{"M etc/passwd"},
		},
		{
			name: "chown",
			ops:  func(t testing.TB, r string) { must(t, os.Lchown(filepath.Join(r, "etc/passwd"), 1000, 1000)) },
			want: []string{"M etc/passwd"},
		},
		{
			name: "delete from lower layers",
			ops:  func(t testing.TB, r string) { rm(t, r, "usr/bin/tool"); rm(t, r, "etc/group") },
			want: []string{"M etc", "D etc/group", "M usr/bin", "D usr/bin/tool"},
		},
		{
			name: "delete dir",
			ops:  func(t testing.TB, r string) { rmAll(t, r, "usr/share") },
			want: []string{"M usr", "D usr/share"},
		},
		{
			name: "recreate dir",
			ops: func(t testing.TB, r string) {
				rmAll(t, r, "usr/share/doc")
				mkdir(t, r, "usr/share/doc")
				write(t, r, "usr/share/doc/new", "n")
				write(t, r, "usr/share/doc/readme", "different")
				mkdir(t, r, "usr/share/doc/sub")
			},
			want: []string{
				"M usr/share", "M usr/share/doc", "A usr/share/doc/new", "D usr/share/doc/old1",
				"M usr/share/doc/readme", "M usr/share/doc/sub", "D usr/share/doc/sub/x",
			},
		},
		{
			name: "dir replaced by file",
			ops:  func(t testing.TB, r string) { rmAll(t, r, "opt/app"); write(t, r, "opt/app", "file") },
			want: []string{"M opt", "M opt/app"},
		},
		{
			name: "file replaced by dir",
			ops: func(t testing.TB, r string) {
				rm(t, r, "srv/data")
				mkdir(t, r, "srv/data")
				write(t, r, "srv/data/child", "c")
			},
			want: []string{"M srv", "M srv/data", "A srv/data/child"},
		},
		{
			name: "dir to file and back",
			ops: func(t testing.TB, r string) {
				rmAll(t, r, "opt/app")
				write(t, r, "opt/app", "file")
				rm(t, r, "opt/app")
				mkdir(t, r, "opt/app")
				write(t, r, "opt/app/y", "y")
			},
			want: []string{"M opt", "M opt/app", "D opt/app/conf", "D opt/app/main", "A opt/app/y"},
		},
		{
			name: "symlink replaced by dir",
			ops:  func(t testing.TB, r string) { rm(t, r, "lib"); mkdir(t, r, "lib"); write(t, r, "lib/f", "f") },
			want: []string{"M lib", "A lib/f"},
		},
		{
			name: "hard links",
			ops: func(t testing.TB, r string) {
				must(t, os.Link(filepath.Join(r, "etc/passwd"), filepath.Join(r, "etc/passwd.lnk")))
				mkdir(t, r, "new")
				write(t, r, "new/a", "a")
				must(t, os.Link(filepath.Join(r, "new/a"), filepath.Join(r, "new/b")))
				// One name of a lower linked pair: the other stays as it was.
				chmod(t, r, "bin/a", 0o700)
			},
			// A lower file given a second name is changed too: the layer
			// holds both names of the inode (overlayfs copies it up and
			// links the new name to the copy).
			want: []string{"M bin/a", "M etc", "M etc/passwd", "A etc/passwd.lnk", "A new", "A new/a", "A new/b"},
		},
		{
			// The lower pair bin/a, bin/b: overlayfs copies bin/a up and
			// links bin/c to the copy, so a and c are one inode and b
			// another; the layer holds both names of the new inode.
			name: "new name for one name of a lower linked pair",
			ops: func(t testing.TB, r string) {
				must(t, os.Link(filepath.Join(r, "bin/a"), filepath.Join(r, "bin/c")))
			},
			want: []string{"M bin", "M bin/a", "A bin/c"},
		},
		{
			name: "one name of a lower linked pair removed or renamed",
			ops: func(t testing.TB, r string) {
				must(t, os.Rename(filepath.Join(r, "bin/b"), filepath.Join(r, "bin/c")))
				must(t, os.Link(filepath.Join(r, "etc/passwd"), filepath.Join(r, "etc/passwd.lnk")))
				rm(t, r, "etc/passwd")
			},
			want: []string{"M bin", "D bin/b", "A bin/c", "M etc", "D etc/passwd", "A etc/passwd.lnk"},
		},
		{
			name: "symlinks",
			ops: func(t testing.TB, r string) {
				must(t, os.Symlink("usr/bin/tool", filepath.Join(r, "toolink")))
				must(t, os.Symlink("nowhere", filepath.Join(r, "dangle")))
				rm(t, r, "lib")
				must(t, os.Symlink("usr/share", filepath.Join(r, "lib")))
			},
			want: []string{"A dangle", "M lib", "A toolink"},
		},
		{
			name: "symlink owner",
			ops:  func(t testing.TB, r string) { must(t, os.Lchown(filepath.Join(r, "lib"), 7, 7)) },
			want: []string{"M lib"},
		},
		{
			name: "setuid and sticky bits",
			ops: func(t testing.TB, r string) {
				chmod(t, r, "usr/bin/tool", 0o4755)
				chmod(t, r, "tmp", 0o1777)
				chmod(t, r, "etc", 0o2755)
			},
			want: []string{"M etc", "M tmp", "M usr/bin/tool"},
		},
		{
			name: "copied up unchanged",
			ops: func(t testing.TB, r string) {
				must(t, os.Lchown(filepath.Join(r, "owned"), 1000, 1000))
				fh, err := os.OpenFile(filepath.Join(r, "usr/share/doc/readme"), os.O_WRONLY, 0)
				must(t, err)
				must(t, fh.Close())
				must(t, os.Chtimes(filepath.Join(r, "mtimens"), time.Now(), baseTime.Add(123456789)))
				must(t, unix.Lsetxattr(filepath.Join(r, "big"), "user.tmp", []byte("v"), 0))
				must(t, unix.Lremovexattr(filepath.Join(r, "big"), "user.tmp"))
			},
			want:    nil,
			inUpper: []string{"owned", "usr/share/doc/readme", "mtimens", "big"},
		},
		{
			name: "large file",
			ops: func(t testing.TB, r string) {
				fh, err := os.OpenFile(filepath.Join(r, "big"), os.O_WRONLY|os.O_APPEND, 0)
				must(t, err)
				_, err = fh.Write([]byte("!"))
				must(t, err)
				must(t, fh.Close())
				write(t, r, "huge", strings.Repeat("z", 20<<20))
			},
			want: []string{"M big", "A huge"},
		},
		{
			name: "whiteout and opaque in lower layers",
			ops:  func(t testing.TB, r string) { write(t, r, "var/gone", "back"); write(t, r, "x/old", "back") },
			want: []string{"M var", "A var/gone", "M x", "A x/old"},
		},
		{
			name: "created and removed",
			ops: func(t testing.TB, r string) {
				write(t, r, "tmp/t", "t")
				rm(t, r, "tmp/t")
				mkdir(t, r, "tmp/d")
				write(t, r, "tmp/d/f", "f")
				rmAll(t, r, "tmp/d")
			},
			want: []string{"M tmp"},
		},
		{
			name: "excluded mount stubs",
			ops: func(t testing.TB, r string) {
				write(t, r, "etc/hosts", "")
				mkdir(t, r, "run")
				mkdir(t, r, "run/secrets")
				write(t, r, "run/secrets/token", "s")
			},
			exclude: []string{"/etc/hosts", "run/secrets/"},
			want:    []string{"M etc", "A run"},
		},
		{
			name: "xattr",
			ops: func(t testing.TB, r string) {
				must(t, unix.Lsetxattr(filepath.Join(r, "etc/passwd"), "user.k", []byte("v"), 0))
			},
			want: []string{"M etc/passwd"},
		},
		{
			name: "mtime nanoseconds",
			ops: func(t testing.TB, r string) {
				must(t, os.Chtimes(filepath.Join(r, "mtimens"), time.Now(), baseTime.Add(123456788)))
			},
			want: []string{"M mtimens"},
		},
		{
			name: "component order",
			ops: func(t testing.TB, r string) {
				write(t, r, "a.c", "")
				write(t, r, "a-1", "")
				mkdir(t, r, "a")
				write(t, r, "a/b", "")
			},
			want: []string{"A a", "A a/b", "A a-1", "A a.c"},
		},
		{
			name: "devices and fifos",
			ops: func(t testing.TB, r string) {
				must(t, unix.Mkfifo(filepath.Join(r, "fifo"), 0o644))
				must(t, unix.Mknod(filepath.Join(r, "chr"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))))
			},
			want: []string{"A chr", "A fifo"},
		},
		{
			name: "rename",
			ops: func(t testing.TB, r string) {
				must(t, os.Rename(filepath.Join(r, "etc/passwd"), filepath.Join(r, "etc/passwd2")))
			},
			want: []string{"M etc", "D etc/passwd", "A etc/passwd2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ov, cp, upper := runBoth(t, baseLayers(), tc.ops, tc.exclude...)
			if !reflect.DeepEqual(ov, cp) {
				t.Errorf("streams differ\noverlay: %v\ncopy:    %v", ov, cp)
			}
			if got := short(ov); !reflect.DeepEqual(got, tc.want) && (len(got) > 0 || len(tc.want) > 0) {
				t.Errorf("changes = %q\nwant      %q", got, tc.want)
			}
			for _, p := range tc.inUpper {
				if _, err := os.Lstat(filepath.Join(upper, p)); err != nil {
					t.Errorf("%s was not copied up: %v", p, err)
				}
			}
		})
	}
}

func TestChangesHandmadeUpper(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	s := buildStack(t, base, []ent{d("dir"), f("dir/a", "a"), f("dir/b", "b"), f("file", "f")})
	tests := []struct {
		name  string
		upper []ent
		want  []string
	}{
		{
			name:  "whiteout of a path lower lacks is dropped",
			upper: []ent{wh("ghost"), wh("file")},
			want:  []string{"D file"},
		},
		{
			name:  "opaque new dir is not opaque",
			upper: []ent{opq("fresh"), wh("fresh/x"), f("fresh/y", "y")},
			want:  []string{"A fresh", "A fresh/y"},
		},
		{
			name:  "user namespace opaque",
			upper: []ent{{path: "dir", kind: 'd', xattrs: map[string]string{xattrUserOpaque: "y"}}, f("dir/c", "c")},
			want:  []string{"D dir/a", "D dir/b", "A dir/c"},
		},
		{
			name:  "opaque over a file is a type change",
			upper: []ent{opq("file"), f("file/in", "i")},
			want:  []string{"M file", "A file/in"},
		},
		{
			name:  "copied-up dir with overlay xattrs",
			upper: []ent{{path: "dir", kind: 'd', xattrs: map[string]string{"trusted.overlay.origin": "x", "trusted.overlay.impure": "y"}}},
			want:  nil,
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			upper := filepath.Join(base, fmt.Sprintf("upper%d", i))
			buildLayer(t, upper, tc.upper)
			got := short(collect(t, Changes(upper, s), upper))
			if !reflect.DeepEqual(got, tc.want) && (len(got) > 0 || len(tc.want) > 0) {
				t.Errorf("changes = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestChangesRedirect(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	s := buildStack(t, base, []ent{d("dir")})
	for _, name := range []string{xattrRedirect, xattrMetacopy} {
		t.Run(name, func(t *testing.T) {
			upper := filepath.Join(base, strings.ReplaceAll(name, ".", "_"))
			buildLayer(t, upper, []ent{{path: "moved", kind: 'd', xattrs: map[string]string{name: "/dir"}}})
			err := Changes(upper, s)(context.Background(), func(layer.ChangeKind, string, fs.FileInfo) error { return nil })
			if !errorsIs(err, ErrRedirect) {
				t.Fatalf("Changes error = %v, want ErrRedirect", err)
			}
		})
	}
}

func TestChangesStops(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	s := buildStack(t, base, []ent{d("dir")})
	upper := filepath.Join(base, "upper")
	buildLayer(t, upper, []ent{f("a", ""), f("b", "")})
	stop := fmt.Errorf("stop")
	calls := 0
	err := Changes(upper, s)(context.Background(), func(layer.ChangeKind, string, fs.FileInfo) error {
		calls++
		return stop
	})
	if err != stop || calls != 1 {
		t.Errorf("callback error: got %v after %d calls, want it unwrapped after 1", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = DirChanges(upper, s)(ctx, func(layer.ChangeKind, string, fs.FileInfo) error { return nil })
	if !errorsIs(err, context.Canceled) {
		t.Errorf("cancelled diff: %v", err)
	}
}

func TestMaterialize(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	layers := baseLayers()
	layers[0] = append(layers[0],
		ent{path: "suid", kind: 'f', data: "s", perm: 0o4755, uid: 5, gid: 6},
		ent{path: "sticky", kind: 'd', perm: 0o1777},
		ent{path: "caps", kind: 'f', data: "c", xattrs: map[string]string{
			"security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
			"user.note":           "kept",
		}},
		ent{path: "dev", kind: 'c'},
		ent{path: "fifo", kind: 'p'},
		ent{path: "linkowned", kind: 'l', data: "etc", uid: 3, gid: 4, mtime: baseTime.Add(42)},
	)
	s := buildStack(t, base, layers...)
	dst := filepath.Join(base, "copy")
	must(t, Materialize(context.Background(), s, dst))

	if got := collect(t, DirChanges(dst, s), dst); len(got) != 0 {
		t.Errorf("a fresh copy differs from its stack: %v", got)
	}
	for _, p := range []string{"var/gone", "x/old"} {
		if _, err := os.Lstat(filepath.Join(dst, p)); err == nil {
			t.Errorf("%s is hidden in the view but was copied", p)
		}
	}
	a, err := os.Lstat(filepath.Join(dst, "bin/a"))
	must(t, err)
	b, err := os.Lstat(filepath.Join(dst, "bin/b"))
	must(t, err)
	if os.SameFile(a, b) {
		t.Error("bin/a and bin/b share an inode in the copy")
	}
	want, err := os.ReadFile(filepath.Join(base, "layer0", "big"))
	must(t, err)
	got, err := os.ReadFile(filepath.Join(dst, "big"))
	must(t, err)
	if !bytes.Equal(got, want) {
		t.Error("big content differs")
	}
	if err := Materialize(context.Background(), s, dst); !errorsIs(err, unix.ENOTEMPTY) {
		t.Errorf("Materialize into a non-empty dir: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Materialize(ctx, s, filepath.Join(base, "cancelled")); !errorsIs(err, context.Canceled) {
		t.Errorf("cancelled Materialize: %v", err)
	}
}
