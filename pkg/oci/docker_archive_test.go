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
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/layer"
)

// tarEntry is one entry of a tar read back.
type tarEntry struct {
	hdr  *tar.Header
	data []byte
}

func readTar(t *testing.T, data []byte) []tarEntry {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	var out []tarEntry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{hdr: h, data: b})
	}
}

func entryMap(entries []tarEntry) map[string][]byte {
	m := map[string][]byte{}
	for _, e := range entries {
		m[e.hdr.Name] = e.data
	}
	return m
}

func writeArchive(t *testing.T, img *Image, o WriteOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteDockerArchive(context.Background(), img, &buf, o); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDockerArchiveStructure(t *testing.T) {
	for _, c := range []layer.Compression{layer.Gzip, layer.Zstd, layer.Uncompressed} {
		t.Run(c.String(), func(t *testing.T) {
			img := testImage(t, newStore(t), c, baseLayer(), upperLayer())
			o := WriteOptions{RefNames: []string{"app:1", "docker.io/library/app:1", "ghcr.io/org/app:v2", "org/tool", "localhost:5000/x@sha256:" + digestOf(nil).Encoded()}}
			data := writeArchive(t, img, o)
			entries := readTar(t, data)
			files := entryMap(entries)
			cfgJSON, err := img.ConfigJSON()
			if err != nil {
				t.Fatal(err)
			}
			cfgDigest := digestOf(cfgJSON)
			diffIDs := img.Config.RootFS.DiffIDs

			var items []dockerManifestItem
			if err := json.Unmarshal(files["manifest.json"], &items); err != nil {
				t.Fatalf("manifest.json: %v", err)
			}
			if len(items) != 1 {
				t.Fatalf("manifest.json has %d items", len(items))
			}
			it := items[0]
			if it.Config != "blobs/sha256/"+cfgDigest.Encoded() {
				t.Errorf("Config %q", it.Config)
			}
			wantTags := []string{"app:1", "ghcr.io/org/app:v2", "org/tool:latest"}
			if !slices.Equal(it.RepoTags, wantTags) {
				t.Errorf("RepoTags %q, want %q", it.RepoTags, wantTags)
			}
			if len(it.Layers) != len(diffIDs) {
				t.Fatalf("Layers %q", it.Layers)
			}
			for i, p := range it.Layers {
				if p != "blobs/sha256/"+diffIDs[i].Encoded() {
					t.Errorf("layer %d path %q", i, p)
				}
				body, ok := files[p]
				if !ok {
					t.Fatalf("layer %s missing", p)
				}
				if digestOf(body) != diffIDs[i] {
					t.Errorf("layer %d is not the uncompressed tar of its diff ID", i)
				}
				if _, err := tar.NewReader(bytes.NewReader(body)).Next(); err != nil {
					t.Errorf("layer %d is not a tar: %v", i, err)
				}
			}
			if !bytes.Equal(files[it.Config], cfgJSON) {
				t.Error("config blob differs from the image config")
			}

			var repos map[string]map[string]string
			if err := json.Unmarshal(files["repositories"], &repos); err != nil {
				t.Fatalf("repositories: %v", err)
			}
			top := diffIDs[len(diffIDs)-1].Encoded()
			wantRepos := map[string]map[string]string{"app": {"1": top}, "ghcr.io/org/app": {"v2": top}, "org/tool": {"latest": top}}
			if got, _ := json.Marshal(repos); string(got) != string(mustJSON(t, wantRepos)) {
				t.Errorf("repositories %s", got)
			}

			// The same tar is an OCI layout whose manifest lists the
			// uncompressed layers present in it.
			var layout ocispec.ImageLayout
			if err := json.Unmarshal(files["oci-layout"], &layout); err != nil || layout.Version != ocispec.ImageLayoutVersion {
				t.Errorf("oci-layout %s", files["oci-layout"])
			}
			var index ocispec.Index
			if err := json.Unmarshal(files["index.json"], &index); err != nil {
				t.Fatal(err)
			}
			if len(index.Manifests) != 3 {
				t.Fatalf("index lists %d manifests, want one per tag", len(index.Manifests))
			}
			names := []string{}
			for _, e := range index.Manifests {
				names = append(names, e.Annotations[AnnotationImageName]+" "+e.Annotations[AnnotationRefName])
				if e.Platform == nil || e.Platform.Architecture != "amd64" {
					t.Errorf("index entry platform %v", e.Platform)
				}
			}
			wantNames := []string{"docker.io/library/app:1 1", "ghcr.io/org/app:v2 v2", "docker.io/org/tool:latest latest"}
			if !slices.Equal(names, wantNames) {
				t.Errorf("index names %q, want %q", names, wantNames)
			}
			mdesc := index.Manifests[0]
			mdata, ok := files[blobPath(mdesc.Digest)]
			if !ok || digestOf(mdata) != mdesc.Digest || int64(len(mdata)) != mdesc.Size {
				t.Fatal("manifest blob missing or wrong")
			}
			var m ocispec.Manifest
			if err := json.Unmarshal(mdata, &m); err != nil {
				t.Fatal(err)
			}
			if m.Config.Digest != cfgDigest || m.Config.MediaType != ocispec.MediaTypeImageConfig {
				t.Errorf("manifest config %+v", m.Config)
			}
			for i, l := range m.Layers {
				body := files[blobPath(l.Digest)]
				if l.Digest != diffIDs[i] || l.MediaType != ocispec.MediaTypeImageLayer || int64(len(body)) != l.Size {
					t.Errorf("manifest layer %d %+v (blob %d bytes)", i, l, len(body))
				}
			}

			// Fixed order and headers.
			var order []string
			for _, e := range entries {
				order = append(order, e.hdr.Name)
				if e.hdr.Uid != 0 || e.hdr.Gid != 0 || !e.hdr.ModTime.Equal(testCreated()) {
					t.Errorf("%s: owner %d:%d mtime %v", e.hdr.Name, e.hdr.Uid, e.hdr.Gid, e.hdr.ModTime)
				}
			}
			blobs := sortedDigests(cfgDigest, mdesc.Digest, diffIDs[0], diffIDs[1])
			want := []string{"blobs/", "blobs/sha256/"}
			for _, b := range blobs {
				want = append(want, "blobs/sha256/"+b)
			}
			want = append(want, "index.json", "manifest.json", "oci-layout", "repositories")
			if !slices.Equal(order, want) {
				t.Errorf("entries\n%q\nwant\n%q", order, want)
			}
			if again := writeArchive(t, img, o); !bytes.Equal(again, data) {
				t.Error("a second write gives different bytes")
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDockerArchiveWithoutTags(t *testing.T) {
	img := testImage(t, newStore(t), layer.Gzip, baseLayer())
	files := entryMap(readTar(t, writeArchive(t, img, WriteOptions{RefNames: []string{"app@sha256:" + digestOf(nil).Encoded()}})))
	if _, ok := files["repositories"]; ok {
		t.Error("repositories written without any tag")
	}
	var items []dockerManifestItem
	if err := json.Unmarshal(files["manifest.json"], &items); err != nil {
		t.Fatal(err)
	}
	if items[0].RepoTags == nil || len(items[0].RepoTags) != 0 {
		t.Errorf("RepoTags %#v, want an empty list", items[0].RepoTags)
	}
	var index ocispec.Index
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 1 || len(index.Manifests[0].Annotations) != 0 {
		t.Errorf("index %+v, want one unnamed entry", index.Manifests)
	}
}

func TestDockerArchiveRepeatedLayer(t *testing.T) {
	s := newStore(t)
	img := testImage(t, s, layer.Gzip, baseLayer(), upperLayer(), baseLayer())
	entries := readTar(t, writeArchive(t, img, WriteOptions{}))
	files := entryMap(entries)
	var items []dockerManifestItem
	if err := json.Unmarshal(files["manifest.json"], &items); err != nil {
		t.Fatal(err)
	}
	if l := items[0].Layers; len(l) != 3 || l[0] != l[2] {
		t.Errorf("Layers %q, want the first repeated last", l)
	}
	n := 0
	for _, e := range entries {
		if e.hdr.Name == items[0].Layers[0] {
			n++
		}
	}
	if n != 1 {
		t.Errorf("repeated layer written %d times", n)
	}
}

func TestDockerArchiveRejectsBadLayers(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, img *Image)
		want  func(error) bool
	}{
		{"tampered blob", func(t *testing.T, img *Image) {
			p := img.Store.Path(img.Layers[1].Digest)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)-5] ^= 0x55
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}, isMismatch},
		{"wrong diff ID", func(t *testing.T, img *Image) {
			img.Config.RootFS.DiffIDs[0] = digest.FromString("other")
		}, isMismatch},
		{"missing blob", func(t *testing.T, img *Image) {
			if err := os.Remove(img.Store.Path(img.Layers[0].Digest)); err != nil {
				t.Fatal(err)
			}
		}, func(err error) bool { return errors.Is(err, ErrNotFound) }},
		{"unknown media type", func(t *testing.T, img *Image) {
			img.Layers[0].MediaType = "application/x-unknown"
		}, func(err error) bool { return errors.Is(err, ErrInvalid) }},
		{"diff ID count", func(t *testing.T, img *Image) {
			img.Config.RootFS.DiffIDs = img.Config.RootFS.DiffIDs[:1]
		}, func(err error) bool { return errors.Is(err, ErrInvalid) }},
		{"bad name", func(t *testing.T, img *Image) {}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := testImage(t, newStore(t), layer.Gzip, baseLayer(), upperLayer())
			tt.spoil(t, img)
			o := WriteOptions{RefNames: []string{"app:1"}}
			if tt.want == nil {
				o.RefNames = []string{"UPPER/Case:1"}
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "image.tar")
			err := WriteDockerArchiveFile(context.Background(), img, path, o)
			if err == nil {
				t.Fatal("archive written")
			}
			if tt.want != nil && !tt.want(err) {
				t.Errorf("unexpected error %v", err)
			}
			assertNoSiblings(t, dir)
		})
	}
}

func isMismatch(err error) bool {
	var dm *DigestMismatchError
	return errors.As(err, &dm)
}

func TestDockerArchiveFile(t *testing.T) {
	img := testImage(t, newStore(t), layer.Gzip, baseLayer())
	dir := t.TempDir()
	path := filepath.Join(dir, "image.tar")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteDockerArchiveFile(context.Background(), img, path, WriteOptions{RefNames: []string{"app"}}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, writeArchive(t, img, WriteOptions{RefNames: []string{"app"}})) {
		t.Error("file differs from the stream")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode())
	}
	assertNoSiblings(t, dir, "image.tar")
}

