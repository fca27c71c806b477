package executor_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/internal/testutil"
	"github.com/ocibuilder/builder/pkg/parser"
)

func parentsContext() []testutil.Entry {
	return []testutil.Entry{
		file("x/y/a.txt", "a"),
		file("x/y/b.txt", "b"),
		file("x/y/c.md", "c"),
		file("x/z/d.md", "d"),
		file("top.md", "t"),
		{Path: "p/q", Dir: true, Mode: 0o700},
		file("p/q/r.txt", "r"),
		testutil.Symlink("p/q/link.txt", "r.txt"),
		testutil.Symlink("pl", "p"),
	}
}

// TestCopyParents checks COPY --parents: paths kept below the destination,
// from the root or from the "/./" pivot, with wildcards ("**" included),
// --exclude matched below the pivot, and the kept directories copied with
// their own modes.
func TestCopyParents(t *testing.T) {
	tests := []struct {
		name, copy string
		want       []string
	}{
		{"paths", "COPY --parents x/y/a.txt ./x/z/d.md /d/", []string{"x/", "x/y/", "x/y/a.txt", "x/z/", "x/z/d.md"}},
		{"pivot", "COPY --parents ./x/./y/a.txt /d/", []string{"y/", "y/a.txt"}},
		{"pivot and wildcard", "COPY --parents ./x/./y/*.txt /d/", []string{"y/", "y/a.txt", "y/b.txt"}},
		{"wildcard", "COPY --parents x/*/*.md /d/", []string{"x/", "x/y/", "x/y/c.md", "x/z/", "x/z/d.md"}},
		{"double star", "COPY --parents **/*.md /d/", []string{"top.md", "x/", "x/y/", "x/y/c.md", "x/z/", "x/z/d.md"}},
		{"directory", "COPY --parents x/z /d/", []string{"x/", "x/z/", "x/z/d.md"}},
		{"pivot only", "COPY --parents ./x/./ /d/", []string{"y/", "y/a.txt", "y/b.txt", "y/c.md", "z/", "z/d.md"}},
		{"symlinked pivot", "COPY --parents pl/./q/r.txt /d/", []string{"q/", "q/r.txt"}},
		{"symlink kept", "COPY --parents p/q/link.txt /d/", []string{"p/", "p/q/", "p/q/link.txt"}},
		{"exclude below the pivot", "COPY --parents --exclude=y/b.txt ./x/./y /d/", []string{"y/", "y/a.txt", "y/c.md"}},
		{"no trailing slash", "COPY --parents x/y/a.txt /d", []string{"x/", "x/y/", "x/y/a.txt"}},
		{"unmatched wildcard makes the destination", "COPY --parents x/*.none /d/", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := build(t, spec{dockerfile: "FROM scratch\n" + tc.copy + "\n", context: parentsContext()})
			if !r.lstat(t, "/d").IsDir() {
				t.Fatal("/d is not a directory")
			}
			if got := r.files(t, "/d"); !slices.Equal(got, tc.want) {
				t.Errorf("/d holds %q, want %q", got, tc.want)
			}
		})
	}
	r := build(t, spec{dockerfile: "FROM scratch\nCOPY --parents p/q/r.txt p/q/link.txt /d/\n", context: parentsContext()})
	if m := r.mode(t, "/d/p/q"); m != 0o700 {
		t.Errorf("/d/p/q has mode %v, want the context's 0700", m)
	}
	if target, err := os.Readlink(r.path("/d/p/q/link.txt")); err != nil || target != "r.txt" {
		t.Errorf("/d/p/q/link.txt: target %q (%v), want the symlink kept", target, err)
	}
}

// TestCopyParentsFromStage keeps paths below an absolute pivot in another
// stage's filesystem.
func TestCopyParentsFromStage(t *testing.T) {
	r := build(t, spec{
		dockerfile: `FROM scratch AS src
COPY x /app/out/
FROM scratch
COPY --from=src --parents /app/./out/*/*.md /d/
COPY --from=src --parents /app/out/y/a.txt /e/
`,
		context: parentsContext(),
	})
	if got, want := r.files(t, "/d"), []string{"out/", "out/y/", "out/y/c.md", "out/z/", "out/z/d.md"}; !slices.Equal(got, want) {
		t.Errorf("/d holds %q, want %q", got, want)
	}
	r.wantFile(t, "/e/app/out/y/a.txt", "a")
}

// TestCopyParentsErrors checks the failures of --parents, each naming the
// Dockerfile line.
func TestCopyParentsErrors(t *testing.T) {
	for _, tc := range []struct{ name, copy, want string }{
		{"missing path", "COPY --parents x/nothing.txt /d/", "not found"},
		{"through a symlink", "COPY --parents pl/q/r.txt /d/", "not found"},
		{"missing pivot", "COPY --parents ./nowhere/./a.txt /d/", "not found"},
		{"outside the context", "COPY --parents ../x/./a /d/", "outside"},
		{"URL", "COPY --parents http://127.0.0.1:1/f /d/", "URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err, pe := buildErr(t, spec{dockerfile: "FROM scratch\n" + tc.copy + "\n", context: parentsContext()})
			if pe.Loc.Line != 2 || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v: want line 2, mentioning %q", err, tc.want)
			}
		})
	}
	_, err := parser.Parse(strings.NewReader("FROM scratch\nADD --parents a /d/\n"), parser.Options{Filename: "Dockerfile"})
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:2") {
		t.Errorf("ADD --parents: error %v, want one naming Dockerfile:2", err)
	}
}

// TestCopyParentsCacheKey changes the mode of a directory --parents keeps
// and expects the step to run again.
func TestCopyParentsCacheKey(t *testing.T) {
	s := spec{dockerfile: "FROM scratch\nCOPY --parents p/q/r.txt /d/\n", root: t.TempDir(), contextDir: newContext(t, parentsContext()...)}
	cacheBuild(t, s, nil)
	if err := os.Chmod(filepath.Join(s.contextDir, "p/q"), 0o755); err != nil {
		t.Fatal(err)
	}
	r, log := cacheBuild(t, s, nil)
	log.check(t, map[string]string{"stage-0 1": "files changed: p/q (mode)"})
	if m := r.mode(t, "/d/p/q"); m != 0o755 {
		t.Errorf("/d/p/q has mode %v after the rebuild, want 0755", m)
	}
}
