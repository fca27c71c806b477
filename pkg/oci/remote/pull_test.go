package remote

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/internal/platforms"
	"github.com/ocibuilder/builder/pkg/oci"
)

func TestPull(t *testing.T) {
	reg := startRegistry(t, nil)
	src := writeRandom(t, reg.ref("app:v1"), 4096, 2)
	want := mustDigest(t, src)
	tests := []struct {
		name string
		ref  string
	}{
		{"by tag", reg.ref("app:v1")},
		{"by digest", reg.ref("app@" + want.String())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			img, desc, err := Pull(context.Background(), tt.ref, ocispec.Platform{}, s, fastOptions())
			if err != nil {
				t.Fatal(err)
			}
			if desc.Digest != want {
				t.Errorf("manifest digest %s, want %s", desc.Digest, want)
			}
			rawManifest, err := src.RawManifest()
			if err != nil {
				t.Fatal(err)
			}
			if got := storeBytes(t, s, desc.Digest); string(got) != string(rawManifest) {
				t.Error("stored manifest differs from the registry's")
			}
			if desc.MediaType != oci.MediaTypeDockerManifest {
				t.Errorf("manifest media type %q", desc.MediaType)
			}
			rawConfig, err := src.RawConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			cfgName, err := src.ConfigName()
			if err != nil {
				t.Fatal(err)
			}
			if got := storeBytes(t, s, digest.Digest(cfgName.String())); string(got) != string(rawConfig) {
				t.Error("stored config differs from the registry's")
			}
			layers, err := src.Layers()
			if err != nil {
				t.Fatal(err)
			}
			if len(img.Layers) != len(layers) || len(img.Config.RootFS.DiffIDs) != len(layers) {
				t.Fatalf("got %d layers and %d diff IDs, want %d", len(img.Layers), len(img.Config.RootFS.DiffIDs), len(layers))
			}
			for i, l := range layers {
				if img.Layers[i].Digest != mustDigest(t, l) {
					t.Errorf("layer %d digest %s", i, img.Layers[i].Digest)
				}
				if img.Layers[i].MediaType != "application/vnd.docker.image.rootfs.diff.tar.gzip" {
					t.Errorf("layer %d media type %q: Docker media types must be kept", i, img.Layers[i].MediaType)
				}
				if got := storeBytes(t, s, img.Layers[i].Digest); string(got) != string(compressedBytes(t, l)) {
					t.Errorf("layer %d content differs", i)
				}
				diffID, _ := l.DiffID()
				if img.Config.RootFS.DiffIDs[i].String() != diffID.String() {
					t.Errorf("diff ID %d is %s, want %s", i, img.Config.RootFS.DiffIDs[i], diffID)
				}
			}
			if img.Store != s {
				t.Error("image does not use the store it was pulled into")
			}
			if len(tmpEntries(t, s)) != 0 {
				t.Errorf("ingest leftovers: %v", tmpEntries(t, s))
			}
		})
	}
}

