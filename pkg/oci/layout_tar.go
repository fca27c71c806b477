package oci

import (
	"context"
	"path"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// writeLayoutTar writes the entries of the layout plan describes to a,
// its blobs read from s.
func writeLayoutTar(ctx context.Context, s *Store, a *archiveWriter, plan *layoutPlan) error {
	for _, f := range []namedFile{{ocispec.ImageLayoutFile, plan.ociLayout}, {ocispec.ImageIndexFile, plan.index}} {
		if err := a.file(f.name, f.data); err != nil {
			return err
		}
	}
	if err := a.blobDirs(); err != nil {
		return err
	}
	for _, b := range plan.blobs {
		if err := a.blob(ctx, s, b, path.Join(ocispec.ImageBlobsDir, "sha256", b.Digest.Encoded())); err != nil {
			return err
		}
	}
	return nil
}
