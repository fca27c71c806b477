package oci

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// writeDockerArchive writes blobs/, blobs/sha256/ and the blobs by
// digest, then the top-level files by name, to a: the order docker save
// uses.
func writeDockerArchive(ctx context.Context, s *Store, a *archiveWriter, plan *dockerArchivePlan) error {
	if err := a.blobDirs(); err != nil {
		return err
	}
	for _, b := range plan.blobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := blobPath(b.digest)
		var err error
		switch {
		case b.layer != nil:
			err = a.layer(ctx, s, b.layer, name)
		case b.stored != nil:
			err = a.blob(ctx, s, *b.stored, name)
		default:
			err = a.file(name, b.data)
		}
		if err != nil {
			return err
		}
	}
	for _, f := range plan.files {
		if err := a.file(f.name, f.data); err != nil {
			return err
		}
	}
	return nil
}

// layer writes l uncompressed as the file name.
func (a *archiveWriter) layer(ctx context.Context, s *Store, l *archiveLayer, name string) error {
	if err := a.tw.WriteHeader(a.header(name, tar.TypeReg, 0o644, l.size)); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	n, err := copyLayer(ctx, s, l.src, l.diffID, a.tw)
	if err != nil {
		return fmt.Errorf("writing layer %s: %w", l.diffID, err)
	}
	if n != l.size {
		return fmt.Errorf("writing layer %s: %w", l.diffID, &DigestMismatchError{Expected: l.diffID, Actual: l.diffID, ExpectedSize: l.size, ActualSize: n})
	}
	return nil
}

// copyLayer writes the uncompressed content of layer blob l to dst and
// returns its size. It fails if the blob does not match its digest or
// the content does not match diffID; dst has then received bad bytes,
// which callers discard with the rest of the output.
func copyLayer(ctx context.Context, s *Store, l ocispec.Descriptor, diffID digest.Digest, dst io.Writer) (int64, error) {
	if err := checkDigest(l.Digest); err != nil {
		return 0, err
	}
	c := compressionOf(l.MediaType)
	if c == compressionUnknown {
		return 0, fmt.Errorf("%w: unknown layer media type %q", ErrInvalid, l.MediaType)
	}
	rc, err := s.Open(l.Digest)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	raw := ctxReader{ctx: ctx, r: rc}
	plain, release, err := decompressed(raw, c)
	if err != nil {
		return 0, err
	}
	defer release()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(dst, h), plain)
	if err != nil {
		// A damaged blob usually breaks the decoder first; its digest
		// says more than the decoder's complaint.
		if _, rerr := io.Copy(io.Discard, raw); errors.As(rerr, new(*DigestMismatchError)) {
			return n, fmt.Errorf("reading layer: %w", rerr)
		}
		return n, fmt.Errorf("decompressing layer: %w", err)
	}
	// The decoder may stop before the blob's last byte; the rest must
	// still pass through the verifying reader for the digest check.
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return n, fmt.Errorf("reading layer: %w", err)
	}
	if got := digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil)); got != diffID {
		return n, fmt.Errorf("diff ID: %w", &DigestMismatchError{Expected: diffID, Actual: got, ExpectedSize: -1, ActualSize: n})
	}
	return n, nil
}
