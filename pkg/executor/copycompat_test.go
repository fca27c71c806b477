package executor_test

import (
	"archive/tar"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/internal/testutil"
)

// These tests pin COPY and ADD behaviour to what docker build (BuildKit)
// does where the two used to differ.

func TestCopySymlinkSourceKeepsItsName(t *testing.T) {
	base := testutil.BaseLayout(t,
		file("bin/busybox", "BB"),
		testutil.Symlink("bin/ls", "busybox"),
	)
	r := build(t, spec{
		dockerfile: "FROM scratch\n" +
			"COPY link.txt /dst/\n" +
			"COPY w/l*.txt /wild/\n" +
			"COPY --from=base /bin/ls /test/\n" +
			"COPY link.txt /named\n" +
			"COPY linkdir /fromdir/\n",
		context: []testutil.Entry{
			file("t/target.txt", "T"),
			testutil.Symlink("link.txt", "t/target.txt"),
			testutil.Symlink("w/l1.txt", "../t/target.txt"),
			testutil.Symlink("w/l2.txt", "../t/target.txt"),
			testutil.Symlink("linkdir", "t"),
		},
		base: base,
	})
	// The link is followed for the content; the copy is named after the
	// source, not after the link's target.
	r.wantFile(t, "/dst/link.txt", "T")
	if got, want := r.files(t, "/dst"), []string{"link.txt"}; !slices.Equal(got, want) {
		t.Errorf("/dst holds %q, want %q", got, want)
	}
	if got, want := r.files(t, "/wild"), []string{"l1.txt", "l2.txt"}; !slices.Equal(got, want) {
		t.Errorf("/wild holds %q, want %q", got, want)
	}
	r.wantFile(t, "/wild/l1.txt", "T")
	r.wantFile(t, "/wild/l2.txt", "T")
	r.wantFile(t, "/test/ls", "BB")
	if got, want := r.files(t, "/test"), []string{"ls"}; !slices.Equal(got, want) {
		t.Errorf("/test holds %q, want %q", got, want)
	}
	r.wantFile(t, "/named", "T")
	// A link to a directory copies the directory's contents.
	if got, want := r.files(t, "/fromdir"), []string{"target.txt"}; !slices.Equal(got, want) {
		t.Errorf("/fromdir holds %q, want %q", got, want)
	}
}

// TestCopySymlinkSourceNameInCacheKey renames a link a wildcard matches
// between two builds: the file it leads to is the same, but the copy's
// name is not, so the step must not come from the cache.
func TestCopySymlinkSourceNameInCacheKey(t *testing.T) {
	ctxDir := t.TempDir()
	testutil.WriteTree(t, ctxDir,
		file("t/target.txt", "T"),
		testutil.Symlink("w/l1.txt", "../t/target.txt"),
	)
	s := spec{dockerfile: "FROM scratch\nCOPY w/l* /d/\n", contextDir: ctxDir, root: t.TempDir()}
	r := build(t, s)
	if got, want := r.files(t, "/d"), []string{"l1.txt"}; !slices.Equal(got, want) {
		t.Fatalf("first build: /d holds %q, want %q", got, want)
	}
	if err := os.Rename(filepath.Join(ctxDir, "w/l1.txt"), filepath.Join(ctxDir, "w/l2.txt")); err != nil {
		t.Fatal(err)
	}
	r = build(t, s)
	if got, want := r.files(t, "/d"), []string{"l2.txt"}; !slices.Equal(got, want) {
		t.Errorf("second build: /d holds %q, want %q", got, want)
	}
}

func TestCopyUnmatchedWildcard(t *testing.T) {
	ctx := copyContext()
	t.Run("beside other sources", func(t *testing.T) {
		r := build(t, spec{dockerfile: "FROM scratch\nCOPY *foo *.txt /testdir/\nADD nomatch* readme.md /r/\n", context: ctx})
		if got, want := r.files(t, "/testdir"), []string{"a.txt", "b.txt"}; !slices.Equal(got, want) {
			t.Errorf("/testdir holds %q, want %q", got, want)
		}
		r.wantFile(t, "/r/readme.md", "R")
	})
	t.Run("leaves one source for a file destination", func(t *testing.T) {
		r := build(t, spec{dockerfile: "FROM scratch\nCOPY nomatch* a.txt /f\n", context: ctx})
		r.wantFile(t, "/f", "A")
	})
	t.Run("as the only source copies nothing", func(t *testing.T) {
		r := build(t, spec{dockerfile: "FROM scratch\nCOPY a.txt /a\nCOPY nomatch* /none/\nCOPY dir/*.none /none2/\n", context: ctx})
		r.wantFile(t, "/a", "A")
		for _, p := range []string{"/none", "/none2"} {
			if r.exists(p) {
				t.Errorf("%s was created", p)
			}
		}
		if n := len(r.img.Layers); n != 1 {
			t.Errorf("image has %d layers, want 1", n)
		}
	})
	t.Run("in a directory that does not exist", func(t *testing.T) {
		err, pe := buildErr(t, spec{dockerfile: "FROM scratch\nCOPY nodir/*.txt a.txt /x/\n", context: ctx})
		if pe.Loc.Line != 2 {
			t.Errorf("error %v is at line %d, want 2", err, pe.Loc.Line)
		}
		if !strings.Contains(err.Error(), "nodir") {
			t.Errorf("error %q does not name the missing directory", err)
		}
	})
}

