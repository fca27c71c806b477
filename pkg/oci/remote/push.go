package remote

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/oci"
)

// Push uploads img from its store to ref and returns the manifest's
// descriptor. The manifest pushed is the one img.Manifest writes, byte
// for byte, so its digest equals the image's local manifest digest.
//
// Blobs the repository already has are skipped (go-containerregistry asks
// with HEAD first), blobs missing there are mounted from the first
// Options.MountFrom repository on the same registry when one is given,
// and the rest are uploaded, several at a time. Transient failures are
// retried. Errors name ref and wrap ErrNotFound, ErrUnauthorized or
// ErrDigestMismatch where they apply; a blob that no longer matches its
// digest in the store fails the push instead of being uploaded.
func Push(ctx context.Context, img *oci.Image, ref string, o Options) (ocispec.Descriptor, error) {
	desc, err := push(ctx, img, ref, o)
	if err != nil {
		return ocispec.Descriptor{}, wrapErr("pushing", ref, err)
	}
	return desc, nil
}

func push(ctx context.Context, img *oci.Image, ref string, o Options) (ocispec.Descriptor, error) {
	if img == nil || img.Store == nil {
		return ocispec.Descriptor{}, errNoStore
	}
	r, err := parseReference(ref, o)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc, raw, err := img.Manifest(ctx)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if d, ok := r.(name.Digest); ok && d.DigestStr() != desc.Digest.String() {
		return ocispec.Descriptor{}, fmt.Errorf("%w: reference pins %s but the image's manifest is %s", ErrDigestMismatch, d.DigestStr(), desc.Digest)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("decoding manifest %s: %w", desc.Digest, err)
	}
	cfg, err := img.Store.ReadAll(m.Config.Digest, maxDocumentSize)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("reading config %s: %w", m.Config.Digest, err)
	}
	rep := newReporter(o.Progress, ref)
	rep.sizes = map[digest.Digest]int64{m.Config.Digest: m.Config.Size}
	blobs := map[digest.Digest]ocispec.Descriptor{}
	for _, l := range m.Layers {
		blobs[l.Digest] = l
		rep.sizes[l.Digest] = l.Size
	}
	core := &storeImage{ctx: ctx, store: img.Store, manifest: raw, mediaType: m.MediaType, config: cfg, configDesc: m.Config, layers: blobs, rep: rep}
	v1img, err := partial.CompressedToImage(core)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("adapting image: %w", err)
	}
	if src, ok := mountSource(r.Context(), o); ok {
		v1img = &mountingImage{Image: v1img, from: src}
	}
	p, err := remote.NewPusher(o.remoteOptions(rep)...)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("configuring registry client: %w", err)
	}
	if err := p.Push(ctx, r, v1img); err != nil {
		return ocispec.Descriptor{}, err
	}
	desc.MediaType = m.MediaType
	return desc, nil
}

// mountSource picks the first MountFrom repository on target's registry
// other than target itself.
func mountSource(target name.Repository, o Options) (name.Repository, bool) {
	for _, s := range o.MountFrom {
		repo, err := parseRepository(s, o)
		if err != nil {
			continue // a hint only: a bad one costs an upload, not the push
		}
		if repo.RegistryStr() == target.RegistryStr() && repo.RepositoryStr() != target.RepositoryStr() {
			return repo, true
		}
	}
	return name.Repository{}, false
}
