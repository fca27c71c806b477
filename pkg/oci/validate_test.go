package oci

import (
	"context"
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/layer"
)

func TestValidate(t *testing.T) {
	mismatch := &DigestMismatchError{}
	tests := []struct {
		name        string
		compression layer.Compression
		mutate      func(t *testing.T, img *Image)
		wantErr     error
	}{
		{name: "valid gzip", compression: layer.Gzip},
		{name: "valid zstd", compression: layer.Zstd},
		{name: "valid uncompressed", compression: layer.Uncompressed},
		{name: "docker media type", compression: layer.Gzip, mutate: func(_ *testing.T, img *Image) {
			img.Layers[0].MediaType = mediaTypeDockerLayerGzip
		}},
		{name: "wrong diff ID", compression: layer.Gzip, wantErr: mismatch, mutate: func(_ *testing.T, img *Image) {
			img.Config.RootFS.DiffIDs[1] = img.Config.RootFS.DiffIDs[0]
		}},
		{name: "wrong diff ID zstd", compression: layer.Zstd, wantErr: mismatch, mutate: func(_ *testing.T, img *Image) {
			img.Config.RootFS.DiffIDs[0] = digest.FromString("not the tar")
		}},
		{name: "missing blob", compression: layer.Gzip, wantErr: ErrNotFound, mutate: func(_ *testing.T, img *Image) {
			img.Layers[1].Digest = digest.FromString("absent")
		}},
		{name: "wrong size", compression: layer.Gzip, wantErr: mismatch, mutate: func(_ *testing.T, img *Image) {
			img.Layers[0].Size++
		}},
		{name: "tampered blob", compression: layer.Uncompressed, wantErr: mismatch, mutate: func(t *testing.T, img *Image) {
			p := img.Store.Path(img.Layers[0].Digest)
			data, err := img.Store.ReadAll(img.Layers[0].Digest, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)-1] ^= 1 // inside the tar's zero padding: still a valid tar
			rewrite(t, p, data)
		}},
		{name: "compression does not match media type", compression: layer.Zstd, wantErr: errAny, mutate: func(_ *testing.T, img *Image) {
			img.Layers[0].MediaType = ocispec.MediaTypeImageLayerGzip
		}},
		{name: "unknown media type", compression: layer.Gzip, wantErr: ErrInvalid, mutate: func(_ *testing.T, img *Image) {
			img.Layers[0].MediaType = "application/octet-stream"
		}},
		{name: "missing diff ID", compression: layer.Gzip, wantErr: ErrInvalid, mutate: func(_ *testing.T, img *Image) {
			img.Config.RootFS.DiffIDs = img.Config.RootFS.DiffIDs[:1]
		}},
		{name: "history misses a layer", compression: layer.Gzip, wantErr: ErrInvalid, mutate: func(_ *testing.T, img *Image) {
			img.Config.History = img.Config.History[:len(img.Config.History)-1]
		}},
		{name: "history has an extra layer", compression: layer.Gzip, wantErr: ErrInvalid, mutate: func(_ *testing.T, img *Image) {
			img.Config.History[0].EmptyLayer = false
		}},
		{name: "no history at all", compression: layer.Gzip, mutate: func(_ *testing.T, img *Image) {
			img.Config.History = nil
		}},
		{name: "rootfs type", compression: layer.Gzip, wantErr: ErrInvalid, mutate: func(_ *testing.T, img *Image) {
			img.Config.RootFS.Type = "layered"
		}},
		{name: "no architecture", compression: layer.Gzip, wantErr: ErrInvalid, mutate: func(_ *testing.T, img *Image) {
			img.Config.Architecture = ""
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := testImage(t, newStore(t), tc.compression, baseLayer(), upperLayer())
			if tc.mutate != nil {
				tc.mutate(t, img)
			}
			err := Validate(context.Background(), img)
			switch want := tc.wantErr; {
			case want == nil:
				if err != nil {
					t.Fatal(err)
				}
			case want == errAny:
				if err == nil {
					t.Fatal("Validate accepted a broken image")
				}
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
		})
	}
}

func TestValidateCanceled(t *testing.T) {
	img := testImage(t, newStore(t), layer.Gzip, baseLayer())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Validate(ctx, img); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// errAny marks a test case that only needs some error.
var errAny = errors.New("any error")
