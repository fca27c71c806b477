package layer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ocibuilder/builder/internal/tartest"
)

// applyBytes applies data onto root.
func applyBytes(t testing.TB, root string, data []byte, o ApplyOptions) (int64, error) {
	t.Helper()
	return Apply(context.Background(), root, bytes.NewReader(data), o)
}

func TestApplyRoundTrip(t *testing.T) {
	requireRoot(t)
	src := t.TempDir()
	buildTree(t, src, false, time.Now())
	tarData := writeTarBytes(t, src, walkChanges(src), TarOptions{})
	want := snapshotTree(t, src)
	delete(want, "dev/sock") // sockets are not archived
	for p, s := range want {
		s.Mtime = s.Mtime.Truncate(time.Second)
		want[p] = s
	}
	for _, c := range []Compression{Gzip, Zstd, Uncompressed} {
		t.Run(c.String(), func(t *testing.T) {
			blob := encodeBytes(t, c, tarData).blob
			dst := filepath.Join(t.TempDir(), "rootfs")
			n, err := applyBytes(t, dst, blob, ApplyOptions{})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if n != int64(len(tarData)) {
				t.Errorf("Apply read %d tar bytes, tar has %d", n, len(tarData))
			}
			diffTrees(t, want, snapshotTree(t, dst))
		})
	}
}

// breakoutCase is one hostile archive.
type breakoutCase struct {
	name    string
	entries func(outside string) []tartest.Entry
	// wantErr requires an error; otherwise Apply must succeed.
	wantErr bool
	// unsafe requires the error to be an *UnsafePathError.
	unsafe bool
	// inside lists paths, relative to root, that must exist afterwards:
	// the place a redirected write was contained to.
	inside func(outside string) []string
	// hostPaths lists absolute paths outside the test directories that
	// must not exist afterwards.
	hostPaths []string
}

