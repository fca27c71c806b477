package oci

import (
	"fmt"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/internal/platforms"
)

// ChooseManifest picks the entry of an image index for platform want. It
// is the one rule for every index the builder reads, from a registry or
// from an OCI layout:
//
//   - Attestations (BuildKit's provenance and SBOM manifests) are never
//     chosen, nor listed as offered.
//   - A want with empty OS and architecture names no platform: the
//     entries must then hold exactly one image, else the error wraps
//     ErrAmbiguous (or ErrNotFound for none).
//   - Otherwise an entry is a candidate when PlatformMatches(want, entry);
//     entries without a platform are skipped (callers that can read it
//     from the config fill it in first). The first candidate whose variant
//     also equals want's (after normalisation: "arm" is arm/v7, arm64/v8
//     and amd64/v1 have no variant) wins; failing that, the first
//     candidate. As in docker and containerd, several equal matches are
//     no error: index order decides.
//   - No candidate: the error wraps ErrPlatformNotFound (and so
//     ErrNotFound) and lists the platforms the index offers.
func ChooseManifest(entries []ocispec.Descriptor, want ocispec.Platform) (ocispec.Descriptor, error) {
	if want.OS == "" && want.Architecture == "" {
		var only []ocispec.Descriptor
		for _, e := range entries {
			if !isAttestation(e) {
				only = append(only, e)
			}
		}
		switch len(only) {
		case 0:
			return ocispec.Descriptor{}, fmt.Errorf("%w: no image manifest", ErrNotFound)
		case 1:
			return only[0], nil
		}
		return ocispec.Descriptor{}, fmt.Errorf("%w: %d manifests and no platform given", ErrAmbiguous, len(only))
	}
	wantVariant := normalizePlatform(want).Variant
	first := -1
	var offered []string
	for i, e := range entries {
		if e.Platform == nil || isAttestation(e) {
			continue
		}
		if !PlatformMatches(want, *e.Platform) {
			offered = append(offered, platforms.Format(*e.Platform))
			continue
		}
		if normalizePlatform(*e.Platform).Variant == wantVariant {
			return e, nil
		}
		if first < 0 {
			first = i
		}
	}
	if first >= 0 {
		return entries[first], nil
	}
	slices.Sort(offered)
	offered = slices.Compact(offered)
	list := "none"
	if len(offered) > 0 {
		list = strings.Join(offered, ", ")
	}
	return ocispec.Descriptor{}, fmt.Errorf("%w %s (available: %s)", ErrPlatformNotFound, platforms.Format(want), list)
}
