package executor

import (
	"context"
	"os"

	"github.com/ocibuilder/builder/internal/copier"
	"github.com/ocibuilder/builder/internal/imageuser"
	"github.com/ocibuilder/builder/internal/snapshot"
	"github.com/ocibuilder/builder/pkg/layer"
)

// fileStep is the scratch upper directory of a step that writes its files
// itself (COPY, ADD, WORKDIR) instead of running a process, with the
// copier that writes into it.
type fileStep struct {
	upper string
	cp    *copier.Copier
	keep  bool // a committed layer took upper; close leaves it
}

// newFileStep makes a scratch upper directory and opens a copier on it
// over the stage's lower layers.
func (b *builder) newFileStep(ctx context.Context, lower *snapshot.Stack, opts copier.Options) (*fileStep, error) {
	upper, err := b.state.scratchDir("upper-")
	if err != nil {
		return nil, err
	}
	cp, err := copier.New(ctx, upper, lower, opts)
	if err != nil {
		os.RemoveAll(upper)
		return nil, err
	}
	return &fileStep{upper: upper, cp: cp}, nil
}

// close closes the copier and removes the upper directory unless a
// committed layer took it.
func (s *fileStep) close() {
	s.cp.Close()
	if !s.keep {
		os.RemoveAll(s.upper)
	}
}

// ownerOf is the owner a copier gives what it writes for a resolved user.
func ownerOf(id imageuser.Identity) *layer.Owner {
	return &layer.Owner{UID: int(id.UID), GID: int(id.GID)}
}
