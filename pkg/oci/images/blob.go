package images

import (
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/oci"
)

// maxJSONSize bounds every manifest, index and config read from the store,
// so that a damaged or hostile blob cannot make us allocate without limit.
const maxJSONSize = 8 << 20

// checkDigest accepts only well-formed sha256 digests, the only kind the
// store holds.
func checkDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %q: %w: %w", d, oci.ErrInvalid, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return fmt.Errorf("digest %q: %w: only sha256 is supported", d, oci.ErrInvalid)
	}
	return nil
}

// blobSource is where manifests, indexes and configs are read from. It is
// satisfied by *oci.Store, whose ReadAll verifies the digest and limits the
// size; tests substitute an in-memory source.
type blobSource interface {
	ReadAll(d digest.Digest, max int64) ([]byte, error)
}

// readJSON reads the blob desc names, checking its digest and its size
// against the descriptor, and decodes it into v.
func readJSON(s blobSource, desc ocispec.Descriptor, v any) error {
	if err := checkDigest(desc.Digest); err != nil {
		return err
	}
	data, err := s.ReadAll(desc.Digest, maxJSONSize)
	if err != nil {
		return err
	}
	if int64(len(data)) != desc.Size {
		return fmt.Errorf("reading blob %s: %w", desc.Digest,
			&oci.DigestMismatchError{Expected: desc.Digest, Actual: desc.Digest, ExpectedSize: desc.Size, ActualSize: int64(len(data))})
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decoding blob %s: %w: %w", desc.Digest, oci.ErrInvalid, err)
	}
	return nil
}

// document holds the fields shared by manifests and indexes that decide
// how to treat one.
type document struct {
	MediaType string `json:"mediaType"`
}

// checkDocType rejects a document whose own media type contradicts the
// descriptor that led to it.
func checkDocType(desc ocispec.Descriptor, inDoc string) error {
	if inDoc != "" && desc.MediaType != "" && inDoc != desc.MediaType {
		return fmt.Errorf("blob %s: %w: descriptor says %q but document says %q", desc.Digest, oci.ErrInvalid, desc.MediaType, inDoc)
	}
	return nil
}