func breakoutCases() []breakoutCase {
	return []breakoutCase{{
		name:    "dot-dot file",
		entries: func(string) []tartest.Entry { return []tartest.Entry{tartest.File("../evil", "x")} },
		wantErr: true, unsafe: true,
	}, {
		name:    "dot-dot inside name",
		entries: func(string) []tartest.Entry { return []tartest.Entry{tartest.File("a/../../evil", "x")} },
		wantErr: true, unsafe: true,
	}, {
		name:    "dot-dot directory",
		entries: func(string) []tartest.Entry { return []tartest.Entry{tartest.Dir("../evil")} },
		wantErr: true, unsafe: true,
	}, {
		name:    "absolute name",
		entries: func(string) []tartest.Entry { return []tartest.Entry{tartest.File("/evil", "x")} },
		inside:  func(string) []string { return []string{"evil"} },
	}, {
		name:    "absolute dot-dot name",
		entries: func(string) []tartest.Entry { return []tartest.Entry{tartest.File("/../evil", "x")} },
		inside:  func(string) []string { return []string{"evil"} },
	}, {
		name: "absolute name of the outside directory",
		entries: func(outside string) []tartest.Entry {
			return []tartest.Entry{tartest.File(outside+"/evil", "x")}
		},
		inside: func(outside string) []string { return []string{outside[1:] + "/evil"} },
	}, {
		name: "symlink to slash then file through it",
		entries: func(string) []tartest.Entry {
			return []tartest.Entry{tartest.Symlink("l", "/"), tartest.File("l/ocibuilder-layer-breakout", "x")}
		},
		inside:    func(string) []string { return []string{"ocibuilder-layer-breakout"} },
		hostPaths: []string{"/ocibuilder-layer-breakout"},
	}, {
		name: "symlink to dot-dot then file through it",
		entries: func(string) []tartest.Entry {
			return []tartest.Entry{tartest.Symlink("l", "../.."), tartest.File("l/evil", "x")}
		},
		inside: func(string) []string { return []string{"evil"} },
	}, {
		name: "symlink to outside directory then file through it",
		entries: func(outside string) []tartest.Entry {
			return []tartest.Entry{tartest.Symlink("l", outside), tartest.File("l/evil", "x")}
		},
		inside: func(outside string) []string { return []string{outside[1:] + "/evil"} },
	}, {
		name: "symlink to outside directory then directory through it",
		entries: func(outside string) []tartest.Entry {
			return []tartest.Entry{tartest.Symlink("l", outside), tartest.Dir("l/evildir"), tartest.File("l/evildir/f", "x")}
		},
		inside: func(outside string) []string { return []string{outside[1:] + "/evildir/f"} },
	}, {
		name: "symlink to outside directory existing inside root",
		entries: func(outside string) []tartest.Entry {
			return []tartest.Entry{tartest.Dir(outside), tartest.Symlink("l", outside), tartest.File("l/evil", "x")}
		},
		inside: func(outside string) []string { return []string{outside[1:] + "/evil"} },
	}, {
		name: "symlink chain to a directory existing inside root",
		entries: func(outside string) []tartest.Entry {
			return []tartest.Entry{
				tartest.Dir(outside),
				tartest.Symlink("a", "b"),
				tartest.Symlink("b", "c/../d"),
				tartest.Dir("c"),
				tartest.Symlink("d", "../../../.."+outside),
				tartest.File("a/evil", "x"),
			}
		},
		inside: func(outside string) []string { return []string{outside[1:] + "/evil"} },
	}, {
		name: "symlink chain",
		entries: func(outside string) []tartest.Entry {
			return []tartest.Entry{
				tartest.Symlink("a", "b"),
				tartest.Symlink("b", "c/../d"),
				tartest.Dir("c"),
				tartest.Symlink("d", "../../../.."+outside),
				tartest.File("a/evil", "x"),
			}
		},
		inside: func(outside string) []string { return []string{outside[1:] + "/evil"} },
	}, {
		name: "self-referencing symlink dir",
		entries: func(string) []tartest.Entry {
			return []tartest.Entry{tartest.Symlink("l", ".."), tartest.File("l/l/l/l/evil", "x")}
		},
		inside: func(string) []string { return []string{"evil"} },
	}, {
		name: "symlink replacing a directory then file through it",
		entries: func(outside string) []tartest.Entry {
			return []tartest.Entry{tartest.Dir("d"), tartest.Symlink("d", outside), tartest.File("d/evil", "x")}
		},
		inside: func(outside string) []string { return []string{outside[1:] + "/evil"} },
	}, {
		name: "file over a symlink pointing outside",
		entries: func(outside string) []tartest.Entry {
			return []tartest.Entry{tartest.Symlink("f", outside+"/canary"), tartest.File("f", "pwned")}
		},
		inside: func(string) []string { return []string{"f"} },
	}, {
		name: "hard link to /etc/passwd",
		entries: func(string) []tartest.Entry {
			return []tartest.Entry{tartest.Link("h", "/etc/passwd")}
		},
		wantErr: true, unsafe: true,
	}, {
		name: "hard link climbing out",
		entries: func(string) []tartest.Entry {
			return []tartest.Entry{tartest.Link("h", "../../../../../../etc/passwd")}
		},
		wantErr: true, unsafe: true,
	}, {
		name: "hard link to outside canary by absolute path",
		entries: func(outside string) []tartest.Entry {
			return []tartest.Entry{tartest.Link("h", outside+"/canary")}
		},
		wantErr: true, unsafe: true,
	}, {
		name: "hard link through symlink to outside",
		entries: func(outside string) []tartest.Entry {
			return []tartest.Entry{tartest.Symlink("l", outside), tartest.Link("h", "l/canary")}
		},
		wantErr: true, unsafe: true,
	}, {
		name: "hard link through dot-dot symlink",
		entries: func(string) []tartest.Entry {
			return []tartest.Entry{tartest.Symlink("l", "../../../../../../etc"), tartest.Link("h", "l/passwd")}
		},
		wantErr: true, unsafe: true,
	}, {
		name: "hard link to a symlink pointing outside stays a link to the symlink",
		entries: func(outside string) []tartest.Entry {
			return []tartest.Entry{tartest.Symlink("s", outside+"/canary"), tartest.Link("h", "s"), tartest.File("h", "pwned")}
		},
		inside: func(string) []string { return []string{"h", "s"} },
	}, {
		name: "hard link to a directory",
		entries: func(string) []tartest.Entry {
			return []tartest.Entry{tartest.Dir("d"), tartest.Link("h", "d")}
		},
		wantErr: true, unsafe: true,
	}, {
		name:    "whiteout above root",
		entries: func(string) []tartest.Entry { return []tartest.Entry{tartest.Whiteout("../canary")} },
		wantErr: true, unsafe: true,
	}, {
		name: "whiteout of outside canary by absolute path",
		entries: func(outside string) []tartest.Entry {
			return []tartest.Entry{tartest.Whiteout(outside + "/canary")}
		},
	}, {
		name: "whiteout through symlink to outside",
		entries: func(outside string) []tartest.Entry {
			return []tartest.Entry{tartest.Symlink("l", outside), tartest.Whiteout("l/canary")}
		},
	}, {
		name: "whiteout through dot-dot symlink",
		entries: func(string) []tartest.Entry {
			return []tartest.Entry{tartest.Symlink("l", "../.."), tartest.Whiteout("l/canary")}
		},
	}, {
		name: "opaque whiteout through symlink to outside",
		entries: func(outside string) []tartest.Entry {
			return []tartest.Entry{tartest.Symlink("l", outside), tartest.Opaque("l")}
		},
	}, {
		name: "opaque whiteout above root",
		entries: func(string) []tartest.Entry {
			return []tartest.Entry{tartest.Opaque("..")}
		},
		wantErr: true, unsafe: true,
	}, {
		name:    "whiteout of dot-dot",
		entries: func(string) []tartest.Entry { return []tartest.Entry{tartest.Whiteout("a/..")} },
		wantErr: true, unsafe: true,
	}}
}

