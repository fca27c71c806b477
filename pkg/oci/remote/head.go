package remote

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Head returns the descriptor of the manifest ref resolves to for
// platform, as Pull would choose it, without downloading any layer: a
// HEAD request when ref names a manifest, and the index itself when it
// names an index. Comparing its digest with a pulled image's manifest
// digest tells whether the pull is still current. Errors are those of
// Pull.
func Head(ctx context.Context, ref string, platform ocispec.Platform, o Options) (ocispec.Descriptor, error) {
	desc, err := head(ctx, ref, platform, o)
	if err != nil {
		return ocispec.Descriptor{}, wrapErr("resolving", ref, err)
	}
	return desc, nil
}

func head(ctx context.Context, ref string, platform ocispec.Platform, o Options) (ocispec.Descriptor, error) {
	r, err := parseReference(ref, o)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	p, err := remote.NewPuller(o.remoteOptions(nil)...)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("configuring registry client: %w", err)
	}
	desc, _, err := resolve(ctx, p, r, platform, o, false)
	return desc, err
}
