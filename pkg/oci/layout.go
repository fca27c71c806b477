package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// WriteOptions controls how an image is written as an OCI layout.
type WriteOptions struct {
	// RefNames are image names ("app", "ghcr.io/org/app:v1"). Each one adds
	// an index entry for the manifest annotated as BuildKit does: the
	// normalized full name in io.containerd.image.name and the tag in
	// org.opencontainers.image.ref.name, so "oci:DIR:TAG" references
	// (skopeo, umoci) resolve. Without names the index has one plain entry.
	RefNames []string
	// MaxLayerSize bounds the uncompressed size of each layer WriteRootfs
	// applies; zero or negative means no limit.
	MaxLayerSize int64
	// Warn receives one line for each thing an output leaves out of the
	// image (WriteRootfs: device nodes); nil discards them.
	Warn func(msg string)
}

// layoutPlan is everything an OCI layout holds, independent of whether it
// becomes a directory or a tar stream.
type layoutPlan struct {
	ociLayout []byte
	index     []byte
	// blobs are distinct and sorted by digest so output order never depends
	// on map iteration or layer order.
	blobs []ocispec.Descriptor
}

func planLayout(ctx context.Context, img *Image, o WriteOptions) (*layoutPlan, error) {
	manifest, _, config, err := img.storeManifest(ctx)
	if err != nil {
		return nil, err
	}
	entries, err := indexEntries(manifest, o.RefNames)
	if err != nil {
		return nil, err
	}
	index, ociLayout, err := layoutDocuments(entries)
	if err != nil {
		return nil, err
	}

	byDigest := map[string]ocispec.Descriptor{}
	add := func(d ocispec.Descriptor) {
		byDigest[d.Digest.String()] = ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
	}
	add(manifest)
	add(config)
	for _, l := range img.Layers {
		add(l)
	}
	keys := slices.Sorted(maps.Keys(byDigest))
	blobs := make([]ocispec.Descriptor, len(keys))
	for i, k := range keys {
		blobs[i] = byDigest[k]
	}
	return &layoutPlan{ociLayout: ociLayout, index: index, blobs: blobs}, nil
}

// indexEntries returns one index entry per distinct name, or a single
// unnamed entry.
func indexEntries(manifest ocispec.Descriptor, names []string) ([]ocispec.Descriptor, error) {
	if len(names) == 0 {
		return []ocispec.Descriptor{manifest}, nil
	}
	var entries []ocispec.Descriptor
	seen := map[string]bool{}
	for _, raw := range names {
		n, err := ParseImageName(strings.TrimSpace(raw))
		if err != nil {
			return nil, err
		}
		full := n.String()
		if seen[full] {
			continue
		}
		seen[full] = true
		e := manifest
		e.Annotations = map[string]string{
			AnnotationImageName: full,
			AnnotationRefName:   n.RefName(),
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// layoutDocuments encodes the index.json and oci-layout files of an image
// layout holding entries.
func layoutDocuments(entries []ocispec.Descriptor) (index, ociLayout []byte, err error) {
	index, err = json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: entries,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("encoding image index: %w", err)
	}
	ociLayout, err = json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return nil, nil, fmt.Errorf("encoding oci-layout: %w", err)
	}
	return index, ociLayout, nil
}
