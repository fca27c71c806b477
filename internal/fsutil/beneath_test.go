package fsutil

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestOpenBeneath reads files below the directory and refuses every way
// out of it and every symlink.
func TestOpenBeneath(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("host"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range []string{"a/b"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "a/b/f"), []byte("inside"), 0o644); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{"link": "a/b/f", "out": secret, "dirlink": "a", "up": ".."}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	f, err := OpenBeneath(dir, "a/b/f")
	if err != nil {
		t.Fatalf("opening a/b/f: %v", err)
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil || string(data) != "inside" {
		t.Fatalf("a/b/f read %q, %v; want %q", data, err, "inside")
	}
	for _, p := range []string{"link", "out", "dirlink/b/f", "up/secret", "../" + filepath.Base(outside) + "/secret", "/etc/passwd", "missing"} {
		if f, err := OpenBeneath(dir, p); err == nil {
			f.Close()
			t.Errorf("OpenBeneath(%q) succeeded; want an error", p)
		}
	}
}