func TestPullPlatformFromIndex(t *testing.T) {
	reg := startRegistry(t, nil)
	amd := &v1.Platform{OS: "linux", Architecture: "amd64"}
	arm := &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	imgs := map[*v1.Platform]v1.Image{amd: platformImage(t, *amd), arm: platformImage(t, *arm)}
	writeIndex(t, reg.ref("multi:latest"), imgs, []*v1.Platform{amd, arm})
	tests := []struct {
		name     string
		platform ocispec.Platform
		want     *v1.Platform
	}{
		{"amd64", ocispec.Platform{OS: "linux", Architecture: "amd64"}, amd},
		{"arm64 without variant", ocispec.Platform{OS: "linux", Architecture: "arm64"}, arm},
		{"arm64 v8", ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, arm},
		{"aarch64 spelling", ocispec.Platform{OS: "linux", Architecture: "aarch64"}, arm},
		{"missing platform", ocispec.Platform{OS: "linux", Architecture: "s390x"}, nil},
		{"missing os", ocispec.Platform{OS: "windows", Architecture: "amd64"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := reg.ref("multi:latest")
			s := newStore(t)
			reg.reset()
			img, desc, err := Pull(context.Background(), ref, tt.platform, s, fastOptions())
			hdesc, herr := Head(context.Background(), ref, tt.platform, fastOptions())
			if tt.want == nil {
				for _, e := range []error{err, herr} {
					if !errors.Is(e, ErrPlatformNotFound) {
						t.Fatalf("got %v, want ErrPlatformNotFound", e)
					}
					msg := e.Error()
					for _, part := range []string{ref, "linux/amd64", "linux/arm64/v8", platforms.Format(tt.platform)} {
						if !strings.Contains(msg, part) {
							t.Errorf("error %q does not mention %q", msg, part)
						}
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if herr != nil {
				t.Fatal(herr)
			}
			want := mustDigest(t, imgs[tt.want])
			if desc.Digest != want {
				t.Errorf("pulled %s, want %s", desc.Digest, want)
			}
			if hdesc.Digest != want {
				t.Errorf("Head resolved %s, want %s", hdesc.Digest, want)
			}
			if img.Config.Architecture != tt.want.Architecture || desc.Platform == nil || desc.Platform.Architecture != tt.want.Architecture {
				t.Errorf("pulled architecture %q (descriptor %v)", img.Config.Architecture, desc.Platform)
			}
		})
	}
}

func TestPullSkipsStoredBlobs(t *testing.T) {
	reg := startRegistry(t, nil)
	ref := reg.ref("app:v1")
	writeRandom(t, ref, 4096, 3)
	s := newStore(t)
	if _, _, err := Pull(context.Background(), ref, ocispec.Platform{}, s, fastOptions()); err != nil {
		t.Fatal(err)
	}
	if n := reg.count("GET", "/blobs/"); n != 4 {
		t.Fatalf("first pull fetched %d blobs, want 4 (config and 3 layers)", n)
	}
	reg.reset()
	var rec recorder
	o := fastOptions()
	o.Progress = rec.add
	img, _, err := Pull(context.Background(), ref, ocispec.Platform{}, s, o)
	if err != nil {
		t.Fatal(err)
	}
	if n := reg.count("GET", "/blobs/"); n != 0 {
		t.Errorf("second pull fetched %d blobs, want none", n)
	}
	acts := rec.actions()
	for _, l := range img.Layers {
		if acts[l.Digest] != ActionExists {
			t.Errorf("layer %s reported %q, want %q", l.Digest, acts[l.Digest], ActionExists)
		}
	}
}

func TestPullProgress(t *testing.T) {
	reg := startRegistry(t, nil)
	ref := reg.ref("app:v1")
	writeRandom(t, ref, 3<<20, 1)
	var rec recorder
	o := fastOptions()
	o.Progress = rec.add
	img, _, err := Pull(context.Background(), ref, ocispec.Platform{}, newStore(t), o)
	if err != nil {
		t.Fatal(err)
	}
	l := img.Layers[0]
	var seen []Update
	for _, u := range rec.updates {
		if u.Digest == l.Digest {
			seen = append(seen, u)
		}
	}
	if len(seen) < 2 {
		t.Fatalf("got %d updates for a 3 MiB layer, want several", len(seen))
	}
	last := seen[len(seen)-1]
	if last.Action != ActionPull || last.Done != l.Size || last.Total != l.Size || last.Ref != ref {
		t.Errorf("last update %+v, want pull of %d bytes for %s", last, l.Size, ref)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].Done < seen[i-1].Done {
			t.Errorf("progress went backwards: %d after %d", seen[i].Done, seen[i-1].Done)
		}
	}
}

func TestPullNotFound(t *testing.T) {
	reg := startRegistry(t, nil)
	writeRandom(t, reg.ref("app:v1"), 1024, 1)
	missing := "sha256:" + strings.Repeat("ab", 32)
	for _, ref := range []string{reg.ref("app:nope"), reg.ref("other:v1"), reg.ref("app@" + missing)} {
		t.Run(ref, func(t *testing.T) {
			s := newStore(t)
			_, _, err := Pull(context.Background(), ref, ocispec.Platform{}, s, fastOptions())
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("Pull: got %v, want ErrNotFound", err)
			}
			if !strings.Contains(err.Error(), ref) {
				t.Errorf("error %q does not name %s", err, ref)
			}
			if _, err := Head(context.Background(), ref, ocispec.Platform{}, fastOptions()); !errors.Is(err, ErrNotFound) {
				t.Errorf("Head: got %v, want ErrNotFound", err)
			}
		})
	}
}

func TestHeadDownloadsNoBlob(t *testing.T) {
	reg := startRegistry(t, nil)
	ref := reg.ref("app:v1")
	src := writeRandom(t, ref, 1024, 2)
	reg.reset()
	desc, err := Head(context.Background(), ref, ocispec.Platform{}, fastOptions())
	if err != nil {
		t.Fatal(err)
	}
	if want := mustDigest(t, src); desc.Digest != want {
		t.Errorf("Head resolved %s, want %s", desc.Digest, want)
	}
	if n := reg.count("GET", "/blobs/") + reg.count("GET", "/manifests/"); n != 0 {
		t.Errorf("Head made %d GET requests for content, want none", n)
	}
}

func TestPullRejectsNonImages(t *testing.T) {
	cfg := []byte(`{}`)
	cfgDigest := digest.FromBytes(cfg)
	tests := []struct {
		name     string
		manifest map[string]any
		want     error
	}{
		{"artifact config", map[string]any{
			"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest,
			"config": map[string]any{"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": cfgDigest, "size": len(cfg)},
			"layers": []any{},
		}, ErrUnsupported},
		{"unknown layer type", map[string]any{
			"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest,
			"config": map[string]any{"mediaType": ocispec.MediaTypeImageConfig, "digest": cfgDigest, "size": len(cfg)},
			"layers": []any{map[string]any{"mediaType": "application/x-thing", "digest": cfgDigest, "size": len(cfg)}},
		}, ErrUnsupported},
		{"huge config", map[string]any{
			"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest,
			"config": map[string]any{"mediaType": ocispec.MediaTypeImageConfig, "digest": cfgDigest, "size": 1 << 30},
			"layers": []any{},
		}, oci.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := json.Marshal(tt.manifest)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := parseManifest(raw); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}
