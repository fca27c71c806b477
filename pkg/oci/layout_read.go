package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxIndexDepth bounds nested image indexes; real images use one level.
const maxIndexDepth = 4

// maxIndexEntries bounds how many manifests a layout may list in total.
const maxIndexEntries = 4096

// ReadLayout imports one image from the OCI image layout directory dir
// into s and returns it.
//
// ref selects the image: "" means the only image in the layout; a name is
// matched against the org.opencontainers.image.ref.name and
// io.containerd.image.name annotations (so both "v1" and "app:v1" work); a
// "sha256:..." digest names a manifest or index directly. The image
// manifests ref leads to, through nested indexes, are chosen from by
// ChooseManifest's rule for platform; with an empty platform they must be
// exactly one. Attestation manifests that BuildKit adds to indexes are
// never selected.
//
// Every blob is copied (never linked, since the layout may change later)
// and checked against its digest and size. JSON documents are limited to
// 8 MiB. Errors name dir and ref and wrap ErrNotFound (ErrPlatformNotFound
// for a platform the layout lacks), ErrAmbiguous,
// ErrInvalid, ErrTooLarge or *DigestMismatchError.
func ReadLayout(ctx context.Context, dir, ref string, platform ocispec.Platform, s *Store) (*Image, error) {
	img, err := readLayout(ctx, layoutReader{dir: dir}, ref, platform, s)
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s (ref %q): %w", dir, ref, err)
	}
	return img, nil
}

func readLayout(ctx context.Context, lr layoutReader, ref string, platform ocispec.Platform, s *Store) (*Image, error) {
	if err := lr.checkLayoutFile(); err != nil {
		return nil, err
	}
	indexJSON, err := lr.readFile(ocispec.ImageIndexFile, maxJSONSize)
	if err != nil {
		return nil, err
	}
	var index ocispec.Index
	if err := json.Unmarshal(indexJSON, &index); err != nil {
		return nil, fmt.Errorf("decoding %s: %w: %w", ocispec.ImageIndexFile, ErrInvalid, err)
	}
	roots, err := selectRoots(ctx, lr, index.Manifests, ref)
	if err != nil {
		return nil, err
	}
	leaves, err := expandManifests(ctx, lr, roots)
	if err != nil {
		return nil, err
	}
	chosen, err := choosePlatform(ctx, lr, leaves, platform)
	if err != nil {
		return nil, err
	}
	return importImage(ctx, lr, chosen, platform, s)
}

// selectRoots returns the index entries ref names.
func selectRoots(ctx context.Context, lr layoutReader, entries []ocispec.Descriptor, ref string) ([]ocispec.Descriptor, error) {
	if len(entries) > maxIndexEntries {
		return nil, fmt.Errorf("%w: index lists %d manifests", ErrTooLarge, len(entries))
	}
	if ref == "" {
		if len(entries) == 0 {
			return nil, fmt.Errorf("%w: index lists no manifests", ErrNotFound)
		}
		return entries, nil
	}
	if d, err := digest.Parse(ref); err == nil {
		return findDigest(ctx, lr, entries, d)
	}
	var full string
	if n, err := ParseImageName(ref); err == nil {
		full = n.String()
	}
	var out []ocispec.Descriptor
	for _, e := range entries {
		a := e.Annotations
		if a[AnnotationRefName] == ref || a[AnnotationImageName] == ref || (full != "" && a[AnnotationImageName] == full) {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no index entry named %q", ErrNotFound, ref)
	}
	return out, nil
}

// findDigest finds d among entries or inside the indexes they list,
// reading each nested index once however often it is listed.
func findDigest(ctx context.Context, lr layoutReader, entries []ocispec.Descriptor, d digest.Digest) ([]ocispec.Descriptor, error) {
	seen := map[digest.Digest]bool{}
	level := entries
	for depth := 0; len(level) > 0; depth++ {
		var next []ocispec.Descriptor
		for _, e := range level {
			if e.Digest == d {
				return []ocispec.Descriptor{e}, nil
			}
		}
		if depth >= maxIndexDepth {
			break
		}
		for _, e := range level {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if !isIndexType(e.MediaType) || seen[e.Digest] {
				continue
			}
			seen[e.Digest] = true
			child, err := lr.readIndex(e)
			if err != nil {
				return nil, err
			}
			next = append(next, child.Manifests...)
			if len(next) > maxIndexEntries {
				return nil, fmt.Errorf("%w: more than %d manifests in nested indexes", ErrTooLarge, maxIndexEntries)
			}
		}
		level = next
	}
	return nil, fmt.Errorf("%w: no manifest with digest %s", ErrNotFound, d)
}

// expandManifests replaces indexes by the image manifests they list, drops
// attestations and duplicates, and keeps the first-seen order.
func expandManifests(ctx context.Context, lr layoutReader, roots []ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	var out []ocispec.Descriptor
	seen := map[digest.Digest]bool{}
	total := 0
	var walk func(entries []ocispec.Descriptor, depth int) error
	walk = func(entries []ocispec.Descriptor, depth int) error {
		total += len(entries)
		if total > maxIndexEntries {
			return fmt.Errorf("%w: more than %d manifests in nested indexes", ErrTooLarge, maxIndexEntries)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			if isAttestation(e) || seen[e.Digest] {
				continue
			}
			seen[e.Digest] = true
			if !isIndexType(e.MediaType) {
				out = append(out, e)
				continue
			}
			if depth >= maxIndexDepth {
				return fmt.Errorf("%w: image indexes nested deeper than %d", ErrInvalid, maxIndexDepth)
			}
			child, err := lr.readIndex(e)
			if err != nil {
				return err
			}
			if err := walk(child.Manifests, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(roots, 0); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no image manifest", ErrNotFound)
	}
	return out, nil
}

// choosePlatform picks the manifest for platform among leaves by
// ChooseManifest's rule, reading the platform of entries that carry none
// from their config.
func choosePlatform(ctx context.Context, lr layoutReader, leaves []ocispec.Descriptor, want ocispec.Platform) (ocispec.Descriptor, error) {
	if want.OS == "" && want.Architecture == "" {
		return ChooseManifest(leaves, want)
	}
	entries := make([]ocispec.Descriptor, len(leaves))
	for i, l := range leaves {
		if err := ctx.Err(); err != nil {
			return ocispec.Descriptor{}, err
		}
		have, err := lr.leafPlatform(l)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		entries[i] = l
		entries[i].Platform = &have
	}
	chosen, err := ChooseManifest(entries, want)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return leaves[slices.IndexFunc(entries, func(e ocispec.Descriptor) bool { return e.Digest == chosen.Digest })], nil
}

func isIndexType(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

func isManifestType(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == MediaTypeDockerManifest
}

// isAttestation recognizes the provenance/SBOM manifests BuildKit puts in
// an index next to the image.
func isAttestation(d ocispec.Descriptor) bool {
	if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}