func TestCopySeveralSourcesNeedDirectoryMessage(t *testing.T) {
	for _, tc := range []struct{ df, op string }{
		{"FROM scratch\nCOPY a.txt b.txt /dest\n", "COPY"},
		{"FROM scratch\nADD a.txt b.txt /dest\n", "ADD"},
		{"FROM scratch\nCOPY *.txt /dest\n", "COPY"},
	} {
		t.Run(tc.df, func(t *testing.T) {
			err, pe := buildErr(t, spec{dockerfile: tc.df, context: copyContext()})
			if pe.Loc.Line != 2 {
				t.Errorf("error %v is at line %d, want 2", err, pe.Loc.Line)
			}
			want := "When using " + tc.op + " with more than one source file, the destination must be a directory and end with a /"
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q, want %q", err, want)
			}
		})
	}
}

func TestCopyChownEmpty(t *testing.T) {
	base := testutil.BaseLayout(t, testutil.Entry{Path: "home/app/f", Body: "F", UID: 1000, GID: 1000})
	r := build(t, spec{
		dockerfile: "FROM scratch\nARG U\nARG G\n" +
			"COPY --chown=$U:$G a.txt /expanded\n" +
			"COPY --chown=: dir /literal/\n" +
			"COPY --chown=1234: a.txt /user-only\n" +
			"COPY --chown=:5678 a.txt /group-only\n" +
			"COPY --chown=: --from=base /home/app/f /from-image\n",
		context: copyContext(),
		base:    base,
	})
	for p, want := range map[string][2]uint32{
		"/expanded":        {0, 0},
		"/literal/one":     {0, 0},
		"/literal/sub":     {0, 0},
		"/user-only":       {1234, 1234},
		"/group-only":      {0, 5678},
		"/from-image":      {0, 0},
		"/literal/sub/two": {0, 0},
	} {
		if uid, gid := r.owner(t, p); uid != want[0] || gid != want[1] {
			t.Errorf("%s owned by %d:%d, want %d:%d", p, uid, gid, want[0], want[1])
		}
	}
}

func TestAddArchiveChown(t *testing.T) {
	long := strings.Repeat("n", 150) // needs a PAX path record
	data := makeTar(t,
		tarEntry{name: "dir/", typ: tar.TypeDir, mode: 0o750, uid: 7, gid: 8},
		tarEntry{name: "dir/file", body: "F", mode: 0o640, uid: 7, gid: 8},
		tarEntry{name: "dir/hard", typ: tar.TypeLink, link: "dir/file"},
		tarEntry{name: "link", typ: tar.TypeSymlink, link: "dir/file", uid: 9, gid: 9},
		tarEntry{name: "dir/" + long, body: "L", uid: 7, gid: 8},
	)
	for _, kind := range []string{"tar", "gzip"} {
		t.Run(kind, func(t *testing.T) {
			r := build(t, spec{
				dockerfile: "FROM scratch\nADD --chown=1234:5678 arch.bin /dest/\nADD --chown=1234:5678 --chmod=0600 arch.bin /mode/\nADD arch.bin /kept/\n",
				context:    []testutil.Entry{file("arch.bin", string(compress(t, kind, data)))},
			})
			for _, d := range []string{"/dest", "/mode"} {
				for _, p := range []string{"", "/dir", "/dir/file", "/dir/hard", "/link", "/dir/" + long} {
					if uid, gid := r.owner(t, d+p); uid != 1234 || gid != 5678 {
						t.Errorf("%s%s owned by %d:%d, want 1234:5678", d, p, uid, gid)
					}
				}
				r.wantFile(t, d+"/dir/file", "F")
				r.wantFile(t, d+"/dir/"+long, "L")
				if target, err := os.Readlink(r.path(d + "/link")); err != nil || target != "dir/file" {
					t.Errorf("%s/link: target %q, err %v", d, target, err)
				}
				// --chmod is not applied to what an archive holds, nor
				// to the directory made for it.
				for p, want := range map[string]os.FileMode{"": 0o755, "/dir": 0o750, "/dir/file": 0o640} {
					if m := r.mode(t, d+p); m != want {
						t.Errorf("%s%s has mode %v, want %v", d, p, m, want)
					}
				}
				if mt := r.lstat(t, d+"/dir/file").ModTime(); !mt.Equal(archiveTime()) {
					t.Errorf("%s/dir/file has mtime %v, want %v", d, mt, archiveTime())
				}
			}
			if uid, gid := r.owner(t, "/kept/dir/file"); uid != 7 || gid != 8 {
				t.Errorf("/kept/dir/file owned by %d:%d, want the archive's 7:8", uid, gid)
			}
		})
	}
}

// TestAddArchiveChownFailures checks that an archive whose owners are
// rewritten still fails as it should: past the size limit, and when it is
// damaged after its first entry.
func TestAddArchiveChownFailures(t *testing.T) {
	big := makeTar(t, tarEntry{name: "a", body: strings.Repeat("x", 64<<10)}, tarEntry{name: "b", body: strings.Repeat("y", 64<<10)})
	damaged := makeTar(t, tarEntry{name: "a", body: "A"}, tarEntry{name: "b", body: strings.Repeat("y", 4096)})
	damaged = damaged[:len(damaged)-2048] // cut inside b
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"size limit", compress(t, "gzip", big), "arch.bin"},
		{"damaged", damaged, "arch.bin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := spec{
				dockerfile: "FROM scratch\nADD --chown=1:1 arch.bin /x/\n",
				context:    []testutil.Entry{file("arch.bin", string(tc.data))},
			}
			o := s.options(t)
			o.MaxArchiveSize = 32 << 10
			_, err := tryBuild(t, s, o)
			if err == nil {
				t.Fatal("the build succeeded, want an error")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
		})
	}
}
