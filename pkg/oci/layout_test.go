package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/layer"
)

func readIndex(t *testing.T, dir string) ocispec.Index {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatal(err)
	}
	return idx
}

func TestWriteLayoutIndex(t *testing.T) {
	tests := []struct {
		name  string
		names []string
		want  []map[string]string // annotations per index entry
	}{
		{name: "unnamed", want: []map[string]string{nil}},
		{name: "short name", names: []string{"app"}, want: []map[string]string{
			{AnnotationImageName: "docker.io/library/app:latest", AnnotationRefName: "latest"},
		}},
		{name: "several names", names: []string{"app:v1", "ghcr.io/org/app:2.0", "localhost:5000/x/y"}, want: []map[string]string{
			{AnnotationImageName: "docker.io/library/app:v1", AnnotationRefName: "v1"},
			{AnnotationImageName: "ghcr.io/org/app:2.0", AnnotationRefName: "2.0"},
			{AnnotationImageName: "localhost:5000/x/y:latest", AnnotationRefName: "latest"},
		}},
		{name: "duplicates collapse", names: []string{"app", "docker.io/library/app:latest"}, want: []map[string]string{
			{AnnotationImageName: "docker.io/library/app:latest", AnnotationRefName: "latest"},
		}},
	}
	s := newStore(t)
	img := testImage(t, s, layer.Gzip, baseLayer(), upperLayer())
	manifest, _, err := img.Manifest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "layout")
			if err := WriteLayout(context.Background(), img, dir, WriteOptions{RefNames: tc.names}); err != nil {
				t.Fatal(err)
			}
			idx := readIndex(t, dir)
			if idx.SchemaVersion != 2 || idx.MediaType != ocispec.MediaTypeImageIndex {
				t.Fatalf("index header = %d %q", idx.SchemaVersion, idx.MediaType)
			}
			if len(idx.Manifests) != len(tc.want) {
				t.Fatalf("index has %d entries, want %d", len(idx.Manifests), len(tc.want))
			}
			for i, e := range idx.Manifests {
				if e.Digest != manifest.Digest || e.Size != manifest.Size || e.MediaType != ocispec.MediaTypeImageManifest {
					t.Errorf("entry %d = %s/%d/%s, want the manifest", i, e.Digest, e.Size, e.MediaType)
				}
				if e.Platform == nil || e.Platform.Architecture != "amd64" {
					t.Errorf("entry %d platform = %+v", i, e.Platform)
				}
				if !reflect.DeepEqual(e.Annotations, tc.want[i]) {
					t.Errorf("entry %d annotations = %v, want %v", i, e.Annotations, tc.want[i])
				}
			}
		})
	}
}

func TestWriteLayoutRejectsBadName(t *testing.T) {
	s := newStore(t)
	img := testImage(t, s, layer.Gzip, baseLayer())
	parent := t.TempDir()
	dir := filepath.Join(parent, "layout")
	if err := WriteLayout(context.Background(), img, dir, WriteOptions{RefNames: []string{"Bad:Name!"}}); err == nil {
		t.Fatal("invalid name accepted")
	}
	assertNoSiblings(t, parent)
}

func TestWriteLayoutFiles(t *testing.T) {
	s := newStore(t)
	img := testImage(t, s, layer.Gzip, baseLayer(), upperLayer())
	dir := filepath.Join(t.TempDir(), "layout")
	if err := WriteLayout(context.Background(), img, dir, WriteOptions{RefNames: []string{"app:v1"}}); err != nil {
		t.Fatal(err)
	}
	manifest, _, err := img.Manifest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"blobs/", "blobs/sha256/"}
	for _, d := range sortedDigests(manifest.Digest, digestOf(cfg), img.Layers[0].Digest, img.Layers[1].Digest) {
		want = append(want, "blobs/sha256/"+d)
	}
	want = append(want, "index.json", "oci-layout")
	if got := listTree(t, dir); !reflect.DeepEqual(got, want) {
		t.Fatalf("layout files:\n got %v\nwant %v", got, want)
	}
	layoutFile, err := os.ReadFile(filepath.Join(dir, "oci-layout"))
	if err != nil {
		t.Fatal(err)
	}
	if string(layoutFile) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %s", layoutFile)
	}
	// The store and the layout share a filesystem here: blobs must still
	// be files of their own, never hard links into the store.
	for _, l := range img.Layers {
		a, b := inode(t, s.Path(l.Digest)), inode(t, filepath.Join(dir, "blobs/sha256", l.Digest.Encoded()))
		if a == b {
			t.Errorf("layer %s was hard-linked from the store", l.Digest)
		}
	}
}

