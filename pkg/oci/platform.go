package oci

import (
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// normalizePlatform puts a platform in the canonical spelling used by
// containerd and BuildKit, so that "aarch64" matches "arm64" and an arm64
// image without a variant matches a request for "v8".
func normalizePlatform(p ocispec.Platform) ocispec.Platform {
	p.OS = strings.ToLower(p.OS)
	p.Architecture = strings.ToLower(p.Architecture)
	p.Variant = strings.ToLower(p.Variant)
	switch p.Architecture {
	case "x86_64", "x86-64":
		p.Architecture = "amd64"
	case "aarch64":
		p.Architecture = "arm64"
	case "armhf":
		p.Architecture, p.Variant = "arm", "v7"
	case "armel":
		p.Architecture, p.Variant = "arm", "v6"
	}
	switch {
	case p.Architecture == "amd64" && p.Variant == "v1",
		p.Architecture == "arm64" && p.Variant == "v8":
		p.Variant = ""
	case p.Architecture == "arm" && p.Variant == "":
		p.Variant = "v7"
	}
	return p
}

// PlatformMatches reports whether an image for have runs on want. An empty
// want.OS or want.Architecture matches anything; an empty want.Variant
// matches any variant.
func PlatformMatches(want, have ocispec.Platform) bool {
	w, h := normalizePlatform(want), normalizePlatform(have)
	if w.OS != "" && w.OS != h.OS {
		return false
	}
	if w.Architecture != "" && w.Architecture != h.Architecture {
		return false
	}
	if want.Variant != "" && w.Variant != h.Variant {
		return false
	}
	return true
}
