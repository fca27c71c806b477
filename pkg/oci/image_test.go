package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// goldenImage is a fully populated image whose layer blobs need not exist:
// Manifest only serializes descriptors.
func goldenImage(s *Store) *Image {
	created := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	img := &Image{Store: s}
	img.Config.Created = &created
	img.Config.Author = "builder"
	img.Config.Platform = ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	img.Config.Config = dockerspec.DockerOCIImageConfig{
		ImageConfig: ocispec.ImageConfig{
			User:         "1000:1000",
			ExposedPorts: map[string]struct{}{"8080/tcp": {}, "53/udp": {}},
			Env:          []string{"PATH=/usr/bin:/bin", "HTML=<a href=\"x\">&</a>"},
			Entrypoint:   []string{"/bin/app"},
			Cmd:          []string{"--serve"},
			Volumes:      map[string]struct{}{"/data": {}},
			WorkingDir:   "/srv",
			Labels:       map[string]string{"z": "last", "a": "first"},
			StopSignal:   "SIGTERM",
		},
		DockerOCIImageConfigExt: dockerspec.DockerOCIImageConfigExt{
			Healthcheck: &dockerspec.HealthcheckConfig{Test: []string{"CMD-SHELL", "true"}, Interval: time.Second, Retries: 3},
			OnBuild:     []string{"RUN echo child"},
			Shell:       []string{"/bin/bash", "-c"},
		},
	}
	img.Config.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromString("diff1"), digest.FromString("diff2")}}
	img.Config.History = []ocispec.History{
		{Created: &created, CreatedBy: "ADD rootfs.tar /"},
		{Created: &created, CreatedBy: "ENV PATH", EmptyLayer: true},
		{Created: &created, CreatedBy: "RUN make", Comment: "buildkit.dockerfile.v0"},
	}
	img.Layers = []ocispec.Descriptor{
		{MediaType: mediaTypeDockerLayerGzip, Digest: digest.FromString("blob1"), Size: 11},
		{MediaType: ocispec.MediaTypeImageLayerZstd, Digest: digest.FromString("blob2"), Size: 22,
			Platform: &ocispec.Platform{OS: "linux"}, Annotations: map[string]string{"k": "v"}},
	}
	return img
}

func TestManifestGolden(t *testing.T) {
	s := newStore(t)
	img := goldenImage(s)
	desc, manifest, err := img.Manifest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigJSON()
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "config.golden.json", cfg)
	checkGolden(t, "manifest.golden.json", manifest)

	if desc.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("media type = %s", desc.MediaType)
	}
	if desc.Digest != digest.FromBytes(manifest) || desc.Size != int64(len(manifest)) {
		t.Errorf("descriptor %s/%d does not describe the manifest bytes", desc.Digest, desc.Size)
	}
	if desc.Platform == nil || desc.Platform.OS != "linux" || desc.Platform.Architecture != "arm64" || desc.Platform.Variant != "v8" {
		t.Errorf("platform = %+v", desc.Platform)
	}
	for _, d := range []digest.Digest{desc.Digest, digest.FromBytes(cfg)} {
		if !s.Has(d) {
			t.Errorf("blob %s not stored", d)
		}
	}
	// The stored manifest must decode to what the golden file shows, and a
	// second call must give the same bytes.
	_, again, err := img.Manifest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, manifest) {
		t.Error("Manifest is not deterministic")
	}
}

func TestManifestEmptyImage(t *testing.T) {
	s := newStore(t)
	img := &Image{Store: s}
	img.Config.Platform = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	img.Config.RootFS.Type = "layers"
	_, manifest, err := img.Manifest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(manifest, []byte(`"layers":[]`)) {
		t.Errorf("manifest without layers must carry an empty array: %s", manifest)
	}
	if !bytes.Contains(cfg, []byte(`"diff_ids":[]`)) {
		t.Errorf("config without layers must carry an empty diff_ids array: %s", cfg)
	}
}

func TestManifestRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Image)
	}{
		{name: "more layers than diff IDs", mutate: func(img *Image) { img.Config.RootFS.DiffIDs = img.Config.RootFS.DiffIDs[:1] }},
		{name: "invalid layer digest", mutate: func(img *Image) { img.Layers[0].Digest = "sha256:../../x" }},
		{name: "no store", mutate: func(img *Image) { img.Store = nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := goldenImage(newStore(t))
			tc.mutate(img)
			if _, _, err := img.Manifest(context.Background()); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

// checkGolden compares got with testdata/name; OCI_UPDATE_GOLDEN=1
// rewrites the file instead.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if os.Getenv("OCI_UPDATE_GOLDEN") == "1" {
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, got, "", "  "); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, append(pretty.Bytes(), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// The golden files are indented for review; the compact form is what
	// is hashed, so compare compact against compact.
	var compact bytes.Buffer
	if err := json.Compact(&compact, want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(compact.Bytes(), got) {
		t.Errorf("%s differs from golden file:\n got: %s\nwant: %s", name, got, compact.Bytes())
	}
}
