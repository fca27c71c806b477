package source

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// tree makes a context directory holding files and symlinks (name ->
// target).
func tree(t *testing.T, files map[string]string, links map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range links {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestContextResolve(t *testing.T) {
	dir := tree(t, map[string]string{"a/b/file": "x", "top": "t"}, map[string]string{
		"rel":        "a/b",
		"a/up":       "../top",
		"abs":        "/etc",
		"escape":     "../../..",
		"a/b/deeper": "../../../outside",
		"loop1":      "loop2",
		"loop2":      "loop1",
		"dangling":   "nothing/here",
	})
	cx, err := OpenContext(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in         string
		followLast bool
		want       string
		outside    bool
		fails      bool
	}{
		{in: "a/b/file", followLast: true, want: "a/b/file"},
		{in: "./a//b/../b/file", followLast: true, want: "a/b/file"},
		{in: "rel/file", followLast: true, want: "a/b/file"},
		{in: "rel", followLast: false, want: "rel"},
		{in: "rel", followLast: true, want: "a/b"},
		{in: "a/up", followLast: true, want: "top"},
		{in: "abs", followLast: true, outside: true},
		{in: "abs/passwd", followLast: false, outside: true},
		{in: "escape", followLast: true, outside: true},
		{in: "a/b/deeper", followLast: true, outside: true},
		{in: "loop1", followLast: true, fails: true},
		{in: "dangling", followLast: true, want: "nothing/here"},
		{in: "missing/x", followLast: true, want: "missing/x"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := cx.Resolve(tc.in, tc.followLast)
			switch {
			case tc.outside:
				if !errors.Is(err, ErrOutsideContext) {
					t.Fatalf("Resolve(%q) = %q, %v; want ErrOutsideContext", tc.in, got, err)
				}
			case tc.fails:
				if err == nil {
					t.Fatalf("Resolve(%q) = %q, want an error", tc.in, got)
				}
			default:
				if err != nil || got != tc.want {
					t.Fatalf("Resolve(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
				}
			}
		})
	}
}

func TestContextIgnoreAndGlob(t *testing.T) {
	dir := tree(t, map[string]string{
		"src/main.go":       "m",
		"src/main_test.go":  "t",
		"src/pkg/a.go":      "a",
		"docs/readme.md":    "r",
		"logs/app.log":      "l",
		"logs/keep.log":     "k",
		"build/out/bin":     "b",
		"deep/x/y/z.tmp":    "z",
		".git/HEAD":         "h",
		"Dockerfile":        "FROM scratch",
		"notes.txt":         "n",
		"other/notes.txt":   "n",
		"other/.hidden.txt": "h",
	}, nil)
	cx, err := OpenContext(dir, []string{".git", "**/*.tmp", "logs", "!logs/keep.log", "build/", "*_test.go", "src/*_test.go"})
	if err != nil {
		t.Fatal(err)
	}
	exists := func(p string) bool {
		_, err := cx.Lstat(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Lstat(%s): %v", p, err)
		}
		return err == nil
	}
	for p, want := range map[string]bool{
		".git/HEAD":        false,
		".git":             false,
		"deep/x/y/z.tmp":   false,
		"deep/x/y":         true,
		"logs":             true, // re-included below
		"logs/app.log":     false,
		"logs/keep.log":    true,
		"build/out/bin":    false,
		"src/main_test.go": false,
		"src/main.go":      true,
		"notes.txt":        true,
	} {
		if got := exists(p); got != want {
			t.Errorf("%s visible = %v, want %v", p, got, want)
		}
	}
	ents, err := cx.ReadDir("logs")
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "keep.log" {
		t.Errorf("ReadDir(logs) = %v, want only keep.log", ents)
	}

	globs := map[string][]string{
		"src/*.go":    {"src/main.go"},
		"*/*.txt":     {"other/.hidden.txt", "other/notes.txt"},
		"*.txt":       {"notes.txt"},
		"l*/*.log":    {"logs/keep.log"},
		"nothing*":    nil,
		"src/[mp]*":   {"src/main.go", "src/pkg"},
		"deep/*/*/*":  nil,
		"docs/?eadme": nil,
	}
	for pattern, want := range globs {
		got, err := Glob(cx, pattern)
		if err != nil {
			t.Fatalf("Glob(%q): %v", pattern, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Glob(%q) = %q, want %q", pattern, got, want)
		}
	}
}

func TestReadIgnoreFilePrecedence(t *testing.T) {
	dir := tree(t, map[string]string{
		".dockerignore":                   "a\n",
		"sub/app.Dockerfile":              "FROM scratch\n",
		"sub/app.Dockerfile.dockerignore": "# own rules\nb\n!c\n",
	}, nil)
	got, err := ReadIgnoreFile(dir, filepath.Join(dir, "sub/app.Dockerfile"))
	if err != nil || !slices.Equal(got, []string{"b", "!c"}) {
		t.Errorf("with a Dockerfile-specific file: %q, %v", got, err)
	}
	got, err = ReadIgnoreFile(dir, filepath.Join(dir, "Dockerfile"))
	if err != nil || !slices.Equal(got, []string{"a"}) {
		t.Errorf("context .dockerignore: %q, %v", got, err)
	}
	got, err = ReadIgnoreFile(t.TempDir(), "")
	if err != nil || got != nil {
		t.Errorf("no ignore file: %q, %v", got, err)
	}
}

func TestIsURL(t *testing.T) {
	for s, want := range map[string]bool{
		"https://example.com/a.tar": true,
		"http://127.0.0.1:8080/x":   true,
		"ftp://example.com/x":       false,
		"git@github.com:o/r.git":    false,
		"file.txt":                  false,
		"https:///nohost":           false,
	} {
		if got := IsURL(s); got != want {
			t.Errorf("IsURL(%q) = %v", s, got)
		}
	}
}
