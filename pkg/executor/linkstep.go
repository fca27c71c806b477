package executor

import (
	"context"

	"github.com/ocibuilder/builder/internal/cache"
	"github.com/ocibuilder/builder/internal/snapshot"
	"github.com/ocibuilder/builder/pkg/parser"
	"github.com/opencontainers/go-digest"
)

// COPY --link and ADD --link make a layer that does not depend on the
// layers below it, as BuildKit does by copying into an empty tree and
// merging the result onto the image: the copy sees no lower layer (the
// destination and its missing parents are made from scratch, 0755 and
// owned by --chown or root, and no symlink of the image is followed), and
// the step's key leaves out the steps before it, so a rebuild on another
// base reuses the very same layer. The steps after it still key over
// both the layers below and the linked one.

// linked reports whether the copy is made apart from the image: --link,
// unless --chmod is given too, which makes BuildKit copy in place (its
// dockerfile frontend links only copies without --chmod).
func (r copyRequest) linked() bool {
	return r.link && r.chmod == ""
}

// copyLower is the filesystem a copy writes over: the stage's layers, or
// nothing for a linked copy.
func (b *builder) copyLower(ctx context.Context, ss *stageState, r copyRequest) (*snapshot.Stack, error) {
	if r.linked() {
		return snapshot.NewStack(), nil
	}
	return b.stack(ctx, ss)
}

// linkedLayerStep is layerStep for a step whose layer does not depend on
// the layers below it: its key and its record leave them out.
func (b *builder) linkedLayerStep(ss *stageState, step *parser.Step, sr *stepRun, in cache.Input, files []cache.File, exec func() (bool, error)) (bool, error) {
	return b.keyedStep(ss, step, sr, in, files, true, exec)
}

// after is the key chain once a layer step with key ran. A linked step's
// key does not cover what is below it, so the chain then joins the two;
// the base stays named for the explanations of the next step's misses.
func (k keyChain) after(key digest.Digest, linked bool) keyChain {
	if !linked {
		return keyChain{key: key}
	}
	return keyChain{key: digest.FromString("link " + k.key.String() + " " + key.String()), keyIsBase: k.keyIsBase, base: k.base}
}
