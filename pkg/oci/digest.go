package oci

import (
	"fmt"

	"github.com/opencontainers/go-digest"
)

// checkDigest accepts only well-formed sha256 digests. Paths to blobs are
// built from the digest's hex part, so this is what keeps a hostile digest
// string from ever naming a file outside blobs/sha256.
func checkDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %q: %w: %w", d, ErrInvalid, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return fmt.Errorf("digest %q: %w: only sha256 is supported", d, ErrInvalid)
	}
	return nil
}
