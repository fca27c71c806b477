package executor_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/internal/source"
	"github.com/ocibuilder/builder/internal/testutil"
	"github.com/ocibuilder/builder/pkg/executor"
)

func ignoreContext() []testutil.Entry {
	return []testutil.Entry{
		file("app.go", "package main"),
		file("debug.log", "L"),
		file("README.md", "R"),
		file("CHANGES.md", "C"),
		file("a/b/c/deep.tmp", "T"),
		file("a/keep.txt", "K"),
		file("top.tmp", "T"),
		file("logs/one.log", "1"),
		file("logs/keep.log", "2"),
		file("logs/sub/three.log", "3"),
		file("secret/key", "S"),
	}
}

func TestDockerignore(t *testing.T) {
	tests := []struct {
		name   string
		ignore []string
		want   []string // below /c after COPY . /c/
	}{{
		name:   "none",
		ignore: nil,
		want: []string{"CHANGES.md", "README.md", "a/", "a/b/", "a/b/c/", "a/b/c/deep.tmp", "a/keep.txt", "app.go",
			"debug.log", "logs/", "logs/keep.log", "logs/one.log", "logs/sub/", "logs/sub/three.log", "secret/", "secret/key", "top.tmp"},
	}, {
		name:   "plain patterns",
		ignore: []string{"*.log", "secret", "a/b"},
		want: []string{"CHANGES.md", "README.md", "a/", "a/keep.txt", "app.go",
			"logs/", "logs/keep.log", "logs/one.log", "logs/sub/", "logs/sub/three.log", "top.tmp"},
	}, {
		name:   "double star",
		ignore: []string{"**/*.tmp", "**/*.log"},
		want: []string{"CHANGES.md", "README.md", "a/", "a/b/", "a/b/c/", "a/keep.txt", "app.go",
			"logs/", "logs/sub/", "secret/", "secret/key"},
	}, {
		name:   "exception",
		ignore: []string{"*.md", "!README.md"},
		want: []string{"README.md", "a/", "a/b/", "a/b/c/", "a/b/c/deep.tmp", "a/keep.txt", "app.go",
			"debug.log", "logs/", "logs/keep.log", "logs/one.log", "logs/sub/", "logs/sub/three.log", "secret/", "secret/key", "top.tmp"},
	}, {
		name:   "exception inside an excluded directory",
		ignore: []string{"logs", "!logs/keep.log", "secret", "a", "*.md", "*.tmp", "*.go", "*.log"},
		want:   []string{"logs/", "logs/keep.log"},
	}, {
		name:   "everything but one file",
		ignore: []string{"*", "!app.go"},
		want:   []string{"app.go"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := build(t, spec{dockerfile: "FROM scratch\nCOPY . /c/\n", context: ignoreContext(), ignore: tc.ignore})
			if got := r.files(t, "/c"); !slices.Equal(got, tc.want) {
				t.Errorf("/c holds\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestDockerignoreHidesNamedSources(t *testing.T) {
	tests := []struct {
		name string
		df   string
	}{
		{"excluded file", "FROM scratch\nCOPY debug.log /x\n"},
		{"file in an excluded directory", "FROM scratch\nCOPY secret/key /x\n"},
		{"excluded directory", "FROM scratch\nCOPY secret /x\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buildErr(t, spec{dockerfile: tc.df, context: ignoreContext(), ignore: []string{"*.log", "secret"}})
		})
	}
	t.Run("excluded directory with a re-included file", func(t *testing.T) {
		r := build(t, spec{dockerfile: "FROM scratch\nCOPY logs /l/\n", context: ignoreContext(), ignore: []string{"logs", "!logs/keep.log"}})
		if got, want := r.files(t, "/l"), []string{"keep.log"}; !slices.Equal(got, want) {
			t.Errorf("/l holds %q, want %q", got, want)
		}
	})
	t.Run("wildcard matching an excluded directory with a re-included file", func(t *testing.T) {
		// The context docker sends holds logs/keep.log, so logs matches l*.
		r := build(t, spec{dockerfile: "FROM scratch\nCOPY l* /l/\n", context: ignoreContext(), ignore: []string{"logs", "!logs/keep.log"}})
		if got, want := r.files(t, "/l"), []string{"keep.log"}; !slices.Equal(got, want) {
			t.Errorf("/l holds %q, want %q", got, want)
		}
	})
	t.Run("wildcard skips an excluded directory with nothing re-included", func(t *testing.T) {
		r := build(t, spec{dockerfile: "FROM scratch\nCOPY * /x/\n", context: ignoreContext(), ignore: []string{"secret", "logs", "a", "!README.md"}})
		want := []string{"CHANGES.md", "README.md", "app.go", "debug.log", "top.tmp"}
		if got := r.files(t, "/x"); !slices.Equal(got, want) {
			t.Errorf("/x holds %q, want %q", got, want)
		}
	})
	t.Run("wildcard skips excluded matches", func(t *testing.T) {
		r := build(t, spec{dockerfile: "FROM scratch\nCOPY *.md /x/\n", context: ignoreContext(), ignore: []string{"CHANGES.md"}})
		if got, want := r.files(t, "/x"), []string{"README.md"}; !slices.Equal(got, want) {
			t.Errorf("/x holds %q, want %q", got, want)
		}
	})
}

func TestReadIgnoreFile(t *testing.T) {
	write := func(t *testing.T, p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("Dockerfile-specific file wins", func(t *testing.T) {
		dir := t.TempDir()
		testutil.WriteTree(t, dir, ignoreContext()...)
		write(t, filepath.Join(dir, ".dockerignore"), "README.md\n")
		df := filepath.Join(dir, "build", "app.Dockerfile")
		write(t, df, "FROM scratch\n")
		write(t, df+".dockerignore", "# comment\nCHANGES.md\n")
		pats, err := executor.ReadIgnoreFile(dir, df)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"CHANGES.md"}; !slices.Equal(pats, want) {
			t.Errorf("patterns %q, want %q", pats, want)
		}
		r := build(t, spec{dockerfile: "FROM scratch\nCOPY *.md /x/\n", contextDir: dir, ignore: pats})
		if got, want := r.files(t, "/x"), []string{"README.md"}; !slices.Equal(got, want) {
			t.Errorf("/x holds %q, want %q", got, want)
		}
	})
	t.Run("context file without a specific one", func(t *testing.T) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, ".dockerignore"), "README.md\n!x\n")
		pats, err := executor.ReadIgnoreFile(dir, filepath.Join(dir, "Dockerfile"))
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"README.md", "!x"}; !slices.Equal(pats, want) {
			t.Errorf("patterns %q, want %q", pats, want)
		}
	})
	t.Run("no file", func(t *testing.T) {
		pats, err := executor.ReadIgnoreFile(t.TempDir(), "-")
		if err != nil || len(pats) != 0 {
			t.Errorf("got %q, %v; want no patterns", pats, err)
		}
	})
	t.Run("invalid pattern", func(t *testing.T) {
		s := spec{dockerfile: "FROM scratch\n", ignore: []string{"[" + strings.Repeat("a", 3)}}
		o := s.options(t)
		if _, err := source.OpenContext(o.Context, o.Ignore); err == nil {
			t.Error("an invalid pattern was accepted")
		}
	})
}
