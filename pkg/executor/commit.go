package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/ocibuilder/builder/pkg/layer"
	"github.com/ocibuilder/builder/pkg/parser"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// commitLayer writes the changes a step made as a layer into the store
// (encodeLayer) and appends it to the stage. With rootIsLayer, root (an
// upper directory, in overlay format) becomes the layer's directory;
// otherwise the layer is extracted from its blob when a later step needs
// it. No changes means no layer.
func (b *builder) commitLayer(ctx context.Context, ss *stageState, root string, changes layer.Changes, rootIsLayer bool) (bool, error) {
	desc, ok, err := b.encodeLayer(ctx, root, changes)
	if err != nil || !ok {
		return false, err
	}
	dir := ""
	if rootIsLayer {
		if dir, err = b.state.commitDir(root, desc.DiffID); err != nil {
			return false, err
		}
	}
	ss.appendLayer(desc.Descriptor(), desc.DiffID, dir)
	return true, nil
}

// pendingLayer is a layer being written into the store in the background
// while the stage's next steps run on its directory.
type pendingLayer struct {
	index int    // position in the stage's layers
	dir   string // the layer's directory, moved into place when settled
	loc   parser.Location
	done  chan struct{}
	desc  layer.Desc
	err   error
}

// errFound stops a walk at the first change.
var errFound = errors.New("found a change")

// commitLayerAsync is commitLayer for a directory that holds exactly the
// step's changes (in overlay format): it appends the layer to the stage at
// once, with dir as its directory, and writes its blob in the background.
// The layer's descriptor and diff ID are filled in, and dir moved to the
// layer directories, by settle. No changes means no layer.
func (b *builder) commitLayerAsync(ctx context.Context, ss *stageState, loc parser.Location, dir string, changes layer.Changes) (bool, error) {
	err := changes(ctx, func(layer.ChangeKind, string, fs.FileInfo) error { return errFound })
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, errFound) {
		return false, fmt.Errorf("writing layer: %w", err)
	}
	p := &pendingLayer{index: ss.appendLayer(ocispec.Descriptor{}, "", dir), dir: dir, loc: loc, done: make(chan struct{})}
	ss.pending = append(ss.pending, p)
	go func() {
		defer close(p.done)
		var ok bool
		p.desc, ok, p.err = b.encodeLayer(ctx, dir, changes)
		if p.err == nil && !ok {
			// The walk above found a change in a directory only this
			// step writes to.
			p.err = errors.New("writing layer: its changes are gone")
		}
	}()
	return true, nil
}

// encodeLayer writes the changes a step made as a layer blob into the
// store, in one streaming pass reading entries from root. ok is false when
// there were no changes; then nothing is stored.
func (b *builder) encodeLayer(ctx context.Context, root string, changes layer.Changes) (desc layer.Desc, ok bool, err error) {
	n := 0
	counted := func(ctx context.Context, fn layer.ChangeFunc) error {
		return changes(ctx, func(k layer.ChangeKind, p string, fi fs.FileInfo) error {
			n++
			return fn(k, p, fi)
		})
	}
	w, err := b.state.store.Writer(ctx)
	if err != nil {
		return layer.Desc{}, false, err
	}
	defer w.Close()
	desc, err = layer.Encode(ctx, w, b.opts.Compression, func(tw io.Writer) error {
		return layer.WriteTar(ctx, tw, root, counted, layer.TarOptions{SourceDateEpoch: b.opts.SourceDateEpoch})
	})
	if err != nil {
		return layer.Desc{}, false, fmt.Errorf("writing layer: %w", err)
	}
	if n == 0 {
		return layer.Desc{}, false, nil
	}
	if _, _, err := w.Commit(desc.Digest); err != nil {
		return layer.Desc{}, false, fmt.Errorf("storing layer: %w", err)
	}
	return desc, true, nil
}

// settle waits for the stage's layers being written, fills in their
// descriptors, moves their directories into place and records their cache
// entries. It runs between steps (no step of the stage is using the
// directories) and before the stage's result is shared.
func (b *builder) settle(ss *stageState) error {
	// Every layer being written reads the directories of the ones
	// before it (as lower layers): wait for all before moving any.
	for _, p := range ss.pending {
		<-p.done
	}
	var first error
	for _, p := range ss.pending {
		if p.err != nil {
			if first == nil {
				first = stepError(p.loc, p.err)
			}
			continue
		}
		if first != nil {
			continue
		}
		dir, err := b.state.commitDir(p.dir, p.desc.DiffID)
		if err != nil {
			first = stepError(p.loc, err)
			continue
		}
		ss.setLayer(p.index, p.desc.Descriptor(), p.desc.DiffID, dir)
	}
	ss.pending = nil
	if first != nil {
		ss.records = nil
		return first
	}
	return b.flushRecords(ss)
}
