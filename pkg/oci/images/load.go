package images

import (
	"context"
	"fmt"
	"slices"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/oci"
)

// Load reads the image manifest desc names and its config from s and
// returns the image. OCI and Docker schema 2 manifests and configs are
// accepted. Both documents are checked against their digests and sizes
// and limited to 8 MiB; layer blobs are not read (oci.Validate does that).
// An image index is refused with an error wrapping oci.ErrInvalid: pick
// the platform's manifest first. A missing blob gives an error wrapping
// ErrNotFound.
func Load(ctx context.Context, s *oci.Store, desc ocispec.Descriptor) (*oci.Image, error) {
	if s == nil {
		return nil, fmt.Errorf("loading image %s: %w: no store", desc.Digest, oci.ErrInvalid)
	}
	img, err := load(ctx, s, desc)
	if err != nil {
		return nil, fmt.Errorf("loading image %s: %w", desc.Digest, err)
	}
	img.Store = s
	return img, nil
}

// load reads the image from src; the caller sets the returned image's Store.
func load(ctx context.Context, src blobSource, desc ocispec.Descriptor) (*oci.Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if oci.IsIndexMediaType(desc.MediaType) {
		return nil, fmt.Errorf("%w: %s is an image index, not a manifest", oci.ErrInvalid, desc.MediaType)
	}
	if desc.MediaType != "" && !oci.IsManifestMediaType(desc.MediaType) {
		return nil, fmt.Errorf("%w: unsupported manifest media type %q", oci.ErrInvalid, desc.MediaType)
	}
	var m ocispec.Manifest
	if err := readJSON(src, desc, &m); err != nil {
		return nil, err
	}
	if err := checkDocType(desc, m.MediaType); err != nil {
		return nil, err
	}
	if desc.MediaType == "" && m.MediaType != "" && !oci.IsManifestMediaType(m.MediaType) {
		return nil, fmt.Errorf("%w: unsupported manifest media type %q", oci.ErrInvalid, m.MediaType)
	}
	if m.SchemaVersion != 2 {
		return nil, fmt.Errorf("%w: manifest schema version %d, want 2", oci.ErrInvalid, m.SchemaVersion)
	}
	if !oci.IsConfigMediaType(m.Config.MediaType) {
		return nil, fmt.Errorf("%w: unsupported config media type %q", oci.ErrInvalid, m.Config.MediaType)
	}
	for i, l := range m.Layers {
		if err := checkDigest(l.Digest); err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		if l.Size < 0 {
			return nil, fmt.Errorf("layer %d: %w: negative size", i, oci.ErrInvalid)
		}
	}
	var cfg dockerspec.DockerOCIImage
	if err := readJSON(src, m.Config, &cfg); err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if n, k := len(m.Layers), len(cfg.RootFS.DiffIDs); n != k {
		return nil, fmt.Errorf("%w: %d layers but %d diff IDs", oci.ErrInvalid, n, k)
	}
	return &oci.Image{Config: cfg, Layers: slices.Clone(m.Layers)}, nil
}
