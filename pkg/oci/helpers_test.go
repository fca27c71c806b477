package oci

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/layer"
)

// entry is one file of a hand-made layer tar.
type entry struct {
	name string
	typ  byte // tar.TypeReg when zero
	body string
	mode int64
}

// testCreated returns the fixed creation time of test images.
func testCreated() time.Time { return time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC) }

func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := OpenStore(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// putLayer encodes entries as a layer blob in s.
func putLayer(t testing.TB, s *Store, c layer.Compression, entries []entry) (ocispec.Descriptor, digest.Digest) {
	t.Helper()
	ctx := context.Background()
	w, err := s.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	desc, err := layer.Encode(ctx, w, layer.EncodeOptions{Compression: c}, func(out io.Writer) error {
		return writeTar(out, entries)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Commit(desc.Digest); err != nil {
		t.Fatal(err)
	}
	return ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}, desc.DiffID
}

func writeTar(w io.Writer, entries []entry) error {
	tw := tar.NewWriter(w)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, ModTime: testCreated(), Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			return err
		}
	}
	return tw.Close()
}

// baseLayer and upperLayer make a two-layer image in which the upper layer
// deletes a file of the base layer.
func baseLayer() []entry {
	return []entry{
		{name: "etc/", typ: tar.TypeDir},
		{name: "etc/hello", body: "hello\n"},
		{name: "etc/keep", body: "keep\n"},
		{name: "bin/", typ: tar.TypeDir},
		{name: "bin/app", body: "#!/bin/sh\necho app\n", mode: 0o755},
	}
}

func upperLayer() []entry {
	return []entry{
		{name: "etc/", typ: tar.TypeDir},
		{name: "etc/.wh.hello"},
		{name: "etc/new", body: "new\n"},
	}
}

// testImage builds an image of the given layers with a config that uses
// Docker's extensions too.
func testImage(t testing.TB, s *Store, c layer.Compression, layers ...[]entry) *Image {
	t.Helper()
	created := testCreated()
	img := &Image{Store: s}
	img.Config.Created = &created
	img.Config.Platform = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	img.Config.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "GREETING=a<b&c>"}
	img.Config.Config.Cmd = []string{"/bin/app"}
	img.Config.Config.WorkingDir = "/"
	img.Config.Config.Labels = map[string]string{"org.example.b": "2", "org.example.a": "1"}
	img.Config.Config.Shell = []string{"/bin/sh", "-c"}
	img.Config.Config.Healthcheck = &dockerspec.HealthcheckConfig{Test: []string{"CMD", "/bin/app"}, Interval: 30 * time.Second}
	img.Config.RootFS.Type = "layers"
	img.Config.History = append(img.Config.History, ocispec.History{Created: &created, CreatedBy: "ENV GREETING", EmptyLayer: true})
	for i, l := range layers {
		desc, diffID := putLayer(t, s, c, l)
		img.Layers = append(img.Layers, desc)
		img.Config.RootFS.DiffIDs = append(img.Config.RootFS.DiffIDs, diffID)
		img.Config.History = append(img.Config.History, ocispec.History{Created: &created, CreatedBy: "COPY layer " + string(rune('0'+i))})
	}
	return img
}

// listTree returns the slash-separated paths under dir, sorted.
func listTree(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel != "." {
			if d.IsDir() {
				rel += "/"
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// assertNoSiblings fails if parent holds anything but the names given:
// temporary siblings of atomic writes must not survive.
func assertNoSiblings(t testing.TB, parent string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for _, e := range ents {
		if !want[e.Name()] {
			t.Errorf("unexpected entry %s in %s", e.Name(), parent)
		}
	}
}

// tmpEntries returns what is left in the store's ingest directory.
func tmpEntries(t testing.TB, s *Store) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.Root(), "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func digestOf(data []byte) digest.Digest { return digest.FromBytes(data) }

// sortedDigests returns the hex parts of ds, sorted.
func sortedDigests(ds ...digest.Digest) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Encoded()
	}
	slices.Sort(out)
	return out
}
