package images

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/oci"
)

// maxIndexDepth bounds nested image indexes; real images use one level.
const maxIndexDepth = 4

// maxWalkEntries bounds how many descriptors one walk visits, so that a
// hostile index cannot make it run without end.
const maxWalkEntries = 1 << 16

// blobKind is the role a blob plays in an image.
type blobKind uint8

const (
	kindIndex blobKind = iota
	kindManifest
	kindConfig
	kindLayer
	// kindOther is a blob an index lists that is neither an image nor an
	// index (an artifact): kept, never read.
	kindOther
)

// configSummary is the part of an image config the index and prune use.
type configSummary struct {
	Created *time.Time     `json:"created,omitempty"`
	RootFS  ocispec.RootFS `json:"rootfs"`
}

// reached is one blob a walk found.
type reached struct {
	Desc ocispec.Descriptor
	Kind blobKind
	// Config is set for a kindConfig blob that is an image config.
	Config *configSummary
}

// walker visits every blob reachable from image roots. Documents are read
// once per walker, however many roots share them.
type walker struct {
	store   blobSource
	visit   func(reached)
	read    map[digest.Digest]bool
	entries int
}

func newWalker(s blobSource, visit func(reached)) *walker {
	return &walker{store: s, visit: visit, read: map[digest.Digest]bool{}}
}

// walk visits root and what it references. root must be an image manifest
// or index and must be in the store; manifests an index lists may be
// missing (indexes of which only some platforms were fetched are normal).
func (w *walker) walk(ctx context.Context, root ocispec.Descriptor) error {
	if !oci.IsManifestMediaType(root.MediaType) && !oci.IsIndexMediaType(root.MediaType) {
		return fmt.Errorf("walking %s: %w: media type %q is neither a manifest nor an index", root.Digest, oci.ErrInvalid, root.MediaType)
	}
	return w.node(ctx, root, 0, false)
}

func (w *walker) node(ctx context.Context, desc ocispec.Descriptor, depth int, optional bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.entries++
	if w.entries > maxWalkEntries {
		return fmt.Errorf("%w: more than %d descriptors reachable", oci.ErrTooLarge, maxWalkEntries)
	}
	if err := checkDigest(desc.Digest); err != nil {
		return err
	}
	switch {
	case oci.IsIndexMediaType(desc.MediaType):
		return w.index(ctx, desc, depth, optional)
	case oci.IsManifestMediaType(desc.MediaType):
		return w.manifest(desc, optional)
	}
	w.visit(reached{Desc: desc, Kind: kindOther})
	return nil
}

func (w *walker) index(ctx context.Context, desc ocispec.Descriptor, depth int, optional bool) error {
	if w.read[desc.Digest] {
		return nil
	}
	if depth > maxIndexDepth {
		return fmt.Errorf("index %s: %w: indexes nested deeper than %d", desc.Digest, oci.ErrInvalid, maxIndexDepth)
	}
	var idx ocispec.Index
	if found, err := w.readDoc(desc, "index", optional, &idx); !found || err != nil {
		return err
	}
	if err := checkDocType(desc, idx.MediaType); err != nil {
		return err
	}
	w.read[desc.Digest] = true
	w.visit(reached{Desc: desc, Kind: kindIndex})
	for _, child := range idx.Manifests {
		if err := w.node(ctx, child, depth+1, true); err != nil {
			return fmt.Errorf("index %s: %w", desc.Digest, err)
		}
	}
	return nil
}

func (w *walker) manifest(desc ocispec.Descriptor, optional bool) error {
	if w.read[desc.Digest] {
		return nil
	}
	var m ocispec.Manifest
	if found, err := w.readDoc(desc, "manifest", optional, &m); !found || err != nil {
		return err
	}
	if err := checkDocType(desc, m.MediaType); err != nil {
		return err
	}
	if w.entries += 1 + len(m.Layers); w.entries > maxWalkEntries {
		return fmt.Errorf("%w: more than %d descriptors reachable", oci.ErrTooLarge, maxWalkEntries)
	}
	if err := checkDigest(m.Config.Digest); err != nil {
		return fmt.Errorf("manifest %s: config: %w", desc.Digest, err)
	}
	// Artifacts put arbitrary data in the config slot; only image configs
	// are read (for their diff IDs), the rest is kept as an opaque blob.
	var cfg *configSummary
	if oci.IsConfigMediaType(m.Config.MediaType) {
		cfg = &configSummary{}
		if err := readJSON(w.store, m.Config, cfg); err != nil {
			return fmt.Errorf("manifest %s: reading config: %w", desc.Digest, err)
		}
	}
	for i, l := range m.Layers {
		if err := checkDigest(l.Digest); err != nil {
			return fmt.Errorf("manifest %s: layer %d: %w", desc.Digest, i, err)
		}
	}
	w.read[desc.Digest] = true
	w.visit(reached{Desc: desc, Kind: kindManifest})
	w.visit(reached{Desc: m.Config, Kind: kindConfig, Config: cfg})
	for _, l := range m.Layers {
		w.visit(reached{Desc: l, Kind: kindLayer})
	}
	return nil
}

// readDoc decodes the document desc names, an index or manifest as what
// says, into v. found is false, with no error, when an optional document
// is not in the store.
func (w *walker) readDoc(desc ocispec.Descriptor, what string, optional bool, v any) (found bool, err error) {
	if err := readJSON(w.store, desc, v); err != nil {
		if optional && errors.Is(err, oci.ErrNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("reading %s %s: %w", what, desc.Digest, err)
	}
	return true, nil
}
