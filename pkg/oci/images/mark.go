package images

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/oci"
)

// keepSet is what the mark phase found: blobs and extracted layer
// directories, both by digest.
type keepSet struct {
	blobs   map[digest.Digest]bool
	diffIDs map[digest.Digest]bool
}

// mark collects every blob and diff ID reachable from the index's images
// and from opts' roots.
func mark(ctx context.Context, s *oci.Store, images map[string]ocispec.Descriptor, opts PruneOptions) (keepSet, error) {
	keep := keepSet{blobs: map[digest.Digest]bool{}, diffIDs: map[digest.Digest]bool{}}
	w := newWalker(s, func(r reached) {
		keep.blobs[r.Desc.Digest] = true
		if r.Config != nil {
			for _, d := range r.Config.RootFS.DiffIDs {
				keep.diffIDs[d] = true
			}
		}
	})
	for _, name := range sortedNames(images) {
		if err := w.walk(ctx, images[name]); err != nil {
			return keepSet{}, fmt.Errorf("marking image %s: %w", name, err)
		}
	}
	if opts.KeepImages != nil {
		for desc := range opts.KeepImages {
			if err := w.walk(ctx, desc); err != nil && !errors.Is(err, oci.ErrNotFound) {
				return keepSet{}, fmt.Errorf("marking kept image %s: %w", desc.Digest, err)
			}
		}
	}
	if opts.KeepBlobs != nil {
		for d := range opts.KeepBlobs {
			keep.blobs[d] = true
		}
	}
	if opts.KeepLayerDirs != nil {
		for d := range opts.KeepLayerDirs {
			keep.diffIDs[d] = true
		}
	}
	return keep, ctx.Err()
}
