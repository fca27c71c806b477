package images

import (
	"context"
	"fmt"
	"iter"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/oci"
)

// PruneOptions adds roots to what Prune keeps. The index's images are
// always kept. The build cache's Keep gives the roots of a size-bounded
// prune that keeps recently used cache layers. The sequences are iterated
// while Prune holds its locks.
type PruneOptions struct {
	// KeepImages are manifests or indexes kept with everything they
	// reference, as if they were tagged. Ones missing from the store are
	// skipped: there is nothing left to keep.
	KeepImages iter.Seq[ocispec.Descriptor]
	// KeepBlobs are blobs kept as they are; nothing they might reference
	// is followed.
	KeepBlobs iter.Seq[digest.Digest]
	// KeepLayerDirs are diff IDs whose extracted layer directories are
	// kept even though no kept image uses them.
	KeepLayerDirs iter.Seq[digest.Digest]
}

// PruneReport says what Prune removed.
type PruneReport struct {
	// Blobs is the number of blobs removed from the store.
	Blobs int
	// LayerDirs is the number of extracted layer and chain directories
	// removed.
	LayerDirs int
	// TempEntries is the number of scratch entries of dead builds and
	// interrupted operations removed from <root>/tmp.
	TempEntries int
	// Bytes is the space the removed blobs and layer directories held
	// (apparent file sizes, hard links counted once).
	Bytes int64
}

// Prune removes from the state directory root everything no image needs:
// blobs the index's images and opts' roots do not reach, extracted layer
// directories whose diff ID is not a layer of a kept image, every
// layers/chain-* directory (squashed stacks, rebuilt on demand), and the
// scratch space of builds that died.
//
// Prune holds LockExclusive for its whole run, so it waits for running
// builds (LockShared holders) and they wait for it; it also holds the
// index lock, so a concurrent Tag either lands before the mark (and is
// kept) or after the sweep (and finds its manifest gone). A blob is
// removed with one unlink; a directory is first renamed into <root>/tmp
// and then deleted, so neither is ever seen half-removed. A reachable
// image whose manifest or config cannot be read stops Prune before it
// deletes anything, since what that image needs is unknown; untag it to
// let Prune go on.
//
// Content written without LockShared held is not protected: a blob stored
// but not yet tagged when Prune marks is removed. A process must not call
// Prune while it holds LockShared itself; the wait would only end with
// ctx. Waiting uses polling, so a steady stream of overlapping builds can
// delay Prune for as long as it lasts.
func Prune(ctx context.Context, root string, store *oci.Store, opts PruneOptions) (PruneReport, error) {
	rep, err := prune(ctx, root, store, opts)
	if err != nil {
		return rep, fmt.Errorf("pruning %s: %w", root, err)
	}
	return rep, nil
}

func prune(ctx context.Context, root string, store *oci.Store, opts PruneOptions) (rep PruneReport, err error) {
	abs, err := checkRoot(root, store)
	if err != nil {
		return rep, err
	}
	unlock, err := LockExclusive(ctx, abs)
	if err != nil {
		return rep, err
	}
	defer func() {
		if uerr := unlock(); err == nil {
			err = uerr
		}
	}()
	l, err := lockIndex(ctx, abs)
	if err != nil {
		return rep, err
	}
	defer func() {
		if uerr := l.Unlock(); err == nil {
			err = uerr
		}
	}()
	images, err := readIndexFile(filepath.Join(abs, "images.json"))
	if err != nil {
		return rep, err
	}
	keep, err := mark(ctx, store, images, opts)
	if err != nil {
		return rep, err
	}
	sw := sweeper{root: abs, keep: keep, report: &rep}
	if err := sw.blobs(ctx); err != nil {
		return rep, err
	}
	if err := sw.layerDirs(ctx); err != nil {
		return rep, err
	}
	if err := sw.tmp(ctx); err != nil {
		return rep, err
	}
	return rep, nil
}
