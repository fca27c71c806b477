package images

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/internal/cache"
	"github.com/ocibuilder/builder/internal/cachemount"
	"github.com/ocibuilder/builder/pkg/statedir"
)

// PruneOptions says what Prune keeps besides the index's images, which it
// always keeps, and how it trims the build cache. The sequences are
// iterated while the state directory is locked exclusively.
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
	// KeepStorage, when positive, also keeps the layers of the most
	// recently used build cache records, as long as their blobs fit in
	// this many bytes together (--keep-storage).
	KeepStorage int64
	// StepHistoryAge is how long the build cache keeps the last build of
	// a Dockerfile step that has not been built since, for cache-miss
	// explanations; 0 means DefaultStepHistoryAge.
	StepHistoryAge time.Duration
	// Only restricts what Prune removes to one kind of content, as
	// docker builder prune --filter type=… does; the zero value removes
	// every kind.
	Only PruneKind
}

// PruneKind selects what a prune removes.
type PruneKind int

const (
	// PruneEverything removes unused images' content, build cache and
	// cache mounts alike.
	PruneEverything PruneKind = iota
	// PruneCacheMounts removes only RUN --mount=type=cache caches
	// (docker's filter type=exec.cachemount).
	PruneCacheMounts
	// PruneExceptCacheMounts removes everything but the cache mounts
	// (type!=exec.cachemount).
	PruneExceptCacheMounts
)

// DefaultStepHistoryAge is PruneOptions.StepHistoryAge when it is zero.
const DefaultStepHistoryAge = 30 * 24 * time.Hour

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
	// CacheRecords is the number of build cache records removed because
	// their layer is gone.
	CacheRecords int
	// CacheMounts is the number of RUN --mount=type=cache caches
	// removed.
	CacheMounts int
	// Bytes is the space the removed blobs, layer directories and cache
	// mounts held (apparent file sizes, hard links counted once).
	Bytes int64
}

// Prune removes from the state directory st everything no image needs:
// blobs the index's images and opts' roots do not reach, extracted layer
// directories whose diff ID is not a layer of a kept image, every
// layers/chain-* directory (squashed stacks, rebuilt on demand), the
// scratch space of builds that died, then the build cache records whose
// layer is gone (they can only miss) and step history older than
// opts.StepHistoryAge.
//
// st must be opened statedir.Exclusive, so Prune runs while no build holds
// the directory (builds open it Shared). Prune also holds the index lock
// while it marks and sweeps, so a concurrent Tag either lands before the
// mark (and is kept) or after the sweep (and finds its manifest gone). A
// blob is removed with one unlink; a directory is first renamed into
// <root>/tmp and then deleted, so neither is ever seen half-removed. A
// reachable image whose manifest or config cannot be read stops Prune
// before it deletes anything, since what that image needs is unknown;
// untag it to let Prune go on.
//
// Content written by a process that does not hold the directory open is
// not protected: a blob stored but not yet tagged when Prune marks is
// removed.
func Prune(ctx context.Context, st *statedir.State, opts PruneOptions) (PruneReport, error) {
	rep, err := prune(ctx, st, opts)
	if err != nil {
		return rep, fmt.Errorf("pruning %s: %w", st.Root(), err)
	}
	return rep, nil
}

func prune(ctx context.Context, st *statedir.State, opts PruneOptions) (rep PruneReport, err error) {
	if st.Mode() != statedir.Exclusive {
		return rep, errors.New("the state directory must be opened exclusively")
	}
	c, err := cache.Open(st.CacheDir())
	if err != nil {
		return rep, err
	}
	area := cachemount.Open(st.CacheMountsDir())
	var mounts []cachemount.Usage
	if opts.Only != PruneExceptCacheMounts {
		if mounts, err = area.List(ctx); err != nil {
			return rep, err
		}
	}
	keepMount := func(int) bool { return false }
	if opts.KeepStorage > 0 {
		sized := make([]cache.Sized, len(mounts))
		for i, m := range mounts {
			sized[i] = cache.Sized{Size: m.Size, LastUsed: m.LastUsed}
		}
		if opts.Only == PruneCacheMounts {
			// The records stay whatever their size: only the caches
			// compete for the limit.
			keepMount = cache.KeepSized(opts.KeepStorage, sized)
		} else {
			var blobs, diffIDs iter.Seq[digest.Digest]
			blobs, diffIDs, keepMount = c.KeepWith(opts.KeepStorage, sized)
			opts.KeepBlobs = concat(opts.KeepBlobs, blobs)
			opts.KeepLayerDirs = concat(opts.KeepLayerDirs, diffIDs)
		}
	}
	for i, m := range mounts {
		if keepMount(i) {
			continue
		}
		if err := area.Remove(m); err != nil {
			return rep, err
		}
		rep.CacheMounts++
		rep.Bytes += m.Size
	}
	if opts.Only == PruneCacheMounts {
		return rep, nil
	}
	if err := sweep(ctx, st, opts, &rep); err != nil {
		return rep, err
	}
	// Records whose layer is gone can only miss: drop them.
	store := st.Store()
	if rep.CacheRecords, err = c.Trim(func(r cache.Record) bool { return r.Layer != nil && !store.Has(r.Layer.Digest) }); err != nil {
		return rep, err
	}
	age := opts.StepHistoryAge
	if age == 0 {
		age = DefaultStepHistoryAge
	}
	if _, err := c.TrimSteps(age); err != nil {
		return rep, err
	}
	return rep, nil
}

// sweep marks what the index's images and opts keep and removes the rest,
// holding the index lock.
func sweep(ctx context.Context, st *statedir.State, opts PruneOptions, rep *PruneReport) error {
	return withLockedIndex(ctx, st, func(images map[string]ocispec.Descriptor) error {
		keep, err := mark(ctx, st.Store(), images, opts)
		if err != nil {
			return err
		}
		sw := sweeper{state: st, keep: keep, report: rep}
		if err := sw.blobs(ctx); err != nil {
			return err
		}
		if err := sw.layerDirs(ctx); err != nil {
			return err
		}
		return sw.tmp(ctx)
	})
}

// concat yields a's values, then b's; a nil sequence yields nothing.
func concat[T any](a, b iter.Seq[T]) iter.Seq[T] {
	return func(yield func(T) bool) {
		for _, s := range []iter.Seq[T]{a, b} {
			if s == nil {
				continue
			}
			for v := range s {
				if !yield(v) {
					return
				}
			}
		}
	}
}
