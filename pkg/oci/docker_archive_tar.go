package oci

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// archiveTime is the mtime of every archive entry.
func archiveTime(img *Image) time.Time {
	if c := img.Config.Created; c != nil && c.Unix() > 0 {
		return c.UTC().Truncate(time.Second)
	}
	return time.Unix(0, 0).UTC()
}

// writeDockerArchive writes blobs/, blobs/sha256/ and the blobs by
// digest, then the top-level files by name: the order docker save uses.
func writeDockerArchive(ctx context.Context, s *Store, plan *dockerArchivePlan, w io.Writer, mtime time.Time) error {
	tw := tar.NewWriter(w)
	hdr := func(name string, typ byte, mode, size int64) *tar.Header {
		return &tar.Header{Typeflag: typ, Name: name, Mode: mode, Size: size, ModTime: mtime, Format: tar.FormatPAX}
	}
	for _, d := range []string{ocispec.ImageBlobsDir + "/", ocispec.ImageBlobsDir + "/sha256/"} {
		if err := tw.WriteHeader(hdr(d, tar.TypeDir, 0o755, 0)); err != nil {
			return fmt.Errorf("writing %s: %w", d, err)
		}
	}
	for _, b := range plan.blobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := blobPath(b.digest)
		switch {
		case b.layer != nil:
			if err := tw.WriteHeader(hdr(name, tar.TypeReg, 0o644, b.layer.size)); err != nil {
				return fmt.Errorf("writing %s: %w", name, err)
			}
			n, err := copyLayer(ctx, s, b.layer.src, b.layer.diffID, tw)
			if err != nil {
				return fmt.Errorf("writing layer %s: %w", b.digest, err)
			}
			if n != b.layer.size {
				return fmt.Errorf("writing layer %s: %w", b.digest, &DigestMismatchError{Expected: b.digest, Actual: b.digest, ExpectedSize: b.layer.size, ActualSize: n})
			}
		case b.stored != nil:
			if err := writeTarBlob(ctx, s, tw, *b.stored, hdr(name, tar.TypeReg, 0o644, b.stored.Size)); err != nil {
				return err
			}
		default:
			if err := writeTarFile(tw, hdr(name, tar.TypeReg, 0o644, int64(len(b.data))), b.data); err != nil {
				return err
			}
		}
	}
	for _, f := range plan.files {
		if err := writeTarFile(tw, hdr(f.name, tar.TypeReg, 0o644, int64(len(f.data))), f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finishing tar: %w", err)
	}
	return nil
}

func writeTarFile(tw *tar.Writer, h *tar.Header, data []byte) error {
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("writing %s: %w", h.Name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", h.Name, err)
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