func TestExportBlob(t *testing.T) {
	s := newStore(t)
	desc, err := s.Put(context.Background(), "text/plain", []byte("copied"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	dst := filepath.Join(t.TempDir(), "blob")
	if _, err := exportBlob(context.Background(), s, desc, dst, buf); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dst)
	if err != nil || string(got) != "copied" {
		t.Fatalf("copy = %q, %v", got, err)
	}
	if inode(t, dst) == inode(t, s.Path(desc.Digest)) {
		t.Fatal("exportBlob linked instead of copying")
	}
	// A damaged store blob must not be exported silently, whether its
	// size changed or only its content.
	for _, damaged := range []string{"COPIED", "copied and more"} {
		rewrite(t, s.Path(desc.Digest), []byte(damaged))
		var mismatch *DigestMismatchError
		if _, err := exportBlob(context.Background(), s, desc, filepath.Join(t.TempDir(), "blob"), buf); !errors.As(err, &mismatch) {
			t.Fatalf("copying a damaged blob (%q): err = %v, want DigestMismatchError", damaged, err)
		}
	}
}

func TestWriteLayoutAtomic(t *testing.T) {
	tests := []struct {
		name     string
		existing bool
	}{
		{name: "no previous layout"},
		{name: "previous layout kept", existing: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			img := testImage(t, s, layer.Gzip, baseLayer(), upperLayer())
			parent := t.TempDir()
			dir := filepath.Join(parent, "layout")
			if tc.existing {
				if err := WriteLayout(context.Background(), img, dir, WriteOptions{RefNames: []string{"old"}}); err != nil {
					t.Fatal(err)
				}
			}
			before := snapshotTree(t, dir)
			// Losing the upper layer's blob makes the export fail midway,
			// after some blobs were already placed.
			if err := os.Remove(s.Path(img.Layers[1].Digest)); err != nil {
				t.Fatal(err)
			}
			err := WriteLayout(context.Background(), img, dir, WriteOptions{RefNames: []string{"new"}})
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			if got := snapshotTree(t, dir); !reflect.DeepEqual(got, before) {
				t.Fatalf("failed write changed the destination:\n got %v\nwant %v", got, before)
			}
			if tc.existing {
				assertNoSiblings(t, parent, "layout")
			} else {
				assertNoSiblings(t, parent)
			}

			tarPath := filepath.Join(parent, "image.tar")
			if err := WriteLayoutTarFile(context.Background(), img, tarPath, WriteOptions{}); !errors.Is(err, ErrNotFound) {
				t.Fatalf("tar err = %v, want ErrNotFound", err)
			}
			if _, err := os.Lstat(tarPath); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("failed tar write left %s (%v)", tarPath, err)
			}
			if tc.existing {
				assertNoSiblings(t, parent, "layout")
			} else {
				assertNoSiblings(t, parent)
			}
		})
	}
}

func TestWriteLayoutTar(t *testing.T) {
	s := newStore(t)
	img := testImage(t, s, layer.Gzip, baseLayer(), upperLayer())
	o := WriteOptions{RefNames: []string{"app:v1"}}
	var a, b bytes.Buffer
	if err := WriteLayoutTar(context.Background(), img, &a, o); err != nil {
		t.Fatal(err)
	}
	if err := WriteLayoutTar(context.Background(), img, &b, o); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("layout tar is not reproducible")
	}

	dir := filepath.Join(t.TempDir(), "layout")
	if err := WriteLayout(context.Background(), img, dir, o); err != nil {
		t.Fatal(err)
	}
	wantFiles := snapshotTree(t, dir)
	tr := tar.NewReader(&a)
	var names []string
	gotFiles := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s owner = %d:%d %q:%q", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if !h.ModTime.Equal(testCreated()) {
			t.Errorf("%s mtime = %v, want %v", h.Name, h.ModTime, testCreated())
		}
		wantMode := int64(0o644)
		if h.Typeflag == tar.TypeDir {
			wantMode = 0o755
			gotFiles[h.Name] = "dir"
		} else {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			gotFiles[h.Name] = string(data)
		}
		if h.Mode != wantMode {
			t.Errorf("%s mode = %o, want %o", h.Name, h.Mode, wantMode)
		}
	}
	if names[0] != "oci-layout" || names[1] != "index.json" || names[2] != "blobs/" || names[3] != "blobs/sha256/" {
		t.Errorf("entry order = %v", names)
	}
	if !reflect.DeepEqual(gotFiles, wantFiles) {
		t.Errorf("tar content differs from the layout directory")
	}
}

