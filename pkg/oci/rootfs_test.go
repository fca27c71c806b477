package oci

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ocibuilder/builder/pkg/layer"
)

func TestWriteRootfs(t *testing.T) {
	tests := []struct {
		name        string
		compression layer.Compression
		existing    bool
	}{
		{name: "gzip into new dir", compression: layer.Gzip},
		{name: "zstd replaces existing dir", compression: layer.Zstd, existing: true},
		{name: "uncompressed", compression: layer.Uncompressed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := testImage(t, newStore(t), tc.compression, baseLayer(), upperLayer())
			parent := t.TempDir()
			dir := filepath.Join(parent, "rootfs")
			if tc.existing {
				if err := os.MkdirAll(filepath.Join(dir, "stale"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteRootfs(context.Background(), img, dir, WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			want := []string{"bin/", "bin/app", "etc/", "etc/keep", "etc/new"}
			if got := listTree(t, dir); !reflect.DeepEqual(got, want) {
				t.Fatalf("rootfs = %v, want %v", got, want)
			}
			data, err := os.ReadFile(filepath.Join(dir, "etc/new"))
			if err != nil || string(data) != "new\n" {
				t.Fatalf("etc/new = %q, %v", data, err)
			}
			fi, err := os.Stat(filepath.Join(dir, "bin/app"))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o755 {
				t.Errorf("bin/app mode = %v", fi.Mode().Perm())
			}
			assertNoSiblings(t, parent, "rootfs")
		})
	}
}

func TestWriteRootfsTamperedLayerKeepsDestination(t *testing.T) {
	img := testImage(t, newStore(t), layer.Uncompressed, baseLayer(), upperLayer())
	parent := t.TempDir()
	dir := filepath.Join(parent, "rootfs")
	if err := os.MkdirAll(filepath.Join(dir, "previous"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Change a file's content in the tar: it still extracts cleanly, so
	// only the digest check can catch it.
	d := img.Layers[1].Digest
	data, err := img.Store.ReadAll(d, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte("new\n"))
	if i < 0 {
		t.Fatal("file content not found in the layer tar")
	}
	copy(data[i:], "NEW\n")
	rewrite(t, img.Store.Path(d), data)

	err = WriteRootfs(context.Background(), img, dir, WriteOptions{})
	var mismatch *DigestMismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("err = %v, want DigestMismatchError", err)
	}
	if got := listTree(t, dir); !reflect.DeepEqual(got, []string{"previous/"}) {
		t.Fatalf("destination changed: %v", got)
	}
	assertNoSiblings(t, parent, "rootfs")
}

// TestWriteRootfsLayerLimit: a layer larger than MaxLayerSize fails the
// export, names the limit, and leaves no directory.
func TestWriteRootfsLayerLimit(t *testing.T) {
	img := testImage(t, newStore(t), layer.Gzip, baseLayer(), upperLayer())
	dir := filepath.Join(t.TempDir(), "rootfs")
	err := WriteRootfs(context.Background(), img, dir, WriteOptions{MaxLayerSize: 100})
	var se *layer.SizeLimitError
	if !errors.As(err, &se) {
		t.Fatalf("WriteRootfs with a 100-byte limit = %v, want a SizeLimitError", err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("a failed export left its directory")
	}
	if err := WriteRootfs(context.Background(), img, dir, WriteOptions{MaxLayerSize: 1 << 20}); err != nil {
		t.Fatalf("the same export under a 1 MiB limit: %v", err)
	}
}
