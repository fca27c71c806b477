package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Checking every build's output, an OCI image layout directory.

// validateLayout checks that dir is an OCI image layout that skopeo reads,
// holding one image manifest whose config and gzip layers are all there
// with the sizes and digests it names.
func validateLayout(ctx context.Context, dir string) error {
	raw, err := output(ctx, "skopeo", "inspect", "--raw", "oci:"+dir)
	if err != nil {
		return err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return fmt.Errorf("parsing manifest: %w", err)
	}
	if m.MediaType != ocispec.MediaTypeImageManifest {
		return fmt.Errorf("manifest media type %q, want %q", m.MediaType, ocispec.MediaTypeImageManifest)
	}
	if len(m.Layers) == 0 {
		return errors.New("manifest has no layers")
	}
	cfg, err := readBlob(dir, m.Config)
	if err != nil {
		return err
	}
	var img ocispec.Image
	if err := json.Unmarshal(cfg, &img); err != nil {
		return fmt.Errorf("parsing config: %w", err)
	}
	if len(img.RootFS.DiffIDs) != len(m.Layers) {
		return fmt.Errorf("config lists %d diff IDs for %d layers", len(img.RootFS.DiffIDs), len(m.Layers))
	}
	for _, l := range m.Layers {
		if l.MediaType != ocispec.MediaTypeImageLayerGzip {
			return fmt.Errorf("layer %s has media type %q, want gzip", l.Digest, l.MediaType)
		}
		if err := verifyBlob(dir, l); err != nil {
			return err
		}
	}
	return nil
}

// blobPath is where an OCI layout at dir keeps the blob of d.
func blobPath(dir string, d ocispec.Descriptor) (string, error) {
	if err := d.Digest.Validate(); err != nil {
		return "", fmt.Errorf("descriptor digest: %w", err)
	}
	return filepath.Join(dir, "blobs", d.Digest.Algorithm().String(), d.Digest.Encoded()), nil
}

// readBlob reads the blob of d and checks its size and digest.
func readBlob(dir string, d ocispec.Descriptor) ([]byte, error) {
	p, err := blobPath(dir, d)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading blob: %w", err)
	}
	if int64(len(b)) != d.Size || digest.FromBytes(b) != d.Digest {
		return nil, fmt.Errorf("blob %s does not match its descriptor", d.Digest)
	}
	return b, nil
}

// verifyBlob checks the blob of d's size and digest, streaming it.
func verifyBlob(dir string, d ocispec.Descriptor) error {
	p, err := blobPath(dir, d)
	if err != nil {
		return err
	}
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("opening blob: %w", err)
	}
	defer f.Close()
	v := d.Digest.Verifier()
	n, err := io.Copy(v, f)
	if err != nil {
		return fmt.Errorf("reading blob %s: %w", d.Digest, err)
	}
	if n != d.Size || !v.Verified() {
		return fmt.Errorf("blob %s does not match its descriptor (%d bytes, descriptor says %d)", d.Digest, n, d.Size)
	}
	return nil
}