func TestApplyBreakouts(t *testing.T) {
	requireRoot(t)
	for _, mode := range []WhiteoutFormat{WhiteoutOCI, WhiteoutOverlay} {
		for _, tc := range breakoutCases() {
			t.Run(map[WhiteoutFormat]string{WhiteoutOCI: "oci", WhiteoutOverlay: "overlay"}[mode]+"/"+tc.name, func(t *testing.T) {
				parent := t.TempDir()
				outside := filepath.Join(parent, "outside")
				root := filepath.Join(parent, "root")
				mustWrite(t, filepath.Join(outside, "canary"), "canary", 0o644)
				if err := os.Mkdir(root, 0o755); err != nil {
					t.Fatal(err)
				}
				before := snapshotTree(t, outside)

				_, applyErr := applyBytes(t, root, tartest.Build(t, tc.entries(outside)...), ApplyOptions{Whiteouts: mode})
				err := applyErr
				switch {
				case tc.wantErr && err == nil:
					t.Error("Apply succeeded, want an error")
				case !tc.wantErr && err != nil:
					t.Errorf("Apply: %v", err)
				}
				var unsafe *UnsafePathError
				if tc.unsafe && !errors.As(err, &unsafe) {
					t.Errorf("error %v is not an *UnsafePathError", err)
				}
				if unsafe != nil && unsafe.Name == "" {
					t.Error("UnsafePathError names no entry")
				}

				diffTrees(t, before, snapshotTree(t, outside))
				if b, err := os.ReadFile(filepath.Join(outside, "canary")); err != nil || string(b) != "canary" {
					t.Errorf("canary is now %q, %v", b, err)
				}
				entries, err := os.ReadDir(parent)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range entries {
					if e.Name() != "root" && e.Name() != "outside" {
						t.Errorf("created %s next to root", e.Name())
					}
				}
				for _, p := range tc.hostPaths {
					if _, err := os.Lstat(p); err == nil {
						_ = os.Remove(p)
						t.Errorf("created %s on the host", p)
					}
				}
				if tc.inside != nil && applyErr == nil {
					for _, p := range tc.inside(outside) {
						if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
							t.Errorf("redirected entry not contained at %s: %v", p, err)
						}
					}
				}
			})
		}
	}
}

