package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/internal/platforms"
	"github.com/ocibuilder/builder/pkg/oci"
)

// maxDocumentSize bounds every manifest, index and config read from a
// registry, so that a hostile one cannot make us allocate without limit.
const maxDocumentSize = 8 << 20

// maxIndexDepth bounds nested indexes; real images use one level.
const maxIndexDepth = 4

// defaultPlatform fills the empty fields of a requested platform from
// platforms.Default: images are chosen to run here.
func defaultPlatform(p ocispec.Platform) ocispec.Platform {
	d := platforms.Default()
	if p.OS == "" {
		p.OS = d.OS
	}
	if p.Architecture == "" {
		p.Architecture = d.Architecture
	}
	return p
}

// getDocument fetches a manifest or index and returns its descriptor
// (digest computed from the bytes) and bytes.
func getDocument(ctx context.Context, p *remote.Puller, r name.Reference, o Options) (ocispec.Descriptor, []byte, error) {
	var d *remote.Descriptor
	err := retry(ctx, o, func() error {
		var err error
		d, err = p.Get(ctx, r)
		return err
	})
	if err != nil {
		// go-containerregistry checks a manifest fetched by digest but
		// reports a mismatch only as text.
		if _, byDigest := r.(name.Digest); byDigest && strings.Contains(err.Error(), "does not match requested digest") {
			return ocispec.Descriptor{}, nil, fmt.Errorf("fetching manifest %s: %w: %w", r.Identifier(), ErrDigestMismatch, err)
		}
		return ocispec.Descriptor{}, nil, err
	}
	if len(d.Manifest) > maxDocumentSize {
		return ocispec.Descriptor{}, nil, fmt.Errorf("fetching manifest %s: %w: %d bytes", r.Identifier(), oci.ErrTooLarge, len(d.Manifest))
	}
	desc := ocispec.Descriptor{
		MediaType: documentType(string(d.MediaType), d.Manifest),
		Digest:    digest.FromBytes(d.Manifest),
		Size:      int64(len(d.Manifest)),
	}
	return desc, d.Manifest, nil
}

// resolve follows r through any image indexes to the manifest for
// platform. With fetchLeaf false it stops at the manifest's descriptor
// (for Head) and returns no bytes, avoiding a download when r names a
// manifest directly.
func resolve(ctx context.Context, p *remote.Puller, r name.Reference, platform ocispec.Platform, o Options, fetchLeaf bool) (ocispec.Descriptor, []byte, error) {
	if !fetchLeaf {
		hd, err := headDocument(ctx, p, r, o)
		if err != nil {
			return ocispec.Descriptor{}, nil, err
		}
		if oci.IsManifestMediaType(hd.MediaType) {
			return hd, nil, nil
		}
	}
	desc, raw, err := getDocument(ctx, p, r, o)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	for depth := 0; ; depth++ {
		if err := ctx.Err(); err != nil {
			return ocispec.Descriptor{}, nil, err
		}
		if !oci.IsIndexMediaType(desc.MediaType) {
			if !oci.IsManifestMediaType(desc.MediaType) {
				return ocispec.Descriptor{}, nil, fmt.Errorf("%w: manifest media type %q", ErrUnsupported, desc.MediaType)
			}
			return desc, raw, nil
		}
		if depth >= maxIndexDepth {
			return ocispec.Descriptor{}, nil, fmt.Errorf("%w: image indexes nested deeper than %d", ErrUnsupported, maxIndexDepth)
		}
		entry, err := choosePlatform(raw, platform)
		if err != nil {
			return ocispec.Descriptor{}, nil, err
		}
		if !fetchLeaf && !oci.IsIndexMediaType(entry.MediaType) {
			return entry, nil, nil
		}
		child := r.Context().Digest(entry.Digest.String())
		desc, raw, err = getDocument(ctx, p, child, o)
		if err != nil {
			return ocispec.Descriptor{}, nil, err
		}
		if desc.Digest != entry.Digest || desc.Size != entry.Size {
			return ocispec.Descriptor{}, nil, fmt.Errorf("fetching manifest %s: %w", entry.Digest, &oci.DigestMismatchError{
				Expected: entry.Digest, Actual: desc.Digest, ExpectedSize: entry.Size, ActualSize: desc.Size,
			})
		}
		desc.Platform = entry.Platform
	}
}

// headDocument asks for a manifest's descriptor without its body,
// falling back to a GET for registries that answer HEAD badly.
func headDocument(ctx context.Context, p *remote.Puller, r name.Reference, o Options) (ocispec.Descriptor, error) {
	var hd ocispec.Descriptor
	err := retry(ctx, o, func() error {
		d, err := p.Head(ctx, r)
		if err != nil {
			return err
		}
		hd = ocispec.Descriptor{MediaType: documentType(string(d.MediaType), nil), Digest: digest.Digest(d.Digest.String()), Size: d.Size}
		return nil
	})
	if err == nil {
		return hd, nil
	}
	if s := sentinel(err); s != nil || ctx.Err() != nil {
		return ocispec.Descriptor{}, err
	}
	desc, _, err := getDocument(ctx, p, r, o)
	return desc, err
}

// choosePlatform returns the entry of index document raw for platform,
// its empty fields filled by defaultPlatform, by oci.ChooseManifest's
// rule. Entries of other media types (artifacts) are left out; a malformed
// digest among the rest makes the index invalid.
func choosePlatform(raw []byte, platform ocispec.Platform) (ocispec.Descriptor, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("decoding image index: %w: %w", oci.ErrInvalid, err)
	}
	var entries []ocispec.Descriptor
	for _, e := range idx.Manifests {
		if e.Platform == nil || e.Annotations[attestationReferenceTypeKey] == attestationReferenceTypeValue {
			continue
		}
		if !oci.IsIndexMediaType(e.MediaType) && !oci.IsManifestMediaType(e.MediaType) {
			continue
		}
		if err := e.Digest.Validate(); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("image index entry %q: %w: %w", e.Digest, oci.ErrInvalid, err)
		}
		entries = append(entries, e)
	}
	return oci.ChooseManifest(entries, defaultPlatform(platform))
}

// errNoStore reports a Pull without a store to pull into.
var errNoStore = errors.New("no store")
