package main

import (
	"context"
	"fmt"
	"path/filepath"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/layer"
	"github.com/ocibuilder/builder/pkg/oci"
)

// image is one tool's output, read and unpacked.
type image struct {
	img  *oci.Image
	tree Tree
}

// unpack reads the only image of the layout dir and applies its layers
// onto root. Device nodes are never created: each is listed in the tree
// as a "device" entry instead.
func unpack(ctx context.Context, store *oci.Store, dir, root string) (*image, error) {
	img, err := oci.ReadLayout(ctx, dir, "", ocispec.Platform{}, store)
	if err != nil {
		return nil, err
	}
	devices := map[string]bool{}
	opts := layer.ApplyOptions{Whiteouts: layer.WhiteoutOCI, SkipDevices: func(name string) { devices[name] = true }}
	for i, l := range img.Layers {
		if err := applyLayer(ctx, store, l, root, opts); err != nil {
			return nil, fmt.Errorf("applying layer %d (%s): %w", i, l.Digest, err)
		}
	}
	tree, err := ReadTree(root)
	if err != nil {
		return nil, err
	}
	for name := range devices {
		tree[filepath.Join("/", name)] = Entry{Type: "device"}
	}
	return &image{img: img, tree: tree}, nil
}

// applyLayer applies the layer blob l onto root.
func applyLayer(ctx context.Context, store *oci.Store, l ocispec.Descriptor, root string, opts layer.ApplyOptions) error {
	rc, err := store.Open(l.Digest)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = layer.Apply(ctx, root, rc, opts)
	return err
}
