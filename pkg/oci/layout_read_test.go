package oci

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/layer"
)

// fixture is a layout on disk plus what it contains.
type fixture struct {
	dir      string
	img      *Image
	manifest ocispec.Descriptor
}

func writeFixture(t *testing.T) fixture {
	t.Helper()
	s := newStore(t)
	img := testImage(t, s, layer.Gzip, baseLayer(), upperLayer())
	dir := filepath.Join(t.TempDir(), "layout")
	if err := WriteLayout(context.Background(), img, dir, WriteOptions{RefNames: []string{"app:v1"}}); err != nil {
		t.Fatal(err)
	}
	m, _, err := img.Manifest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return fixture{dir: dir, img: img, manifest: m}
}

// blobFile returns the path of a blob inside the fixture layout; links
// are broken first so damaging it leaves the source store intact.
func (f fixture) blobFile(t *testing.T, d digest.Digest) string {
	t.Helper()
	p := filepath.Join(f.dir, "blobs/sha256", d.Encoded())
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// putJSON stores v as a blob of the fixture layout and returns its
// descriptor.
func (f fixture) putJSON(t *testing.T, mediaType string, v any) ocispec.Descriptor {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(data)
	if err := os.WriteFile(filepath.Join(f.dir, "blobs/sha256", d.Encoded()), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
}

func (f fixture) setIndex(t *testing.T, entries ...ocispec.Descriptor) {
	t.Helper()
	data, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: entries})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "index.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// otherManifest adds a second, different image to the fixture layout.
func (f fixture) otherManifest(t *testing.T, arch string) ocispec.Descriptor {
	t.Helper()
	return f.changedManifest(t, func(img *Image) { img.Config.Architecture = arch })
}

// changedManifest writes into the layout the manifest of an image like
// the fixture's, changed by change.
func (f fixture) changedManifest(t *testing.T, change func(*Image)) ocispec.Descriptor {
	t.Helper()
	img := testImage(t, f.img.Store, layer.Gzip, baseLayer())
	change(img)
	m, _, err := img.Manifest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []digest.Digest{m.Digest, digestOf(cfg), img.Layers[0].Digest} {
		data, err := img.Store.ReadAll(d, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(f.dir, "blobs/sha256", d.Encoded()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func named(d ocispec.Descriptor, tag string) ocispec.Descriptor {
	d.Annotations = map[string]string{AnnotationRefName: tag}
	return d
}

func TestReadLayoutErrors(t *testing.T) {
	mismatch := &DigestMismatchError{}
	tests := []struct {
		name     string
		ref      string
		platform ocispec.Platform
		setup    func(t *testing.T, f fixture)
		wantErr  error
	}{
		{name: "missing index.json", ref: "v1", wantErr: ErrNotFound, setup: func(t *testing.T, f fixture) {
			mustRemove(t, filepath.Join(f.dir, "index.json"))
		}},
		{name: "missing oci-layout", ref: "v1", wantErr: ErrNotFound, setup: func(t *testing.T, f fixture) {
			mustRemove(t, filepath.Join(f.dir, "oci-layout"))
		}},
		{name: "unsupported layout version", ref: "v1", wantErr: ErrInvalid, setup: func(t *testing.T, f fixture) {
			mustWrite(t, filepath.Join(f.dir, "oci-layout"), `{"imageLayoutVersion":"2.0.0"}`)
		}},
		{name: "not a directory", ref: "v1", wantErr: errAny, setup: func(t *testing.T, f fixture) {
			mustRemoveAll(t, f.dir)
			mustWrite(t, f.dir, "file")
		}},
		{name: "unknown tag", ref: "v2", wantErr: ErrNotFound},
		{name: "unknown digest", ref: digest.FromString("nothing").String(), wantErr: ErrNotFound},
		{name: "index.json not JSON", ref: "v1", wantErr: ErrInvalid, setup: func(t *testing.T, f fixture) {
			mustWrite(t, filepath.Join(f.dir, "index.json"), `{"manifests": [`)
		}},
		{name: "empty index", ref: "", wantErr: ErrNotFound, setup: func(t *testing.T, f fixture) {
			f.setIndex(t)
		}},
		{name: "index.json too large", ref: "v1", wantErr: ErrTooLarge, setup: func(t *testing.T, f fixture) {
			mustWrite(t, filepath.Join(f.dir, "index.json"), `{"manifests":[]`+strings.Repeat(" ", maxJSONSize)+`}`)
		}},
		{name: "index.json is a FIFO", ref: "v1", wantErr: ErrInvalid, setup: func(t *testing.T, f fixture) {
			mustRemove(t, filepath.Join(f.dir, "index.json"))
			if err := syscall.Mkfifo(filepath.Join(f.dir, "index.json"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "tampered layer", ref: "v1", wantErr: mismatch, setup: func(t *testing.T, f fixture) {
			p := f.blobFile(t, f.img.Layers[1].Digest)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)/2] ^= 0xff
			mustWrite(t, p, string(data))
		}},
		{name: "truncated layer", ref: "v1", wantErr: mismatch, setup: func(t *testing.T, f fixture) {
			p := f.blobFile(t, f.img.Layers[0].Digest)
			if err := os.Truncate(p, f.img.Layers[0].Size-1); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "layer longer than declared", ref: "v1", wantErr: mismatch, setup: func(t *testing.T, f fixture) {
			p := f.blobFile(t, f.img.Layers[0].Digest)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, p, string(data)+"extra")
		}},
		{name: "missing layer", ref: "v1", wantErr: ErrNotFound, setup: func(t *testing.T, f fixture) {
			mustRemove(t, filepath.Join(f.dir, "blobs/sha256", f.img.Layers[1].Digest.Encoded()))
		}},
		{name: "tampered manifest", ref: "v1", wantErr: mismatch, setup: func(t *testing.T, f fixture) {
			p := f.blobFile(t, f.manifest.Digest)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, p, strings.Replace(string(data), "schemaVersion\":2", "schemaVersion\":3", 1))
		}},
		{name: "manifest size wrong in index", ref: "v1", wantErr: mismatch, setup: func(t *testing.T, f fixture) {
			m := f.manifest
			m.Size--
			f.setIndex(t, named(m, "v1"))
		}},
		{name: "manifest declared huge", ref: "v1", wantErr: ErrTooLarge, setup: func(t *testing.T, f fixture) {
			m := f.manifest
			m.Size = 1 << 40
			f.setIndex(t, named(m, "v1"))
		}},
		{name: "path traversal digest", ref: "v1", wantErr: ErrInvalid, setup: func(t *testing.T, f fixture) {
			m := f.manifest
			m.Digest = "sha256:../../../../../../etc/passwd"
			f.setIndex(t, named(m, "v1"))
		}},
		{name: "ambiguous without ref", ref: "", wantErr: ErrAmbiguous, setup: func(t *testing.T, f fixture) {
			f.setIndex(t, named(f.manifest, "v1"), named(f.otherManifest(t, "arm64"), "v2"))
		}},
		{name: "ambiguous tag", ref: "v1", wantErr: ErrAmbiguous, setup: func(t *testing.T, f fixture) {
			f.setIndex(t, named(f.manifest, "v1"), named(f.otherManifest(t, "arm64"), "v1"))
		}},
		{name: "no such platform", ref: "v1", platform: ocispec.Platform{OS: "linux", Architecture: "s390x"}, wantErr: ErrNotFound},
		{name: "index entry lies about platform", ref: "v1", platform: ocispec.Platform{OS: "linux", Architecture: "riscv64"}, wantErr: ErrInvalid, setup: func(t *testing.T, f fixture) {
			m := f.manifest
			m.Platform = &ocispec.Platform{OS: "linux", Architecture: "riscv64"}
			f.setIndex(t, named(m, "v1"))
		}},
		{name: "index where a manifest is expected", ref: "v1", wantErr: ErrInvalid, setup: func(t *testing.T, f fixture) {
			idx := f.putJSON(t, ocispec.MediaTypeImageIndex, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex})
			idx.MediaType = ocispec.MediaTypeImageManifest
			f.setIndex(t, named(idx, "v1"))
		}},
		{name: "indexes nested too deep", ref: "v1", wantErr: ErrInvalid, setup: func(t *testing.T, f fixture) {
			d := f.manifest
			for range maxIndexDepth + 1 {
				d = f.putJSON(t, ocispec.MediaTypeImageIndex, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{d}})
			}
			f.setIndex(t, named(d, "v1"))
		}},
		{name: "nested index listed many times", ref: digest.FromString("absent").String(), wantErr: ErrNotFound, setup: func(t *testing.T, f fixture) {
			// Each listing must not re-read the nested index: 2000 reads of
			// a 2000-entry index would take minutes.
			entries := make([]ocispec.Descriptor, 2000)
			for i := range entries {
				entries[i] = f.manifest
			}
			nested := f.putJSON(t, ocispec.MediaTypeImageIndex, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, Manifests: entries})
			for i := range entries {
				entries[i] = nested
			}
			f.setIndex(t, entries...)
		}},
		{name: "unsupported layer media type", ref: "v1", wantErr: ErrInvalid, setup: func(t *testing.T, f fixture) {
			var m ocispec.Manifest
			data, err := os.ReadFile(filepath.Join(f.dir, "blobs/sha256", f.manifest.Digest.Encoded()))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			m.Layers[0].MediaType = "application/x-something"
			f.setIndex(t, named(f.putJSON(t, ocispec.MediaTypeImageManifest, m), "v1"))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := writeFixture(t)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			dst := newStore(t)
			img, err := ReadLayout(context.Background(), f.dir, tc.ref, tc.platform, dst)
			if err == nil {
				t.Fatalf("ReadLayout succeeded: %+v", img.Layers)
			}
			switch want := tc.wantErr; {
			case want == errAny:
			case want == error(mismatch):
				var got *DigestMismatchError
				if !errors.As(err, &got) {
					t.Fatalf("err = %v, want DigestMismatchError", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("err = %v, want %v", err, want)
				}
			}
			msg := err.Error()
			if !strings.Contains(msg, f.dir) || !strings.Contains(msg, `"`+tc.ref+`"`) {
				t.Errorf("error does not name the layout and the ref: %s", msg)
			}
			if left := tmpEntries(t, dst); len(left) != 0 {
				t.Errorf("ingest files left behind: %v", left)
			}
		})
	}
}

func TestReadLayoutSelectsPlatform(t *testing.T) {
	f := writeFixture(t)
	amd64 := f.manifest
	arm64 := f.otherManifest(t, "arm64")
	attestation := f.putJSON(t, ocispec.MediaTypeImageManifest, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}})
	attestation.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
	attestation.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest"}
	// The arm64 entry carries no platform: it must be read from its config.
	armEntry := arm64
	armEntry.Platform = nil
	nested := f.putJSON(t, ocispec.MediaTypeImageIndex, ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{amd64, armEntry, attestation},
	})
	attested := f.putJSON(t, ocispec.MediaTypeImageIndex, ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{attestation, amd64},
	})
	// Two more amd64 images: one labelled differently, one for amd64/v2.
	amd64b := f.changedManifest(t, func(img *Image) { img.Config.Config.Labels = map[string]string{"n": "2"} })
	amd64v2 := f.changedManifest(t, func(img *Image) { img.Config.Variant = "v2" })
	if amd64b.Digest == amd64.Digest || amd64v2.Digest == amd64.Digest {
		t.Fatal("the extra amd64 manifests equal the fixture's")
	}
	twice := f.putJSON(t, ocispec.MediaTypeImageIndex, ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{amd64v2, amd64b, amd64},
	})
	f.setIndex(t, named(nested, "multi"), named(amd64, "single"), named(attested, "attested"), named(twice, "twice"))

	tests := []struct {
		name     string
		ref      string
		platform ocispec.Platform
		want     digest.Digest
		wantErr  error
	}{
		{name: "amd64", ref: "multi", platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, want: amd64.Digest},
		{name: "arm64 from config", ref: "multi", platform: ocispec.Platform{OS: "linux", Architecture: "arm64"}, want: arm64.Digest},
		{name: "arm64 variant v8 equals none", ref: "multi", platform: ocispec.Platform{OS: "linux", Architecture: "aarch64", Variant: "v8"}, want: arm64.Digest},
		{name: "by digest inside nested index", ref: arm64.Digest.String(), want: arm64.Digest},
		{name: "nested index without platform", ref: "multi", wantErr: ErrAmbiguous},
		{name: "whole layout without ref and platform", ref: "", wantErr: ErrAmbiguous},
		{name: "whole layout by platform", ref: "", platform: ocispec.Platform{OS: "linux", Architecture: "arm64"}, want: arm64.Digest},
		{name: "single entry", ref: "single", want: amd64.Digest},
		{name: "attestation is not an image", ref: "attested", want: amd64.Digest},
		{name: "wrong os", ref: "multi", platform: ocispec.Platform{OS: "windows", Architecture: "amd64"}, wantErr: ErrNotFound},
		{name: "wrong os names what is offered", ref: "multi", platform: ocispec.Platform{OS: "windows", Architecture: "amd64"}, wantErr: ErrPlatformNotFound},
		// ChooseManifest's rule: the first exact match, variant included.
		{name: "several matches: the first exact one", ref: "twice", platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, want: amd64b.Digest},
		{name: "variant asked for", ref: "twice", platform: ocispec.Platform{OS: "linux", Architecture: "amd64", Variant: "v2"}, want: amd64v2.Digest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := newStore(t)
			img, err := ReadLayout(context.Background(), f.dir, tc.ref, tc.platform, dst)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m, _, err := img.Manifest(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if m.Digest != tc.want {
				t.Fatalf("selected %s (%s), want %s", m.Digest, img.Config.Architecture, tc.want)
			}
		})
	}
}

func TestReadLayoutDockerMediaTypes(t *testing.T) {
	f := writeFixture(t)
	data, err := os.ReadFile(filepath.Join(f.dir, "blobs/sha256", f.manifest.Digest.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m.MediaType = MediaTypeDockerManifest
	m.Config.MediaType = "application/vnd.docker.container.image.v1+json"
	for i := range m.Layers {
		m.Layers[i].MediaType = mediaTypeDockerLayerGzip
	}
	f.setIndex(t, named(f.putJSON(t, MediaTypeDockerManifest, m), "docker"))
	img, err := ReadLayout(context.Background(), f.dir, "docker", ocispec.Platform{}, newStore(t))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range img.Layers {
		if l.MediaType != ocispec.MediaTypeImageLayerGzip {
			t.Errorf("layer %d media type = %s, want the OCI name", i, l.MediaType)
		}
	}
	if err := Validate(context.Background(), img); err != nil {
		t.Fatal(err)
	}
}

func mustRemove(t testing.TB, p string) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
}

func mustRemoveAll(t *testing.T, p string) {
	t.Helper()
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t testing.TB, p, data string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
