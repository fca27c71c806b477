package images

import (
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/oci"
)

// resolve finds the image ref names among images, the way docker resolves
// image arguments:
//
//   - a full digest ("sha256:<64 hex>") matches the image with that
//     manifest digest;
//   - a name ("app", "app:1", "ghcr.io/o/app:1") is normalized and looked
//     up; a name with a digest ("app@sha256:…") matches an image of that
//     repository (and tag, if given) with that manifest digest;
//   - failing that, hex digits, with or without "sha256:", are a prefix
//     of a manifest digest (an image ID), which must be unique.
//
// Several names for the same manifest are one image, not an ambiguity.
func resolve(images map[string]ocispec.Descriptor, ref string) (ocispec.Descriptor, error) {
	if d, err := digest.Parse(ref); err == nil {
		if desc, ok := byDigest(images, func(got digest.Digest) bool { return got == d }); ok {
			return desc, nil
		}
		return ocispec.Descriptor{}, fmt.Errorf("image %s: %w", ref, oci.ErrNotFound)
	}
	if n, err := oci.ParseImageName(ref); err == nil {
		if desc, ok := byName(images, n); ok {
			return desc, nil
		}
	}
	if prefix, ok := idPrefix(ref); ok {
		return byPrefix(images, ref, prefix)
	}
	return ocispec.Descriptor{}, fmt.Errorf("image %s: %w", ref, oci.ErrNotFound)
}

// byName looks up a parsed name.
func byName(images map[string]ocispec.Descriptor, n oci.ImageName) (ocispec.Descriptor, bool) {
	if n.Digest == "" {
		desc, ok := images[n.String()]
		return desc, ok
	}
	if n.Tag != "" {
		desc, ok := images[oci.ImageName{Domain: n.Domain, Path: n.Path, Tag: n.Tag}.String()]
		return desc, ok && desc.Digest == n.Digest
	}
	repo := n.Domain + "/" + n.Path + ":"
	for _, name := range sortedNames(images) {
		if strings.HasPrefix(name, repo) && images[name].Digest == n.Digest {
			return images[name], true
		}
	}
	return ocispec.Descriptor{}, false
}

// byDigest returns the image, first by name, whose digest match accepts.
func byDigest(images map[string]ocispec.Descriptor, match func(digest.Digest) bool) (ocispec.Descriptor, bool) {
	for _, name := range sortedNames(images) {
		if match(images[name].Digest) {
			return images[name], true
		}
	}
	return ocispec.Descriptor{}, false
}

// byPrefix finds the single manifest whose hex digest starts with prefix.
func byPrefix(images map[string]ocispec.Descriptor, ref, prefix string) (ocispec.Descriptor, error) {
	var found []ocispec.Descriptor
	for _, name := range sortedNames(images) {
		desc := images[name]
		if !strings.HasPrefix(desc.Digest.Encoded(), prefix) {
			continue
		}
		if !slices.ContainsFunc(found, func(f ocispec.Descriptor) bool { return f.Digest == desc.Digest }) {
			found = append(found, desc)
		}
	}
	switch len(found) {
	case 0:
		return ocispec.Descriptor{}, fmt.Errorf("image %s: %w", ref, oci.ErrNotFound)
	case 1:
		return found[0], nil
	}
	return ocispec.Descriptor{}, fmt.Errorf("image %s: %w: prefix matches %d images", ref, oci.ErrAmbiguous, len(found))
}

// idPrefix returns the hex part of an image ID prefix such as "3f2a" or
// "sha256:3f2a".
func idPrefix(ref string) (string, bool) {
	hex := strings.TrimPrefix(ref, string(digest.SHA256)+":")
	if hex == "" || len(hex) > 64 {
		return "", false
	}
	for _, c := range hex {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", false
		}
	}
	return hex, true
}

func sortedNames(images map[string]ocispec.Descriptor) []string {
	names := make([]string, 0, len(images))
	for name := range images {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