// ociLower is the lower layer the whiteout tests delete from.
func ociLower(t testing.TB) []byte {
	return tartest.Build(t,
		tartest.Dir("a"), tartest.File("a/x", "x"), tartest.File("a/y", "y"),
		tartest.Dir("b"), tartest.File("b/old", "old"), tartest.Dir("b/sub"), tartest.File("b/sub/deep", "deep"),
		tartest.Dir("e"), tartest.File("e/old", "old"),
		tartest.File("c", "c"), tartest.File("keep", "keep"),
	)
}

// ociUpper deletes c and a/x, makes b opaque before adding to it and e
// opaque after adding to it.
func ociUpper(t testing.TB) []byte {
	return tartest.Build(t,
		tartest.Whiteout("c"),
		tartest.Dir("a"), tartest.Whiteout("a/x"),
		tartest.Dir("b"), tartest.Opaque("b"), tartest.File("b/new", "new"),
		tartest.Dir("e"), tartest.File("e/new", "new"), tartest.Dir("e/newdir"), tartest.Opaque("e"),
		tartest.Whiteout("nothing"),
	)
}

func TestApplyWhiteoutsOCI(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	if _, err := applyBytes(t, root, ociLower(t), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := applyBytes(t, root, ociUpper(t), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path   string
		exists bool
	}{
		{"c", false}, {"a/x", false}, {"a/y", true},
		{"b/old", false}, {"b/sub", false}, {"b/new", true},
		{"e/old", false}, {"e/new", true}, {"e/newdir", true},
		{"keep", true},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			_, err := os.Lstat(filepath.Join(root, tc.path))
			if (err == nil) != tc.exists {
				t.Errorf("exists = %v, want %v", err == nil, tc.exists)
			}
		})
	}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".wh.") {
			t.Errorf("whiteout file %s extracted", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestApplyWhiteoutsOverlay(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	lower, upper := filepath.Join(base, "lower"), filepath.Join(base, "upper")
	if _, err := applyBytes(t, lower, ociLower(t), ApplyOptions{Whiteouts: WhiteoutOverlay}); err != nil {
		t.Fatal(err)
	}
	if _, err := applyBytes(t, upper, ociUpper(t), ApplyOptions{Whiteouts: WhiteoutOverlay}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"c", "a/x", "nothing"} {
		t.Run("whiteout "+p, func(t *testing.T) {
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(upper, p), &st); err != nil {
				t.Fatal(err)
			}
			if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
				t.Errorf("mode %o rdev %d, want a 0/0 character device", st.Mode, st.Rdev)
			}
		})
	}
	for _, d := range []string{"b", "e"} {
		t.Run("opaque "+d, func(t *testing.T) {
			v, err := getXattr(filepath.Join(upper, d), overlayOpaqueXattr)
			if err != nil || v != "y" {
				t.Errorf("%s = %q, %v; want y", overlayOpaqueXattr, v, err)
			}
		})
	}
	if _, err := getXattr(filepath.Join(upper, "a"), overlayOpaqueXattr); !errors.Is(err, unix.ENODATA) {
		t.Errorf("a marked opaque: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(upper, "b/.wh..wh..opq")); err == nil {
		t.Error("opaque marker extracted as a file")
	}

	// The directories must mean the same thing to overlayfs as the OCI
	// flattening does.
	merged := filepath.Join(base, "merged")
	if err := os.Mkdir(merged, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("overlay", merged, "overlay", unix.MS_RDONLY, "lowerdir="+upper+":"+lower); err != nil {
		t.Skipf("overlay mount unavailable: %v", err)
	}
	defer func() {
		if err := unix.Unmount(merged, 0); err != nil {
			t.Errorf("unmounting: %v", err)
		}
	}()
	flat := t.TempDir()
	if _, err := applyBytes(t, flat, ociLower(t), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := applyBytes(t, flat, ociUpper(t), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	want, got := snapshotTree(t, flat), snapshotTree(t, merged)
	for p, s := range want {
		if s.Type.IsDir() {
			// Directory times and xattrs differ by design between a merged
			// view and a flattened copy; presence and content matter here.
			g := got[p]
			s.Mtime, g.Mtime, s.Xattrs, g.Xattrs = time.Time{}, time.Time{}, "", ""
			want[p], got[p] = s, g
		}
	}
	diffTrees(t, want, got)
}

func TestApplyReplace(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name    string
		entries []tartest.Entry
		check   func(t *testing.T, root string)
	}{{
		name:    "later duplicate wins",
		entries: []tartest.Entry{tartest.File("f", "one"), tartest.File("f", "two")},
		check:   wantContent("f", "two"),
	}, {
		name:    "file replaces non-empty directory",
		entries: []tartest.Entry{tartest.Dir("d"), tartest.File("d/x", "x"), tartest.File("d", "file")},
		check:   wantContent("d", "file"),
	}, {
		name:    "directory replaces file",
		entries: []tartest.Entry{tartest.File("d", "file"), tartest.Dir("d"), tartest.File("d/x", "x")},
		check:   wantContent("d/x", "x"),
	}, {
		name:    "directories merge and take the later mode",
		entries: []tartest.Entry{tartest.Dir("d"), tartest.File("d/x", "x"), tartest.Dir("d").WithMode(0o700)},
		check: func(t *testing.T, root string) {
			wantContent("d/x", "x")(t, root)
			wantMode("d", os.ModeDir|0o700)(t, root)
		},
	}, {
		name:    "symlink replaces file",
		entries: []tartest.Entry{tartest.File("f", "x"), tartest.Symlink("f", "target")},
		check: func(t *testing.T, root string) {
			if l, err := os.Readlink(filepath.Join(root, "f")); err != nil || l != "target" {
				t.Errorf("readlink = %q, %v", l, err)
			}
		},
	}, {
		name:    "file replacing a hard link leaves the other name alone",
		entries: []tartest.Entry{tartest.File("a", "shared"), tartest.Link("b", "a"), tartest.File("b", "own")},
		check: func(t *testing.T, root string) {
			wantContent("a", "shared")(t, root)
			wantContent("b", "own")(t, root)
		},
	}, {
		name:    "hard link shares the inode",
		entries: []tartest.Entry{tartest.File("a", "shared"), tartest.Link("b", "/a")},
		check: func(t *testing.T, root string) {
			a, _ := os.Stat(filepath.Join(root, "a"))
			b, _ := os.Stat(filepath.Join(root, "b"))
			if a == nil || b == nil || !os.SameFile(a, b) {
				t.Error("a and b are not the same file")
			}
		},
	}, {
		name:    "whiteout removes entry of the same layer",
		entries: []tartest.Entry{tartest.File("f", "x"), tartest.Whiteout("f")},
		check: func(t *testing.T, root string) {
			if _, err := os.Lstat(filepath.Join(root, "f")); err == nil {
				t.Error("f still exists")
			}
		},
	}, {
		name:    "whiteout below a missing directory is a no-op",
		entries: []tartest.Entry{tartest.Whiteout("never/existed")},
		check: func(t *testing.T, root string) {
			if _, err := os.Lstat(filepath.Join(root, "never")); err == nil {
				t.Error("never was created")
			}
		},
	}, {
		name: "write through an absolute symlink creates its target inside root",
		entries: []tartest.Entry{
			tartest.Dir("var"), tartest.Symlink("var/run", "/run"), tartest.File("var/run/pid", "1"),
		},
		check: func(t *testing.T, root string) {
			wantContent("run/pid", "1")(t, root)
			if l, err := os.Readlink(filepath.Join(root, "var/run")); err != nil || l != "/run" {
				t.Errorf("var/run = %q, %v", l, err)
			}
		},
	}, {
		name:    "mtime past year 2262 survives",
		entries: []tartest.Entry{tartest.File("f", "x").WithModTime(time.Date(2400, 1, 2, 3, 4, 5, 0, time.UTC))},
		check: func(t *testing.T, root string) {
			fi, err := os.Lstat(filepath.Join(root, "f"))
			if err != nil || fi.ModTime().Year() != 2400 {
				t.Errorf("mtime %v, %v", fi.ModTime(), err)
			}
		},
	}, {
		name:    "missing parents are created",
		entries: []tartest.Entry{tartest.File("x/y/z", "z")},
		check: func(t *testing.T, root string) {
			wantContent("x/y/z", "z")(t, root)
			wantMode("x/y", os.ModeDir|0o755)(t, root)
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if _, err := applyBytes(t, root, tartest.Build(t, tc.entries...), ApplyOptions{}); err != nil {
				t.Fatal(err)
			}
			tc.check(t, root)
		})
	}
}

func wantContent(p, content string) func(*testing.T, string) {
	return func(t *testing.T, root string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || string(b) != content {
			t.Errorf("%s = %q, %v; want %q", p, b, err, content)
		}
	}
}

func wantMode(p string, mode os.FileMode) func(*testing.T, string) {
	return func(t *testing.T, root string) {
		t.Helper()
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil || fi.Mode() != mode {
			t.Errorf("%s mode = %v, %v; want %v", p, fi.Mode(), err, mode)
		}
	}
}

func TestApplyMetadata(t *testing.T) {
	requireRoot(t)
	mtime := time.Unix(1_500_000_000, 0)
	data := tartest.Build(t,
		tartest.Dir("d").WithMode(0o1777).WithModTime(mtime),
		tartest.File("d/su", "x").WithMode(0o4750).WithOwner(1234, 5678).WithModTime(mtime),
		tartest.File("d/cap", "x").WithOwner(1000, 1000).WithXattr("security.capability", capabilityXattr()).
			WithXattr("user.note", "hi").WithXattr("trusted.overlay.redirect", "/etc").WithModTime(mtime),
		tartest.Symlink("d/l", "su").WithOwner(7, 8).WithModTime(mtime),
		tartest.Char("d/null", 1, 3).WithModTime(mtime),
		tartest.Fifo("d/p").WithModTime(mtime),
	)
	t.Run("same owner", func(t *testing.T) {
		root := t.TempDir()
		if _, err := applyBytes(t, root, data, ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		s := snapshotTree(t, root)
		check := func(p string, ok bool, what string) {
			t.Helper()
			if !ok {
				t.Errorf("%s: %s; state %+v", p, what, s[p])
			}
		}
		check("d", s["d"].Mode == os.ModeSticky|0o777, "sticky 1777")
		check("d/su", s["d/su"].Mode == os.ModeSetuid|0o750 && s["d/su"].UID == 1234 && s["d/su"].GID == 5678, "setuid survives chown")
		check("d/cap", strings.Contains(s["d/cap"].Xattrs, "security.capability=") && strings.Contains(s["d/cap"].Xattrs, "user.note="),
			"capability survives chown")
		check("d/l", s["d/l"].UID == 7 && s["d/l"].GID == 8 && s["d/l"].Link == "su", "symlink owned 7:8")
		check("d/null", s["d/null"].Type == os.ModeDevice|os.ModeCharDevice && s["d/null"].Rdev == unix.Mkdev(1, 3), "char device 1,3")
		check("d/p", s["d/p"].Type == os.ModeNamedPipe, "fifo")
		for p, st := range s {
			check(p, st.Mtime.Equal(mtime), "mtime "+st.Mtime.String())
		}
		if _, err := getXattr(filepath.Join(root, "d/cap"), "trusted.overlay.redirect"); !errors.Is(err, unix.ENODATA) {
			t.Errorf("overlay redirect xattr applied from archive: %v", err)
		}
	})
	t.Run("no same owner", func(t *testing.T) {
		root := t.TempDir()
		if _, err := applyBytes(t, root, data, ApplyOptions{NoSameOwner: true}); err != nil {
			t.Fatal(err)
		}
		s := snapshotTree(t, root)
		if s["d/su"].UID != uint32(os.Getuid()) || s["d/l"].UID != uint32(os.Getuid()) {
			t.Errorf("owners applied: %+v %+v", s["d/su"], s["d/l"])
		}
		if s["d/su"].Mode != os.ModeSetuid|0o750 {
			t.Errorf("mode %v", s["d/su"].Mode)
		}
	})
}

func TestApplyErrors(t *testing.T) {
	requireRoot(t)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	good := tartest.Build(t, tartest.File("f", "x"))
	corrupt := encodeBytes(t, Gzip, good).blob
	corrupt = append([]byte(nil), corrupt...)
	corrupt[len(corrupt)-5] ^= 0xff // CRC32 trailer
	volume := tartest.Build(t, tartest.Entry{Header: tartest.File("v", "").Header})
	volume = append([]byte(nil), volume...)
	volume[156] = 'V' // typeflag of the first header
	fixChecksum(volume[:512])
	tests := []struct {
		name string
		ctx  context.Context
		data []byte
		o    ApplyOptions
	}{
		{"canceled", canceled, good, ApplyOptions{}},
		{"corrupt gzip trailer", context.Background(), corrupt, ApplyOptions{}},
		{"unknown whiteout format", context.Background(), good, ApplyOptions{Whiteouts: 9}},
		{"unsupported entry type", context.Background(), volume, ApplyOptions{}},
		{"truncated tar", context.Background(), tartest.Build(t, tartest.File("f", strings.Repeat("x", 2000)))[:1500], ApplyOptions{}},
		{"hard link to missing target", context.Background(), tartest.Build(t, tartest.Link("h", "missing")), ApplyOptions{}},
		{"parent is a file", context.Background(), tartest.Build(t, tartest.File("f", "x"), tartest.File("f/g", "y")), ApplyOptions{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Apply(tc.ctx, t.TempDir(), bytes.NewReader(tc.data), tc.o); err == nil {
				t.Error("Apply succeeded")
			}
		})
	}
}

// fixChecksum recomputes a ustar header block's checksum after a test
// edited it.
func fixChecksum(block []byte) {
	copy(block[148:156], "        ")
	var sum int
	for _, b := range block {
		sum += int(b)
	}
	copy(block[148:156], []byte(strings.Repeat("0", 6-len(itoaOctal(sum)))+itoaOctal(sum)+"\x00 "))
}

func itoaOctal(n int) string {
	if n == 0 {
		return "0"
	}
	var s []byte
	for ; n > 0; n /= 8 {
		s = append([]byte{byte('0' + n%8)}, s...)
	}
	return string(s)
}

func TestApplyDirectoryTimesSetLast(t *testing.T) {
	requireRoot(t)
	old := time.Unix(1_000_000, 0)
	data := tartest.Build(t,
		tartest.Dir("d").WithModTime(old),
		tartest.Dir("d/e").WithModTime(old),
		tartest.File("d/e/f", "x").WithModTime(old),
		tartest.File("d/g", "x").WithModTime(old),
	)
	root := t.TempDir()
	if _, err := applyBytes(t, root, data, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"d", "d/e"} {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil || !fi.ModTime().Equal(old) {
			t.Errorf("%s mtime %v, want %v", p, fi.ModTime(), old)
		}
	}
}

func TestApplyZeroRunsBecomeHoles(t *testing.T) {
	requireRoot(t)
	zeros := strings.Repeat("\x00", 1<<20)
	mixed := strings.Repeat("\x00", 10_000) + "x" + strings.Repeat("\x00", 3*sparseBlock) + "middle" +
		strings.Repeat("y", 200_000) + strings.Repeat("\x00", 5000) + "tail" + strings.Repeat("\x00", 77)
	root := t.TempDir()
	data := tartest.Build(t, tartest.File("zeros", zeros), tartest.File("mixed", mixed), tartest.File("empty", ""))
	if _, err := applyBytes(t, root, data, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	wantContent("zeros", zeros)(t, root)
	wantContent("mixed", mixed)(t, root)
	wantContent("empty", "")(t, root)
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(root, "zeros"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != 1<<20 || st.Blocks != 0 {
		t.Errorf("all-zero file: size %d, %d blocks allocated; want a hole", st.Size, st.Blocks)
	}
}
