package source

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReadIgnoreFileLinks: .dockerignore is read as BuildKit reads it from
// the context it was sent. A regular file applies; a symlink is followed
// inside the context only (absolute and ".." targets taken from the
// context's root, as in a chroot), so a host file outside the context is
// never read; anything but a regular file means no patterns.
func TestReadIgnoreFileLinks(t *testing.T) {
	// outside holds patterns that would exclude secret.txt: they must
	// never apply.
	outside := filepath.Join(t.TempDir(), "host-ignore")
	if err := os.WriteFile(outside, []byte("secret.txt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  []string
	}{
		{"regular file", func(t *testing.T, dir string) {
			mustWrite(t, filepath.Join(dir, ".dockerignore"), "secret.txt\n")
		}, []string{"secret.txt"}},
		{"absolute symlink outside the context", func(t *testing.T, dir string) {
			mustSymlink(t, outside, filepath.Join(dir, ".dockerignore"))
		}, nil},
		{"relative symlink leading out of the context", func(t *testing.T, dir string) {
			rel, err := filepath.Rel(dir, outside)
			if err != nil {
				t.Fatal(err)
			}
			mustSymlink(t, rel, filepath.Join(dir, ".dockerignore"))
		}, nil},
		{"symlink to a file in the context", func(t *testing.T, dir string) {
			mustWrite(t, filepath.Join(dir, "conf/ignore"), "secret.txt\n")
			mustSymlink(t, "conf/ignore", filepath.Join(dir, ".dockerignore"))
		}, []string{"secret.txt"}},
		{"symlink through a linked directory in the context", func(t *testing.T, dir string) {
			mustWrite(t, filepath.Join(dir, "conf/ignore"), "secret.txt\n")
			mustSymlink(t, "conf", filepath.Join(dir, "cfg"))
			mustSymlink(t, "cfg/ignore", filepath.Join(dir, ".dockerignore"))
		}, []string{"secret.txt"}},
		{"absolute symlink taken from the context's root", func(t *testing.T, dir string) {
			mustWrite(t, filepath.Join(dir, "conf/ignore"), "secret.txt\n")
			mustSymlink(t, "/conf/ignore", filepath.Join(dir, ".dockerignore"))
		}, []string{"secret.txt"}},
		{"dot-dot symlink stopped at the context's root", func(t *testing.T, dir string) {
			mustWrite(t, filepath.Join(dir, "conf/ignore"), "secret.txt\n")
			mustSymlink(t, "../../../../conf/ignore", filepath.Join(dir, ".dockerignore"))
		}, []string{"secret.txt"}},
		{"dangling symlink", func(t *testing.T, dir string) {
			mustSymlink(t, "missing", filepath.Join(dir, ".dockerignore"))
		}, nil},
		{"symlink loop", func(t *testing.T, dir string) {
			mustSymlink(t, ".dockerignore", filepath.Join(dir, ".dockerignore"))
		}, nil},
		{"directory", func(t *testing.T, dir string) {
			mustWrite(t, filepath.Join(dir, ".dockerignore/x"), "secret.txt\n")
		}, nil},
		{"fifo", func(t *testing.T, dir string) {
			if err := unix.Mkfifo(filepath.Join(dir, ".dockerignore"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mustWrite(t, filepath.Join(dir, "secret.txt"), "s")
			tc.setup(t, dir)
			pats, err := ReadIgnoreFile(dir, filepath.Join(dir, "Dockerfile"))
			if err != nil {
				t.Fatalf("ReadIgnoreFile: %v", err)
			}
			if !slices.Equal(pats, tc.want) {
				t.Fatalf("patterns %q, want %q", pats, tc.want)
			}
			c, err := OpenContext(dir, pats)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := c.Excluded("secret.txt"), tc.want != nil; got != want {
				t.Errorf("secret.txt excluded = %v, want %v", got, want)
			}
		})
	}
}

// TestReadIgnoreFileDockerfileLinks: a Dockerfile-specific ignore file is
// confined the same way, to the Dockerfile's directory.
func TestReadIgnoreFileDockerfileLinks(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "host-ignore")
	mustWrite(t, outside, "secret.txt\n")
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, ".dockerignore"), "ctx-rule\n")
	df := filepath.Join(dir, "build", "app.Dockerfile")
	mustWrite(t, df, "FROM scratch\n")
	mustSymlink(t, outside, df+".dockerignore")
	pats, err := ReadIgnoreFile(dir, df)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ctx-rule"}; !slices.Equal(pats, want) {
		t.Errorf("patterns %q, want %q (the context's file, not the host file)", pats, want)
	}

	mustWrite(t, filepath.Join(dir, "build", "rules"), "own-rule\n")
	if err := os.Remove(df + ".dockerignore"); err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, "rules", df+".dockerignore")
	if pats, err = ReadIgnoreFile(dir, df); err != nil {
		t.Fatal(err)
	}
	if want := []string{"own-rule"}; !slices.Equal(pats, want) {
		t.Errorf("patterns %q, want %q", pats, want)
	}
}

func mustWrite(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustSymlink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// TestGlobThroughFiles: a wildcard component that matches files as well
// as directories selects only what exists below the directories.
func TestGlobThroughFiles(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "d/a/x.txt"), "x")
	mustWrite(t, filepath.Join(dir, "d/y.txt"), "y")
	c, err := OpenContext(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Glob(c, "d/*/x.txt")
	if err != nil {
		t.Fatalf("Glob: %v", err)
	}
	if want := []string{"d/a/x.txt"}; !slices.Equal(got, want) {
		t.Errorf("Glob = %q, want %q", got, want)
	}
}
