package oci

import (
	"context"
	"encoding/json"
	"fmt"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Image is a single-platform image whose blobs live in a Store.
type Image struct {
	// Config is the image configuration. Config.RootFS.DiffIDs lists the
	// uncompressed digests of Layers, in the same order.
	Config dockerspec.DockerOCIImage
	// Layers are the layer blobs, base layer first.
	Layers []ocispec.Descriptor
	// Store holds the layer blobs and receives the config and manifest.
	Store *Store
}

// maxJSONSize bounds every manifest, index and config this package reads,
// so that a hostile input cannot make it allocate without limit.
const maxJSONSize = 8 << 20

// Platform returns the platform the config describes.
func (img *Image) Platform() ocispec.Platform {
	return ocispec.Platform{
		OS:           img.Config.OS,
		Architecture: img.Config.Architecture,
		Variant:      img.Config.Variant,
		OSVersion:    img.Config.OSVersion,
		OSFeatures:   append([]string(nil), img.Config.OSFeatures...),
	}
}

// ConfigJSON returns the serialized config, as stored in the config blob.
// encoding/json output is deterministic for a given value (struct field
// order, sorted map keys), so equal configs give equal digests.
func (img *Image) ConfigJSON() ([]byte, error) {
	cfg := img.Config
	// The spec requires the array even for an image without layers; a nil
	// slice would be written as null.
	if cfg.RootFS.DiffIDs == nil {
		cfg.RootFS.DiffIDs = []digest.Digest{}
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding image config: %w", err)
	}
	return data, nil
}

// Manifest stores the config blob and the image manifest in img.Store and
// returns the manifest's descriptor (with the config's platform) and bytes.
func (img *Image) Manifest(ctx context.Context) (ocispec.Descriptor, []byte, error) {
	desc, data, _, err := img.storeManifest(ctx)
	return desc, data, err
}

// storeManifest is Manifest that also returns the config descriptor.
func (img *Image) storeManifest(ctx context.Context) (ocispec.Descriptor, []byte, ocispec.Descriptor, error) {
	fail := func(err error) (ocispec.Descriptor, []byte, ocispec.Descriptor, error) {
		return ocispec.Descriptor{}, nil, ocispec.Descriptor{}, err
	}
	if img.Store == nil {
		return fail(fmt.Errorf("building manifest: %w: image has no store", ErrInvalid))
	}
	if n, m := len(img.Layers), len(img.Config.RootFS.DiffIDs); n != m {
		return fail(fmt.Errorf("building manifest: %w: %d layers but %d diff IDs", ErrInvalid, n, m))
	}
	cfgJSON, err := img.ConfigJSON()
	if err != nil {
		return fail(err)
	}
	cfgDesc, err := img.Store.Put(ctx, ocispec.MediaTypeImageConfig, cfgJSON)
	if err != nil {
		return fail(fmt.Errorf("storing image config: %w", err))
	}
	layers := make([]ocispec.Descriptor, len(img.Layers))
	for i, l := range img.Layers {
		if err := checkDigest(l.Digest); err != nil {
			return fail(fmt.Errorf("building manifest: layer %d: %w", i, err))
		}
		// A platform on a layer means nothing, and Docker layer media types
		// name the same bytes as their OCI equivalents, so the manifest
		// is written in pure OCI terms.
		l.Platform = nil
		l.MediaType = ociLayerMediaType(l.MediaType)
		layers[i] = l
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfgDesc,
		Layers:    layers,
	}
	data, err := json.Marshal(m)
	if err != nil {
		return fail(fmt.Errorf("encoding image manifest: %w", err))
	}
	desc, err := img.Store.Put(ctx, ocispec.MediaTypeImageManifest, data)
	if err != nil {
		return fail(fmt.Errorf("storing image manifest: %w", err))
	}
	p := img.Platform()
	desc.Platform = &p
	return desc, data, cfgDesc, nil
}
