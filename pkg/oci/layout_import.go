package oci

import (
	"context"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/internal/platforms"
)

// importImage copies the manifest's config and layers into s.
func importImage(ctx context.Context, lr layoutReader, desc ocispec.Descriptor, want ocispec.Platform, s *Store) (*Image, error) {
	m, err := lr.readManifest(desc)
	if err != nil {
		return nil, err
	}
	cfg, err := lr.readConfig(m.Config)
	if err != nil {
		return nil, err
	}
	img := &Image{Config: cfg, Store: s}
	if (want.OS != "" || want.Architecture != "") && !PlatformMatches(want, img.Platform()) {
		return nil, fmt.Errorf("%w: manifest %s is for %s, not %s", ErrInvalid, desc.Digest, platforms.Format(img.Platform()), platforms.Format(want))
	}
	if cfg.RootFS.Type != "layers" {
		return nil, fmt.Errorf("%w: config %s has rootfs type %q", ErrInvalid, m.Config.Digest, cfg.RootFS.Type)
	}
	if len(m.Layers) != len(cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("%w: manifest %s has %d layers but its config %d diff IDs", ErrInvalid, desc.Digest, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	for i, l := range m.Layers {
		if compressionOf(l.MediaType) == compressionUnknown {
			return nil, fmt.Errorf("%w: layer %d has unsupported media type %q", ErrInvalid, i, l.MediaType)
		}
		if err := lr.importBlob(ctx, l, s); err != nil {
			return nil, fmt.Errorf("importing layer %d: %w", i, err)
		}
		img.Layers = append(img.Layers, ocispec.Descriptor{
			MediaType:   ociLayerMediaType(l.MediaType),
			Digest:      l.Digest,
			Size:        l.Size,
			Annotations: l.Annotations,
		})
	}
	return img, nil
}
