package oci

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/ocibuilder/builder/internal/fsutil"
)

// WriteLayout writes img as an OCI image layout directory at dir (oci-layout,
// index.json, blobs/sha256/...), replacing any previous directory there in
// one step. Each blob is a file of its own (a reflink or a copy, never a
// hard link into the store), checked against its digest as it is written.
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

// exportJobs bounds how many blobs fillLayout exports at once: their
// fsyncs then overlap (the filesystem commits them together), and large
// blobs hash on every core.
const exportJobs = 4

func fillLayout(ctx context.Context, s *Store, plan *layoutPlan, dir string) error {
	blobDir := filepath.Join(dir, ocispec.ImageBlobsDir, "sha256")
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", blobDir, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(exportJobs)
	for _, b := range plan.blobs {
		g.Go(func() error {
			_, err := exportBlob(gctx, s, b, filepath.Join(blobDir, b.Digest.Encoded()), make([]byte, exportBufSize))
			return err
		})
	}
	g.Go(func() error { return writeSynced(filepath.Join(dir, ocispec.ImageLayoutFile), plan.ociLayout) })
	g.Go(func() error { return writeSynced(filepath.Join(dir, ocispec.ImageIndexFile), plan.index) })
	if err := g.Wait(); err != nil {
		return err
	}
	if err := fsutil.SyncDir(blobDir); err != nil {
		return err
	}
	return fsutil.SyncDir(filepath.Dir(blobDir))
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
