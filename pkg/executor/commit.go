package executor

import (
	"context"
	"fmt"
	"io"
	"io/fs"

	"github.com/ocibuilder/builder/pkg/layer"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// commitLayer writes the changes a step made as a layer into the store, in
// one streaming pass, reading entries from root, and appends it to the
// stage. With rootIsLayer, root (an upper directory, in overlay format)
// becomes the layer's directory; otherwise the layer is extracted from its
// blob when a later step needs it. No changes means no layer.
func (b *builder) commitLayer(ctx context.Context, ss *stageState, root string, changes layer.Changes, rootIsLayer bool) (bool, error) {
	n := 0
	counted := func(ctx context.Context, fn layer.ChangeFunc) error {
		return changes(ctx, func(k layer.ChangeKind, p string, fi fs.FileInfo) error {
			n++
			return fn(k, p, fi)
		})
	}
	w, err := b.state.store.Writer(ctx)
	if err != nil {
		return false, err
	}
	defer w.Close()
	desc, err := layer.Encode(ctx, w, b.opts.Compression, func(tw io.Writer) error {
		return layer.WriteTar(ctx, tw, root, counted, layer.TarOptions{SourceDateEpoch: b.opts.SourceDateEpoch})
	})
	if err != nil {
		return false, fmt.Errorf("writing layer: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	if _, _, err := w.Commit(desc.Digest); err != nil {
		return false, fmt.Errorf("storing layer: %w", err)
	}
	dir := ""
	if rootIsLayer {
		if dir, err = b.state.commitDir(root, desc.DiffID); err != nil {
			return false, err
		}
	}
	ss.layers = append(ss.layers, ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size})
	ss.cfg.RootFS.DiffIDs = append(ss.cfg.RootFS.DiffIDs, desc.DiffID)
	ss.dirs = append(ss.dirs, dir)
	return true, nil
}
