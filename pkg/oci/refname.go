package oci

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Annotation keys on index entries. AnnotationImageName is containerd's key
// for the full image name, which BuildKit writes next to the OCI ref name.
const (
	AnnotationImageName = "io.containerd.image.name"
	AnnotationRefName   = "org.opencontainers.image.ref.name"
)

// ImageName is a parsed image reference such as "alpine",
// "ghcr.io/org/app:v1" or "localhost:5000/app@sha256:...".
type ImageName struct {
	// Domain is the registry host, "docker.io" when the name has none.
	Domain string
	// Path is the repository path, with "library/" added for single-part
	// Docker Hub names.
	Path string
	// Tag is the tag; "latest" when the name has neither tag nor digest.
	Tag string
	// Digest is the pinned digest, if any.
	Digest digest.Digest
}

// String returns the fully qualified name ("docker.io/library/alpine:latest").
func (n ImageName) String() string {
	s := n.Domain + "/" + n.Path
	if n.Tag != "" {
		s += ":" + n.Tag
	}
	if n.Digest != "" {
		s += "@" + n.Digest.String()
	}
	return s
}

// RefName returns the value BuildKit puts in org.opencontainers.image.ref.name:
// the part after the repository ("latest", "@sha256:...", "v1@sha256:...").
func (n ImageName) RefName() string {
	switch {
	case n.Tag != "" && n.Digest != "":
		return n.Tag + "@" + n.Digest.String()
	case n.Digest != "":
		return "@" + n.Digest.String()
	}
	return n.Tag
}

var (
	pathComponentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	tagRE           = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	domainRE        = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?))*(?::[0-9]+)?$|^\[[0-9A-Fa-f:]+\](?::[0-9]+)?$`)
)

// maxNameLength bounds the repository part, as registries do.
const maxNameLength = 255

// ParseImageName parses and normalizes an image reference the way Docker
// does for -t values: a missing registry means Docker Hub, single-part Hub
// names get "library/", and a name with neither tag nor digest gets
// "latest".
func ParseImageName(s string) (ImageName, error) {
	var n ImageName
	rest := s
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		d := digest.Digest(rest[i+1:])
		if err := d.Validate(); err != nil {
			return ImageName{}, fmt.Errorf("parsing image name %q: invalid digest: %w", s, err)
		}
		n.Digest = d
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[i+1:], "/") {
		n.Tag = rest[i+1:]
		rest = rest[:i]
		if !tagRE.MatchString(n.Tag) {
			return ImageName{}, fmt.Errorf("parsing image name %q: invalid tag %q", s, n.Tag)
		}
	}
	if rest == "" {
		return ImageName{}, fmt.Errorf("parsing image name %q: empty repository", s)
	}
	if first, remainder, ok := strings.Cut(rest, "/"); ok &&
		(strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first) {
		if !domainRE.MatchString(first) {
			return ImageName{}, fmt.Errorf("parsing image name %q: invalid registry %q", s, first)
		}
		n.Domain, n.Path = first, remainder
	} else {
		n.Domain, n.Path = "docker.io", rest
	}
	if n.Domain == "index.docker.io" {
		n.Domain = "docker.io"
	}
	if n.Domain == "docker.io" && !strings.Contains(n.Path, "/") {
		n.Path = "library/" + n.Path
	}
	if len(n.Domain)+1+len(n.Path) > maxNameLength {
		return ImageName{}, fmt.Errorf("parsing image name %q: repository name longer than %d characters", s, maxNameLength)
	}
	for _, c := range strings.Split(n.Path, "/") {
		if !pathComponentRE.MatchString(c) {
			if strings.ToLower(c) != c {
				return ImageName{}, fmt.Errorf("parsing image name %q: repository name must be lowercase", s)
			}
			return ImageName{}, fmt.Errorf("parsing image name %q: invalid repository component %q", s, c)
		}
	}
	if n.Tag == "" && n.Digest == "" {
		n.Tag = "latest"
	}
	return n, nil
}
