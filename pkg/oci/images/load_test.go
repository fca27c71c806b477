package images

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/internal/tartest"
	"github.com/ocibuilder/builder/pkg/oci"
)

func TestLoadRoundTrip(t *testing.T) {
	ctx := context.Background()
	st := newState(t)
	desc, want := putImage(t, st.store, testCreated(), putLayer(t, st.store, "a"), putLayer(t, st.store, "b"))
	got, err := Load(ctx, st.store, desc)
	if err != nil {
		t.Fatal(err)
	}
	if err := oci.Validate(ctx, got); err != nil {
		t.Fatal(err)
	}
	wantCfg, _ := want.ConfigJSON()
	gotCfg, _ := got.ConfigJSON()
	if !bytes.Equal(gotCfg, wantCfg) {
		t.Errorf("config = %s\nwant %s", gotCfg, wantCfg)
	}
	if !reflect.DeepEqual(got.Layers, want.Layers) || got.Store != st.store {
		t.Errorf("layers = %+v, want %+v", got.Layers, want.Layers)
	}
	// Writing the loaded image again gives the same manifest.
	again, _, err := got.Manifest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != desc.Digest {
		t.Errorf("manifest of the loaded image = %s, want %s", again.Digest, desc.Digest)
	}
}

// TestLoadDockerSchema2 loads an image written with Docker media types.
func TestLoadDockerSchema2(t *testing.T) {
	ctx := context.Background()
	st := newState(t)
	tarData := tartest.Build(t, tartest.File("hello", "world"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(tarData); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	layer, err := st.store.Put(ctx, "application/vnd.docker.image.rootfs.diff.tar.gzip", gz.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	cfg := putJSON(t, st.store, oci.MediaTypeDockerConfig, dockerImageConfig(digest.FromBytes(tarData)))
	m := putJSON(t, st.store, oci.MediaTypeDockerManifest, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: oci.MediaTypeDockerManifest,
		Config:    cfg,
		Layers:    []ocispec.Descriptor{layer},
	})
	img, err := Load(ctx, st.store, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := oci.Validate(ctx, img); err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 1 || img.Layers[0].Digest != layer.Digest {
		t.Fatalf("layers = %+v", img.Layers)
	}
}

func TestLoadRejects(t *testing.T) {
	ctx := context.Background()
	st := newState(t)
	l := putLayer(t, st.store, "l")
	good, _ := putImage(t, st.store, testCreated(), l)
	goodManifest := manifestOf(t, st.store, good)

	manifest := func(edit func(*ocispec.Manifest)) ocispec.Descriptor {
		m := goodManifest
		m.Layers = append([]ocispec.Descriptor(nil), m.Layers...)
		edit(&m)
		return putJSON(t, st.store, ocispec.MediaTypeImageManifest, m)
	}
	oversized, err := st.store.Put(ctx, ocispec.MediaTypeImageManifest, []byte(`{"x":"`+strings.Repeat("a", maxJSONSize)+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	missingConfig := manifest(func(m *ocispec.Manifest) { m.Config.Digest = digest.FromString("no config") })
	withSize := func(d ocispec.Descriptor, n int64) ocispec.Descriptor { d.Size = n; return d }
	withType := func(d ocispec.Descriptor, mt string) ocispec.Descriptor { d.MediaType = mt; return d }

	tests := []struct {
		name     string
		desc     ocispec.Descriptor
		wantErr  error
		mismatch bool
	}{
		{name: "index", desc: putIndex(t, st.store, good), wantErr: oci.ErrInvalid},
		{name: "layer media type", desc: withType(good, ocispec.MediaTypeImageLayer), wantErr: oci.ErrInvalid},
		{name: "size differs from blob", desc: withType(withSize(l.desc, 10), ocispec.MediaTypeImageManifest), mismatch: true},
		{name: "absent", desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("x"), Size: 2}, wantErr: ErrNotFound},
		{name: "size too small", desc: withSize(good, good.Size-1), mismatch: true},
		{name: "size too large", desc: withSize(good, good.Size+1), mismatch: true},
		{name: "bad digest", desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: "sha256:/etc/passwd", Size: 1}, wantErr: oci.ErrInvalid},
		{name: "sha512", desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest("sha512:" + strings.Repeat("ab", 64)), Size: 1}, wantErr: oci.ErrInvalid},
		{name: "oversized", desc: oversized, wantErr: oci.ErrTooLarge},
		{name: "schema 1", desc: manifest(func(m *ocispec.Manifest) { m.SchemaVersion = 1 }), wantErr: oci.ErrInvalid},
		{name: "document says index", desc: manifest(func(m *ocispec.Manifest) { m.MediaType = ocispec.MediaTypeImageIndex }), wantErr: oci.ErrInvalid},
		{name: "config type", desc: manifest(func(m *ocispec.Manifest) { m.Config.MediaType = "application/octet-stream" }), wantErr: oci.ErrInvalid},
		{name: "extra layer", desc: manifest(func(m *ocispec.Manifest) { m.Layers = append(m.Layers, l.desc) }), wantErr: oci.ErrInvalid},
		{name: "layer digest", desc: manifest(func(m *ocispec.Manifest) { m.Layers[0].Digest = "sha256:zz" }), wantErr: oci.ErrInvalid},
		{name: "missing config", desc: missingConfig, wantErr: ErrNotFound},
		{name: "config size", desc: manifest(func(m *ocispec.Manifest) { m.Config.Size++ }), mismatch: true},
		{name: "not json", desc: withType(l.desc, ocispec.MediaTypeImageManifest), wantErr: oci.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, err := Load(ctx, st.store, tc.desc)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", img)
			}
			var mm *oci.DigestMismatchError
			if tc.mismatch && !errors.As(err, &mm) {
				t.Fatalf("err = %v, want a DigestMismatchError", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}

	ctxDone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Load(ctxDone, st.store, good); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v", err)
	}
}

// TestLoadCorruptBlob checks that a manifest altered on disk is refused
// even though its size still matches.
func TestLoadCorruptBlob(t *testing.T) {
	st := newState(t)
	desc := newImage(t, st.store, "c")
	data, err := st.store.ReadAll(desc.Digest, maxJSONSize)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := bytes.Replace(data, []byte(`"schemaVersion":2`), []byte(`"schemaVersion":3`), 1)
	if bytes.Equal(corrupt, data) {
		t.Fatal("test did not alter the manifest")
	}
	p := st.store.Path(desc.Digest)
	if err := chmodWrite(p, corrupt); err != nil {
		t.Fatal(err)
	}
	var mm *oci.DigestMismatchError
	if _, err := Load(context.Background(), st.store, desc); !errors.As(err, &mm) {
		t.Fatalf("err = %v, want a DigestMismatchError", err)
	}
}
