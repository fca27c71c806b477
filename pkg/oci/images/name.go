package images

import (
	"fmt"

	"github.com/ocibuilder/builder/pkg/oci"
)

// tagName returns the normalized form of a name an image can be tagged
// with ("app" → "docker.io/library/app:latest"). Names pinned to a digest
// are refused: a digest is what a tag points to, not part of it.
func tagName(s string) (string, error) {
	n, err := oci.ParseImageName(s)
	if err != nil {
		return "", fmt.Errorf("%w: %w", oci.ErrInvalid, err)
	}
	if n.Digest != "" {
		return "", fmt.Errorf("%w: image name %q carries a digest; tag names cannot", oci.ErrInvalid, s)
	}
	return n.String(), nil
}
