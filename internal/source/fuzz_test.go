package source

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzTree is the context the ignore fuzzer looks at, beside a file
// outside it that no view of the context may reach.
func fuzzTree(f *testing.F) (ctxDir, outside string) {
	parent := f.TempDir()
	ctxDir = filepath.Join(parent, "ctx")
	outside = filepath.Join(parent, "outside")
	files := []string{"a", "b/c", "b/d/e", "b/d/f.go", ".hidden", "dir with space/x", "deep/1/2/3/4", "nl\nname", "\xff\xfe"}
	for _, p := range files {
		full := filepath.Join(ctxDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(p), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	if err := os.WriteFile(outside, []byte("outside"), 0o644); err != nil {
		f.Fatal(err)
	}
	links := map[string]string{"up": "../outside", "abs": outside, "b/loop": ".", "b/d/back": "../../.."}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(ctxDir, name)); err != nil {
			f.Fatal(err)
		}
	}
	return ctxDir, outside
}

// FuzzContextIgnore feeds random .dockerignore patterns and paths to a
// context: Lstat, ReadDir, Resolve and Open never panic and never reach
// outside the context, and an entry ReadDir lists is never excluded unless
// it is a directory that "!" patterns re-include something below.
func FuzzContextIgnore(f *testing.F) {
	ctxDir, outside := fuzzTree(f)
	seeds := [][2]string{
		{"*\n!b", "b\nb/d\na"},
		{"b/d\n!b/d/*.go", "b/d\nb/d/f.go\nb/d/e"},
		{"**/*.go", "b/d/f.go\n."},
		{"../outside\n/a", "../outside\n/a\n../../x"},
		{"[\n\\", "["},
		{"!*", "up\nabs\nb/loop/loop/c"},
		{"deep/**/4\n!deep/1", "deep/1/2/3/4\ndeep"},
		{"nl*", "nl\nname"},
		{"*\n!**/e", "b/d/back/b/d/e\nb"},
		{"", "\x00\n//\n./."},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, patterns, paths string) {
		c, err := OpenContext(ctxDir, strings.Split(patterns, "\n"))
		if err != nil {
			return // a malformed pattern is refused up front
		}
		inside := func(what, host string) {
			t.Helper()
			if host != c.root && !strings.HasPrefix(host, c.root+"/") {
				t.Fatalf("%s reaches %q, outside the context %q", what, host, c.root)
			}
		}
		for _, p := range append(strings.Split(paths, "\n"), "", "b", "b/d", "deep/1/2") {
			inside(fmt.Sprintf("host(%q)", p), c.host(p))
			if fi, err := c.Lstat(p); err == nil && clean(p) != "" && c.Excluded(p) && !(fi.IsDir() && c.hasIncluded(p)) {
				t.Fatalf("Lstat(%q) found an excluded path", p)
			}
			if r, err := c.Resolve(p, true); err == nil {
				inside(fmt.Sprintf("Resolve(%q)", p), c.host(r))
			} else if strings.Contains(err.Error(), "panic") {
				t.Fatal(err)
			}
			if fh, err := c.Open(p); err == nil {
				target, lerr := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fh.Fd()))
				_ = fh.Close()
				if lerr != nil {
					t.Fatal(lerr)
				}
				if target == outside {
					t.Fatalf("Open(%q) opened the file outside the context", p)
				}
				inside(fmt.Sprintf("Open(%q)", p), target)
			}
			ents, err := c.ReadDir(p)
			if err != nil {
				continue
			}
			for _, e := range ents {
				child := path.Join(clean(p), e.Name())
				if c.Excluded(child) && !(e.IsDir() && c.hasIncluded(child)) {
					t.Fatalf("ReadDir(%q) lists excluded %q", p, child)
				}
				if _, err := c.Lstat(child); err != nil {
					t.Fatalf("ReadDir(%q) lists %q, which Lstat does not find: %v", p, child, err)
				}
			}
		}
	})
}
