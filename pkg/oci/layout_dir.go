package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/ocibuilder/builder/internal/fsutil"
)

// WriteLayout writes img as an OCI image layout directory at dir (oci-layout,
// index.json, blobs/sha256/...), replacing any previous directory there in
// one step. Blobs are hard-linked from the store when it is on the same
// filesystem and copied (and verified) otherwise.
func WriteLayout(ctx context.Context, img *Image, dir string, o WriteOptions) error {
	plan, err := planLayout(ctx, img, o)
	if err != nil {
		return fmt.Errorf("writing OCI layout %s: %w", dir, err)
	}
	err = fsutil.ReplaceDir(ctx, dir, func(tmp string) error {
		return fillLayout(ctx, img.Store, plan, tmp)
	})
	if err != nil {
		return fmt.Errorf("writing OCI layout %s: %w", dir, err)
	}
	return nil
}

func fillLayout(ctx context.Context, s *Store, plan *layoutPlan, dir string) error {
	blobDir := filepath.Join(dir, ocispec.ImageBlobsDir, "sha256")
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", blobDir, err)
	}
	for _, b := range plan.blobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := linkOrCopyBlob(ctx, s, b, filepath.Join(blobDir, b.Digest.Encoded())); err != nil {
			return err
		}
	}
	if err := writeSynced(filepath.Join(dir, ocispec.ImageLayoutFile), plan.ociLayout); err != nil {
		return err
	}
	if err := writeSynced(filepath.Join(dir, ocispec.ImageIndexFile), plan.index); err != nil {
		return err
	}
	if err := fsutil.SyncDir(blobDir); err != nil {
		return err
	}
	return fsutil.SyncDir(filepath.Dir(blobDir))
}

// linkOrCopyBlob puts blob b at dst. The size is checked on the linked
// file too, so a truncated store blob is not silently exported.
func linkOrCopyBlob(ctx context.Context, s *Store, b ocispec.Descriptor, dst string) error {
	src := s.Path(b.Digest)
	if src == "" {
		return fmt.Errorf("exporting blob %q: %w", b.Digest, ErrInvalid)
	}
	size, err := s.Size(b.Digest)
	if err != nil {
		return fmt.Errorf("exporting blob %s: %w", b.Digest, err)
	}
	if size != b.Size {
		return fmt.Errorf("exporting blob %s: %w", b.Digest, &DigestMismatchError{Expected: b.Digest, Actual: b.Digest, ExpectedSize: b.Size, ActualSize: size})
	}
	err = os.Link(src, dst)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EXDEV) && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EMLINK) {
		return fmt.Errorf("linking blob %s: %w", b.Digest, err)
	}
	return copyBlob(ctx, s, b, dst)
}

func copyBlob(ctx context.Context, s *Store, b ocispec.Descriptor, dst string) (err error) {
	rc, err := s.Open(b.Digest)
	if err != nil {
		return fmt.Errorf("exporting blob %s: %w", b.Digest, err)
	}
	defer rc.Close()
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("creating blob %s: %w", dst, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing blob %s: %w", dst, cerr)
		}
	}()
	if _, err := io.Copy(f, ctxReader{ctx: ctx, r: rc}); err != nil {
		return fmt.Errorf("copying blob %s: %w", b.Digest, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing blob %s: %w", dst, err)
	}
	return nil
}

// writeSynced writes a new file inside a directory that is not yet visible
// to anyone; durability comes from the fsync, atomicity from the directory
// swap that follows.
func writeSynced(path string, data []byte) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing %s: %w", path, cerr)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	return nil
}
