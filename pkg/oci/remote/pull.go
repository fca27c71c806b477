package remote

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/oci"
)

// Pull downloads the image ref names into store and returns it with the
// descriptor of its manifest, whose digest pins what was pulled.
//
// ref is resolved the way docker resolves it ("alpine" is
// docker.io/library/alpine:latest). An image index is followed to the
// entry for platform, whose empty OS and Architecture mean
// platforms.Default's, chosen by oci.ChooseManifest's rule; a ref naming
// a single manifest is taken whatever its platform. OCI and Docker schema 2 manifests are accepted and layers
// keep their media types.
//
// Every blob streams into the store and is committed only if it matches
// its digest; blobs the store already has are not requested. The raw
// manifest and config are stored too. Transient failures, including a
// connection that breaks off in the middle of a blob, are retried.
// Errors name ref and wrap ErrNotFound, ErrUnauthorized,
// ErrDigestMismatch, ErrPlatformNotFound (which wraps ErrNotFound) or
// ErrUnsupported where they apply.
func Pull(ctx context.Context, ref string, platform ocispec.Platform, store *oci.Store, o Options) (*oci.Image, ocispec.Descriptor, error) {
	img, desc, err := pull(ctx, ref, platform, store, o)
	if err != nil {
		return nil, ocispec.Descriptor{}, wrapErr("pulling", ref, err)
	}
	return img, desc, nil
}

func pull(ctx context.Context, ref string, platform ocispec.Platform, store *oci.Store, o Options) (*oci.Image, ocispec.Descriptor, error) {
	if store == nil {
		return nil, ocispec.Descriptor{}, errNoStore
	}
	r, err := parseReference(ref, o)
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	p, err := remote.NewPuller(o.remoteOptions(nil)...)
	if err != nil {
		return nil, ocispec.Descriptor{}, fmt.Errorf("configuring registry client: %w", err)
	}
	desc, raw, err := resolve(ctx, p, r, platform, o, true)
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	m, err := parseManifest(raw)
	if err != nil {
		return nil, ocispec.Descriptor{}, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	f := &fetcher{puller: p, repo: r.Context(), store: store, opts: o, rep: newReporter(o.Progress, ref)}
	if err := f.fetchAll(ctx, append([]ocispec.Descriptor{m.Config}, m.Layers...)); err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	cfgJSON, err := store.ReadAll(m.Config.Digest, maxDocumentSize)
	if err != nil {
		return nil, ocispec.Descriptor{}, fmt.Errorf("reading config %s: %w", m.Config.Digest, err)
	}
	var cfg dockerspec.DockerOCIImage
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return nil, ocispec.Descriptor{}, fmt.Errorf("decoding config %s: %w: %w", m.Config.Digest, oci.ErrInvalid, err)
	}
	if n, k := len(cfg.RootFS.DiffIDs), len(m.Layers); n != k {
		return nil, ocispec.Descriptor{}, fmt.Errorf("config %s: %w: %d diff IDs for %d layers", m.Config.Digest, oci.ErrInvalid, n, k)
	}
	// The manifest goes in last: once it is in the store, everything it
	// names is too.
	if err := putVerified(ctx, store, desc.Digest, raw); err != nil {
		return nil, ocispec.Descriptor{}, fmt.Errorf("storing manifest %s: %w", desc.Digest, err)
	}
	img := &oci.Image{Config: cfg, Layers: append([]ocispec.Descriptor(nil), m.Layers...), Store: store}
	plat := img.Platform()
	desc.Platform = &plat
	return img, desc, nil
}

// parseManifest decodes and checks an image manifest.
func parseManifest(raw []byte) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, fmt.Errorf("decoding: %w: %w", oci.ErrInvalid, err)
	}
	if m.SchemaVersion != 2 {
		return m, fmt.Errorf("%w: schema version %d", ErrUnsupported, m.SchemaVersion)
	}
	if !oci.IsConfigMediaType(m.Config.MediaType) {
		return m, fmt.Errorf("%w: config media type %q is not an image config", ErrUnsupported, m.Config.MediaType)
	}
	if m.Config.Size < 0 || m.Config.Size > maxDocumentSize {
		return m, fmt.Errorf("config %s: %w: %d bytes", m.Config.Digest, oci.ErrTooLarge, m.Config.Size)
	}
	if err := checkDigest(m.Config.Digest); err != nil {
		return m, fmt.Errorf("config: %w", err)
	}
	for i, l := range m.Layers {
		if !oci.LayerMediaTypeSupported(l.MediaType) {
			return m, fmt.Errorf("layer %d: %w: media type %q", i, ErrUnsupported, l.MediaType)
		}
		if err := checkDigest(l.Digest); err != nil {
			return m, fmt.Errorf("layer %d: %w", i, err)
		}
		if l.Size < 0 {
			return m, fmt.Errorf("layer %d: %w: negative size", i, oci.ErrInvalid)
		}
	}
	return m, nil
}

// checkDigest accepts only well-formed sha256 digests, the only kind the
// store keeps.
func checkDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %q: %w: %w", d, oci.ErrInvalid, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return fmt.Errorf("digest %q: %w: only sha256 is supported", d, ErrUnsupported)
	}
	return nil
}
