package oci

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Validate checks that img is a consistent image by re-reading its blobs:
// the config declares a "layers" rootfs and a platform; every layer blob is
// in the store with the digest and size its descriptor claims; the sha256 of
// each decompressed layer equals the matching Config.RootFS.DiffIDs entry;
// and when the config has a history, its entries that are not marked
// empty_layer match the layers one for one. Errors wrap ErrInvalid,
// ErrNotFound or *DigestMismatchError.
func Validate(ctx context.Context, img *Image) error {
	if err := validateConfig(img); err != nil {
		return fmt.Errorf("validating image: %w", err)
	}
	for i, l := range img.Layers {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("validating image: %w", err)
		}
		if err := validateLayer(ctx, img.Store, l, img.Config.RootFS.DiffIDs[i]); err != nil {
			return fmt.Errorf("validating image: layer %d (%s): %w", i, l.Digest, err)
		}
	}
	return nil
}

func validateConfig(img *Image) error {
	if img.Store == nil {
		return fmt.Errorf("%w: image has no store", ErrInvalid)
	}
	cfg := &img.Config
	if cfg.RootFS.Type != "layers" {
		return fmt.Errorf("%w: rootfs type is %q, want \"layers\"", ErrInvalid, cfg.RootFS.Type)
	}
	if cfg.OS == "" || cfg.Architecture == "" {
		return fmt.Errorf("%w: config lacks os or architecture", ErrInvalid)
	}
	if n, m := len(img.Layers), len(cfg.RootFS.DiffIDs); n != m {
		return fmt.Errorf("%w: %d layers but %d diff IDs", ErrInvalid, n, m)
	}
	// Images without any history exist (some importers drop it); when there
	// is one it must account for every layer or tools show the wrong steps.
	if len(cfg.History) > 0 {
		nonEmpty := 0
		for _, h := range cfg.History {
			if !h.EmptyLayer {
				nonEmpty++
			}
		}
		if nonEmpty != len(img.Layers) {
			return fmt.Errorf("%w: history has %d entries with a layer but the image has %d layers", ErrInvalid, nonEmpty, len(img.Layers))
		}
	}
	return nil
}

func validateLayer(ctx context.Context, s *Store, l ocispec.Descriptor, diffID digest.Digest) error {
	if err := checkDigest(l.Digest); err != nil {
		return err
	}
	if err := checkDigest(diffID); err != nil {
		return fmt.Errorf("diff ID: %w", err)
	}
	c := compressionOf(l.MediaType)
	if c == compressionUnknown {
		return fmt.Errorf("%w: unknown layer media type %q", ErrInvalid, l.MediaType)
	}
	size, err := s.Size(l.Digest)
	if err != nil {
		return err
	}
	if size != l.Size {
		return &DigestMismatchError{Expected: l.Digest, Actual: l.Digest, ExpectedSize: l.Size, ActualSize: size}
	}
	rc, err := s.Open(l.Digest)
	if err != nil {
		return err
	}
	defer rc.Close()
	raw := ctxReader{ctx: ctx, r: rc}
	plain, release, err := decompressed(raw, c)
	if err != nil {
		return err
	}
	defer release()
	h := sha256.New()
	if _, err := io.Copy(h, plain); err != nil {
		return fmt.Errorf("reading layer: %w", err)
	}
	// The decoder may stop before the blob's last byte; the rest must still
	// pass through the verifying reader for the blob digest to be checked.
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return fmt.Errorf("reading layer: %w", err)
	}
	if got := digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil)); got != diffID {
		return fmt.Errorf("diff ID: %w", &DigestMismatchError{Expected: diffID, Actual: got, ExpectedSize: -1, ActualSize: -1})
	}
	return nil
}
