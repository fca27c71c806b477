package oci

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/internal/fsutil"
)

// WriteLayoutTar writes img as an OCI image layout in tar form (what
// "oci-archive:" readers and "docker buildx --output type=oci" use) to w.
// The stream is reproducible: entries come in a fixed order (oci-layout,
// index.json, blobs/, blobs/sha256/, then blobs by digest) with owner 0:0,
// modes 0644/0755 and the config's creation time (or the Unix epoch) as
// mtime. w is not closed.
func WriteLayoutTar(ctx context.Context, img *Image, w io.Writer, o WriteOptions) error {
	plan, err := planLayout(ctx, img, o)
	if err != nil {
		return fmt.Errorf("writing OCI layout tar: %w", err)
	}
	mtime := time.Unix(0, 0).UTC()
	if c := img.Config.Created; c != nil && c.Unix() > 0 {
		mtime = c.UTC().Truncate(time.Second)
	}
	if err := writeLayoutTar(ctx, img.Store, plan, w, mtime); err != nil {
		return fmt.Errorf("writing OCI layout tar: %w", err)
	}
	return nil
}

// WriteLayoutTarFile writes the layout tar of img to path atomically: the
// file appears complete or not at all.
func WriteLayoutTarFile(ctx context.Context, img *Image, path string, o WriteOptions) error {
	return fsutil.WriteFileAtomic(path, 0o644, func(w io.Writer) error {
		return WriteLayoutTar(ctx, img, w, o)
	})
}

func writeLayoutTar(ctx context.Context, s *Store, plan *layoutPlan, w io.Writer, mtime time.Time) error {
	tw := tar.NewWriter(w)
	hdr := func(name string, typ byte, mode, size int64) *tar.Header {
		return &tar.Header{
			Typeflag: typ,
			Name:     name,
			Mode:     mode,
			Size:     size,
			ModTime:  mtime,
			Format:   tar.FormatPAX,
		}
	}
	files := []struct {
		name string
		data []byte
	}{
		{ocispec.ImageLayoutFile, plan.ociLayout},
		{ocispec.ImageIndexFile, plan.index},
	}
	for _, f := range files {
		if err := tw.WriteHeader(hdr(f.name, tar.TypeReg, 0o644, int64(len(f.data)))); err != nil {
			return fmt.Errorf("writing %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("writing %s: %w", f.name, err)
		}
	}
	for _, d := range []string{ocispec.ImageBlobsDir + "/", ocispec.ImageBlobsDir + "/sha256/"} {
		if err := tw.WriteHeader(hdr(d, tar.TypeDir, 0o755, 0)); err != nil {
			return fmt.Errorf("writing %s: %w", d, err)
		}
	}
	for _, b := range plan.blobs {
		if err := writeTarBlob(ctx, s, tw, b, hdr(path.Join(ocispec.ImageBlobsDir, "sha256", b.Digest.Encoded()), tar.TypeReg, 0o644, b.Size)); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finishing tar: %w", err)
	}
	return nil
}

func writeTarBlob(ctx context.Context, s *Store, tw *tar.Writer, b ocispec.Descriptor, h *tar.Header) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rc, err := s.Open(b.Digest)
	if err != nil {
		return fmt.Errorf("exporting blob %s: %w", b.Digest, err)
	}
	defer rc.Close()
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("writing blob %s: %w", b.Digest, err)
	}
	// Reading one byte past the declared size makes a blob longer than its
	// descriptor fail here instead of in the tar writer.
	n, err := io.Copy(tw, io.LimitReader(ctxReader{ctx: ctx, r: rc}, b.Size+1))
	if err != nil {
		return fmt.Errorf("copying blob %s: %w", b.Digest, err)
	}
	if n != b.Size {
		return fmt.Errorf("copying blob %s: %w", b.Digest, &DigestMismatchError{Expected: b.Digest, Actual: b.Digest, ExpectedSize: b.Size, ActualSize: n})
	}
	return nil
}
