package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

func TestCompareTrees(t *testing.T) {
	file := func(mode fs.FileMode, digest string) Entry {
		return Entry{Type: "file", Mode: mode, Digest: digest}
	}
	dir := Entry{Type: "dir", Mode: 0o755}
	builder := Tree{
		"/":             dir,
		"/same":         file(0o644, "sha256:aa"),
		"/mode":         file(0o755, "sha256:aa"),
		"/owner":        {Type: "file", Mode: 0o644, UID: 1000, GID: 1000, Digest: "sha256:aa"},
		"/content":      file(0o644, "sha256:aa"),
		"/link":         {Type: "symlink", Mode: 0o777, Link: "/a"},
		"/kind":         dir,
		"/only-b":       dir,
		"/only-b/child": file(0o644, "sha256:cc"),
		"/caps":         {Type: "file", Mode: 0o755, Digest: "sha256:aa", Xattrs: map[string]string{"security.capability": "sha256:01"}},
	}
	buildah := Tree{
		"/":        dir,
		"/same":    file(0o644, "sha256:aa"),
		"/mode":    file(0o755|fs.ModeSetuid, "sha256:aa"),
		"/owner":   file(0o644, "sha256:aa"),
		"/content": file(0o644, "sha256:bb"),
		"/link":    {Type: "symlink", Mode: 0o777, Link: "/b"},
		"/kind":    file(0o755, "sha256:aa"),
		"/only-a":  file(0o600, "sha256:dd"),
		"/caps":    file(0o755, "sha256:aa"),
		// buildah's RUN mountpoints: noise when empty.
		"/etc":             dir,
		"/etc/hosts":       file(0o755, emptyDigest),
		"/etc/resolv.conf": file(0o644, "sha256:ee"),
	}
	builder["/etc"] = dir
	got := CompareTrees(builder, buildah)
	want := []Difference{
		{Where: "/caps", What: "xattrs", Builder: "security.capability=sha256:01"},
		{Where: "/content", What: "content", Builder: "sha256:aa", Buildah: "sha256:bb"},
		{Where: "/etc/resolv.conf", What: "only in buildah", Buildah: "file 0644 0:0 sha256:ee"},
		{Where: "/kind", What: "type", Builder: "dir 0755 0:0", Buildah: "file 0755 0:0 sha256:aa"},
		{Where: "/link", What: "link target", Builder: "/a", Buildah: "/b"},
		{Where: "/mode", What: "mode", Builder: "0755", Buildah: "4755"},
		{Where: "/only-a", What: "only in buildah", Buildah: "file 0600 0:0 sha256:dd"},
		// The child of a directory only one side has is not listed.
		{Where: "/only-b", What: "only in builder", Builder: "dir 0755 0:0"},
		{Where: "/owner", What: "owner", Builder: "1000:1000", Buildah: "0:0"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("differences:\n%s\nwant:\n%s", lines(got), lines(want))
	}
	if d := CompareTrees(builder, builder); len(d) != 0 {
		t.Errorf("a tree differs from itself:\n%s", lines(d))
	}
}

func TestCompareConfigs(t *testing.T) {
	var a, b dockerspec.DockerOCIImage
	a.OS, b.OS = "linux", "linux"
	a.Config.Env = []string{"PATH=/bin", "A=1"}
	b.Config.Env = []string{"PATH=/bin"}
	a.Config.Cmd = []string{"sh"}
	b.Config.Cmd = []string{"sh"}
	a.Config.WorkingDir = "/" // the same as none
	a.Config.Volumes = map[string]struct{}{}
	a.Config.Labels = map[string]string{"x": "1"}
	b.Config.Labels = map[string]string{"x": "1", "io.buildah.version": "1.28.2"}
	a.Config.Healthcheck = &dockerspec.HealthcheckConfig{Test: []string{"CMD", "true"}}
	b.Config.User = "app"
	// Noise: history and creation times.
	a.History = []ocispec.History{{CreatedBy: "RUN x"}}
	got := CompareConfigs(a, b)
	want := []Difference{
		{Where: "config", What: "User", Buildah: `"app"`},
		{Where: "config", What: "Env", Builder: `["PATH=/bin","A=1"]`, Buildah: `["PATH=/bin"]`},
		{Where: "config", What: "Healthcheck", Builder: `{"Test":["CMD","true"]}`},
	}
	if !slices.Equal(got, want) {
		t.Errorf("differences:\n%s\nwant:\n%s", lines(got), lines(want))
	}
}

// TestReadTree reads a real directory: types, modes, owners, links and
// content digests.
func TestReadTree(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("hello\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "f"), 0o640|fs.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "d"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../f", filepath.Join(root, "d", "l")); err != nil {
		t.Fatal(err)
	}
	tree, err := ReadTree(root)
	if err != nil {
		t.Fatal(err)
	}
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	want := map[string]Entry{
		"/f":   {Type: "file", Mode: 0o640 | fs.ModeSetgid, UID: uid, GID: gid, Digest: "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"},
		"/d":   {Type: "dir", Mode: 0o700, UID: uid, GID: gid},
		"/d/l": {Type: "symlink", Mode: 0o777, UID: uid, GID: gid, Link: "../f"},
	}
	for p, w := range want {
		got, ok := tree[p]
		if !ok {
			t.Errorf("%s missing from the tree", p)
			continue
		}
		got.Xattrs = nil // whatever the test's file system adds
		if got.Type != w.Type || got.Mode != w.Mode || got.UID != w.UID || got.GID != w.GID || got.Link != w.Link || got.Digest != w.Digest {
			t.Errorf("%s = %+v, want %+v", p, got, w)
		}
	}
	if _, ok := tree["/"]; !ok || len(tree) != 4 {
		t.Errorf("tree has %d entries, want the root and 3", len(tree))
	}
}

// TestReadTreeXattrs reads extended attributes by name, values by digest.
func TestReadTreeXattrs(t *testing.T) {
	root := t.TempDir()
	f := filepath.Join(root, "f")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lsetxattr(f, "user.compare", []byte("v"), 0); err != nil {
		t.Fatalf("setting an xattr (the test needs a file system with user xattrs): %v", err)
	}
	tree, err := ReadTree(root)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("v"))
	want := "sha256:" + hex.EncodeToString(sum[:8])
	if got := tree["/f"].Xattrs["user.compare"]; got != want {
		t.Errorf("xattr user.compare = %q, want %q (all: %v)", got, want, tree["/f"].Xattrs)
	}
}

func lines(ds []Difference) string {
	var s string
	for _, d := range ds {
		s += "  " + d.String() + "\n"
	}
	return s
}
