package oci

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/layer"
)

// FuzzReadLayout feeds hostile index.json and manifest documents to
// ReadLayout next to the genuine blobs of a small image. Whatever the
// input, it must not panic, must leave no ingest files behind, must name
// the layout in its errors, and may only return images whose layers it
// actually stored.
func FuzzReadLayout(f *testing.F) {
	s := newStore(f)
	img := testImage(f, s, layer.Gzip, baseLayer(), upperLayer())
	fixture := filepath.Join(f.TempDir(), "fixture")
	if err := WriteLayout(context.Background(), img, fixture, WriteOptions{RefNames: []string{"app:v1"}}); err != nil {
		f.Fatal(err)
	}
	index, err := os.ReadFile(filepath.Join(fixture, "index.json"))
	if err != nil {
		f.Fatal(err)
	}
	m, manifest, err := img.Manifest(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	blobs, err := os.ReadDir(filepath.Join(fixture, "blobs/sha256"))
	if err != nil {
		f.Fatal(err)
	}

	f.Add(index, manifest, "v1")
	f.Add(index, manifest, "")
	f.Add(index, manifest, m.Digest.String())
	f.Add([]byte(`{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../etc/passwd","size":10}]}`), manifest, "")
	f.Add([]byte(`{"manifests":[{"digest":"`+digest.FromBytes(manifest).String()+`","size":-1}]}`), manifest, "")
	nested, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, Manifests: []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(manifest), Size: int64(len(manifest))},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(nested, nested, "")
	f.Add([]byte(`{"manifests":null}`), []byte(`{}`), "x")

	// One layout and one store per worker, reset between inputs: creating
	// them afresh for every input costs more than the read being tested.
	dir := filepath.Join(f.TempDir(), "layout")
	blobDir := filepath.Join(dir, "blobs/sha256")
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		f.Fatal(err)
	}
	fixtureBlobs := map[string]bool{}
	for _, b := range blobs {
		fixtureBlobs[b.Name()] = true
		if err := os.Link(filepath.Join(fixture, "blobs/sha256", b.Name()), filepath.Join(blobDir, b.Name())); err != nil {
			f.Fatal(err)
		}
	}
	mustWrite(f, filepath.Join(dir, "oci-layout"), `{"imageLayoutVersion":"1.0.0"}`)
	dst := newStore(f)

	f.Fuzz(func(t *testing.T, indexJSON, manifestJSON []byte, ref string) {
		extra := digest.FromBytes(manifestJSON).Encoded()
		if !fixtureBlobs[extra] {
			mustWrite(t, filepath.Join(blobDir, extra), string(manifestJSON))
			defer mustRemove(t, filepath.Join(blobDir, extra))
		}
		mustWrite(t, filepath.Join(dir, "index.json"), string(indexJSON))
		defer emptyDir(t, filepath.Join(dst.Root(), "blobs/sha256"))

		got, err := ReadLayout(context.Background(), dir, ref, ocispec.Platform{}, dst)
		if left := tmpEntries(t, dst); len(left) != 0 {
			t.Fatalf("ingest files left behind: %v", left)
		}
		if err != nil {
			if !strings.Contains(err.Error(), dir) {
				t.Fatalf("error does not name the layout: %v", err)
			}
			return
		}
		if len(got.Layers) != len(got.Config.RootFS.DiffIDs) {
			t.Fatalf("%d layers, %d diff IDs", len(got.Layers), len(got.Config.RootFS.DiffIDs))
		}
		for _, l := range got.Layers {
			if size, err := dst.Size(l.Digest); err != nil || size != l.Size {
				t.Fatalf("layer %s stored with size %d (%v), descriptor says %d", l.Digest, size, err, l.Size)
			}
		}
	})
}

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		mustRemove(t, filepath.Join(dir, e.Name()))
	}
}

// FuzzParseImageName checks that normalization is stable: a parsed name
// printed and parsed again gives the same name.
func FuzzParseImageName(f *testing.F) {
	for _, s := range []string{
		"alpine", "alpine:3.20", "library/alpine", "docker.io/library/alpine:latest",
		"ghcr.io/org/app:v1", "localhost:5000/app", "localhost/app", "[::1]:5000/app:tag",
		"app@sha256:" + strings.Repeat("a", 64), "app:v1@sha256:" + strings.Repeat("b", 64),
		"UPPER/case", "a..b", "a/b/c/d:e", "index.docker.io/x", "", ":", "@", "a:", "a@",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseImageName(s)
		if err != nil {
			return
		}
		again, err := ParseImageName(n.String())
		if err != nil {
			t.Fatalf("normalized name %q of %q does not parse: %v", n.String(), s, err)
		}
		if again != n {
			t.Fatalf("normalizing is not stable: %q -> %+v -> %+v", s, n, again)
		}
		if n.Domain == "" || n.Path == "" || n.RefName() == "" || strings.ContainsAny(n.String(), " \t\r\n") {
			t.Fatalf("bad normalized form %q of %q", n.String(), s)
		}
	})
}