func TestWriteLayoutTarEpochWithoutCreated(t *testing.T) {
	s := newStore(t)
	img := testImage(t, s, layer.Gzip, baseLayer())
	img.Config.Created = nil
	var buf bytes.Buffer
	if err := WriteLayoutTar(context.Background(), img, &buf, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	h, err := tar.NewReader(&buf).Next()
	if err != nil {
		t.Fatal(err)
	}
	if h.ModTime.Unix() != 0 {
		t.Fatalf("mtime = %v, want the epoch", h.ModTime)
	}
}

func TestLayoutRoundTrip(t *testing.T) {
	tests := []struct {
		name        string
		compression layer.Compression
		ref         string
		viaTar      bool
	}{
		{name: "gzip by tag", compression: layer.Gzip, ref: "v1"},
		{name: "zstd by full name", compression: layer.Zstd, ref: "docker.io/library/app:v1"},
		{name: "by short name", compression: layer.Gzip, ref: "app:v1"},
		{name: "by other tag", compression: layer.Uncompressed, ref: "latest"},
		{name: "by digest", compression: layer.Gzip, ref: "digest"},
		{name: "tar by tag", compression: layer.Gzip, ref: "v1", viaTar: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			src := newStore(t)
			img := testImage(t, src, tc.compression, baseLayer(), upperLayer())
			o := WriteOptions{RefNames: []string{"app:v1", "ghcr.io/org/app"}}
			manifest, _, err := img.Manifest(ctx)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "layout")
			if tc.viaTar {
				var buf bytes.Buffer
				if err := WriteLayoutTar(ctx, img, &buf, o); err != nil {
					t.Fatal(err)
				}
				untar(t, &buf, dir)
			} else if err := WriteLayout(ctx, img, dir, o); err != nil {
				t.Fatal(err)
			}
			ref := tc.ref
			if ref == "digest" {
				ref = manifest.Digest.String()
			}
			dst := newStore(t)
			got, err := ReadLayout(ctx, dir, ref, ocispec.Platform{}, dst)
			if err != nil {
				t.Fatal(err)
			}
			if got.Store != dst {
				t.Fatal("imported image does not use the destination store")
			}
			if !reflect.DeepEqual(got.Config, img.Config) {
				t.Errorf("config changed in the round trip:\n got %+v\nwant %+v", got.Config, img.Config)
			}
			if !reflect.DeepEqual(got.Layers, img.Layers) {
				t.Errorf("layers changed:\n got %+v\nwant %+v", got.Layers, img.Layers)
			}
			for _, l := range got.Layers {
				if !dst.Has(l.Digest) {
					t.Errorf("layer %s not imported", l.Digest)
				} else if inode(t, dst.Path(l.Digest)) == inode(t, filepath.Join(dir, "blobs/sha256", l.Digest.Encoded())) {
					t.Errorf("layer %s was hard-linked from the input", l.Digest)
				}
			}
			if err := Validate(ctx, got); err != nil {
				t.Fatal(err)
			}
			again, _, err := got.Manifest(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if again.Digest != manifest.Digest {
				t.Errorf("manifest digest after round trip = %s, want %s", again.Digest, manifest.Digest)
			}
		})
	}
}

func untar(t *testing.T, r io.Reader, dir string) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// snapshotTree maps every path under dir to its content ("dir" for
// directories); a missing dir gives nil.
func snapshotTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	out := map[string]string{}
	for _, rel := range listTree(t, dir) {
		if rel[len(rel)-1] == '/' {
			out[rel] = "dir"
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		out[rel] = string(data)
	}
	return out
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}
