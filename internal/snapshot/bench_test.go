package snapshot

import (
	"fmt"
	"github.com/ocibuilder/builder/pkg/layer"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkStackLstat looks up files four levels deep in a stack of five
// layers, as the COPY step does for every entry it writes.
func BenchmarkStackLstat(b *testing.B) {
	base := b.TempDir()
	var dirs []string
	for l := 0; l < 5; l++ {
		d := filepath.Join(base, fmt.Sprintf("l%d", l))
		sub := filepath.Join(d, "usr/share/doc", fmt.Sprintf("p%d", l))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := 0; f < 20; f++ {
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%d", f)), nil, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		dirs = append(dirs, d)
	}
	s := NewStack(dirs...)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := fmt.Sprintf("usr/share/doc/p%d/f%d", i%5, i%20)
		if _, err := s.Lstat(p); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkChanges diffs a directory of 2000 files against a stack of
// three layers, the copy snapshotter's walk.
func BenchmarkChanges(b *testing.B) {
	base := b.TempDir()
	var dirs []string
	for l := 0; l < 3; l++ {
		d := filepath.Join(base, fmt.Sprintf("l%d", l))
		for k := 0; k < 10; k++ {
			sub := filepath.Join(d, "usr/lib", fmt.Sprintf("l%dd%d", l, k))
			if err := os.MkdirAll(sub, 0o755); err != nil {
				b.Fatal(err)
			}
			for f := 0; f < 50; f++ {
				if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%d", f)), []byte("x"), 0o644); err != nil {
					b.Fatal(err)
				}
			}
		}
		dirs = append(dirs, d)
	}
	s := NewStack(dirs...)
	root := filepath.Join(base, "root")
	if err := Materialize(b.Context(), s, root); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "usr/lib/new"), nil, 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := DirChanges(root, s)(b.Context(), func(_ layer.ChangeKind, _ string, _ fs.FileInfo) error {
			n++
			return nil
		})
		if err != nil || n != 2 {
			b.Fatal(n, err)
		}
	}
}
