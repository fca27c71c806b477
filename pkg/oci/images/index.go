package images

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/internal/fsutil"
	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/ocibuilder/builder/pkg/statedir"
)

// Index is the set of named images kept in a state directory: normalized
// name → manifest descriptor, persisted in <root>/images.json.
//
// Readers see the file as of the last complete update (it is replaced
// atomically). Every update is a read-modify-write under an exclusive
// flock of <root>/images.lock, so concurrent writers in any number of
// goroutines or processes never lose one another's changes. An Index is
// safe for concurrent use.
type Index struct {
	state *statedir.State
	store *oci.Store
}

// Entry is one named image as List reports it.
type Entry struct {
	// Name is the normalized name ("docker.io/library/app:1").
	Name string
	// Manifest is the image's manifest (or index) descriptor.
	Manifest ocispec.Descriptor
	// Created is the creation time in the image config; for an index, the
	// latest of its images'. Zero when the config has none.
	Created time.Time
	// Size is the sum of the sizes of the config and layer blobs, each
	// distinct blob counted once.
	Size int64
	// Err is set when the image's manifest or config cannot be read from
	// the store; Name and Manifest are still valid, and Untag removes it.
	Err error
}

// Open returns the index of the open state directory st, whose blobs are
// in st.Store().
func Open(st *statedir.State) (*Index, error) {
	if st == nil {
		return nil, errors.New("opening image index: no state directory")
	}
	return &Index{state: st, store: st.Store()}, nil
}

func (x *Index) indexPath() string { return x.state.ImagesPath() }

// withLockedIndex reads the image index of st and hands it to use, holding
// the exclusive lock that serializes index updates (and prunes) until use
// returns.
func withLockedIndex(ctx context.Context, st *statedir.State, use func(images map[string]ocispec.Descriptor) error) (err error) {
	l, err := fsutil.LockFileContext(ctx, st.ImagesLockPath())
	if err != nil {
		return fmt.Errorf("locking image index: %w", err)
	}
	defer func() {
		if uerr := l.Unlock(); err == nil {
			err = uerr
		}
	}()
	images, err := readIndexFile(st.ImagesPath())
	if err != nil {
		return err
	}
	return use(images)
}

// Tag points name at manifest, replacing what name pointed at before. The
// name is normalized like docker does ("app:1" → docker.io/library/app:1)
// and must not carry a digest. The manifest (an image manifest or index)
// must be in the store with the digest and size the descriptor claims.
func (x *Index) Tag(ctx context.Context, name string, manifest ocispec.Descriptor) error {
	full, err := tagName(name)
	if err != nil {
		return fmt.Errorf("tagging %s: %w", name, err)
	}
	if err := checkManifestDesc(manifest); err != nil {
		return fmt.Errorf("tagging %s: %w", full, err)
	}
	var doc document
	if err := readJSON(x.store, manifest, &doc); err != nil {
		return fmt.Errorf("tagging %s: %w", full, err)
	}
	if err := checkDocType(manifest, doc.MediaType); err != nil {
		return fmt.Errorf("tagging %s: %w", full, err)
	}
	manifest.Data = nil
	return x.update(ctx, func(images map[string]ocispec.Descriptor) error {
		// Prune holds the index lock while it sweeps, so the blob checked
		// above cannot disappear between this check and the write.
		if !x.store.Has(manifest.Digest) {
			return fmt.Errorf("tagging %s: manifest %s: %w", full, manifest.Digest, ErrNotFound)
		}
		images[full] = manifest
		return nil
	})
}

// Untag removes name from the index, like `docker rmi`. Blobs stay in the
// store until Prune. A name that is not in the index gives an error
// wrapping ErrNotFound.
func (x *Index) Untag(ctx context.Context, name string) error {
	full, err := tagName(name)
	if err != nil {
		return fmt.Errorf("untagging %s: %w", name, err)
	}
	return x.update(ctx, func(images map[string]ocispec.Descriptor) error {
		if _, ok := images[full]; !ok {
			return fmt.Errorf("untagging %s: %w", full, ErrNotFound)
		}
		delete(images, full)
		return nil
	})
}

// update applies change to the index under the index lock.
func (x *Index) update(ctx context.Context, change func(map[string]ocispec.Descriptor) error) error {
	return withLockedIndex(ctx, x.state, func(images map[string]ocispec.Descriptor) error {
		if err := change(images); err != nil {
			return err
		}
		return writeIndexFile(x.indexPath(), images)
	})
}

// Lookup returns the manifest descriptor of the image ref names. ref is a
// name in any form docker accepts ("app" means app:latest, "app:1",
// "ghcr.io/o/app:1", "app@sha256:…"), a manifest digest ("sha256:…"), or
// a unique prefix of one, with or without "sha256:", like a docker image
// ID. Errors wrap ErrNotFound, or ErrAmbiguous for a prefix that matches
// several images.
func (x *Index) Lookup(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	if err := ctx.Err(); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("looking up image %s: %w", ref, err)
	}
	images, err := readIndexFile(x.indexPath())
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return resolve(images, ref)
}

// List returns the named images sorted by name. A damaged image does not
// fail the listing; its Entry.Err says what is wrong.
func (x *Index) List(ctx context.Context) ([]Entry, error) {
	images, err := readIndexFile(x.indexPath())
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(images))
	for _, name := range sortedNames(images) {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("listing images: %w", err)
		}
		e := Entry{Name: name, Manifest: images[name]}
		if err := summarize(ctx, x.store, &e); err != nil {
			e.Err = err
		}
		out = append(out, e)
	}
	return out, nil
}

// summarize fills in the creation time and size of e's image.
func summarize(ctx context.Context, s *oci.Store, e *Entry) error {
	seen := map[digest.Digest]bool{}
	w := newWalker(s, func(r reached) {
		if r.Kind != kindConfig && r.Kind != kindLayer {
			return
		}
		if !seen[r.Desc.Digest] {
			seen[r.Desc.Digest] = true
			e.Size += r.Desc.Size
		}
		if r.Config != nil && r.Config.Created != nil && r.Config.Created.After(e.Created) {
			e.Created = *r.Config.Created
		}
	})
	if err := w.walk(ctx, e.Manifest); err != nil {
		e.Size, e.Created = 0, time.Time{}
		return fmt.Errorf("reading image %s: %w", e.Name, err)
	}
	return nil
}