func TestDockerArchiveCancelled(t *testing.T) {
	img := testImage(t, newStore(t), layer.Gzip, baseLayer())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WriteDockerArchive(ctx, img, io.Discard, WriteOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestFamiliarName(t *testing.T) {
	tests := map[string]string{
		"app":                              "app",
		"docker.io/library/app:1":          "app",
		"index.docker.io/library/app":      "app",
		"org/app":                          "org/app",
		"docker.io/library/team/app":       "library/team/app",
		"ghcr.io/org/app":                  "ghcr.io/org/app",
		"localhost:5000/app":               "localhost:5000/app",
		"registry.example.com/library/app": "registry.example.com/library/app",
		"docker.io/a.b/c":                  "docker.io/a.b/c",
		"docker.io/localhost/c":            "docker.io/localhost/c",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			n, err := ParseImageName(in)
			if err != nil {
				t.Fatal(err)
			}
			if got := familiarName(n); got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

// FuzzArchiveTags checks that every RepoTag written for a name reads back
// as that same name, as docker load will read it.
func FuzzArchiveTags(f *testing.F) {
	for _, s := range []string{"app", "docker.io/library/app:1", "library/app", "org/app:v1", "localhost:5000/a/b:c", "[::1]:5000/x", "index.docker.io/library/x/y", "app@sha256:" + digestOf(nil).Encoded(), "Docker.io/app"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tags, err := archiveTags([]string{s})
		if err != nil {
			return
		}
		for _, n := range tags {
			back, err := ParseImageName(familiarName(n) + ":" + n.Tag)
			if err != nil {
				t.Fatalf("RepoTag of %q does not parse: %v", s, err)
			}
			if back.String() != n.String() {
				t.Fatalf("RepoTag of %q reads back as %s, want %s", s, back, n)
			}
		}
	})
}
