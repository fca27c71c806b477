package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ocibuilder/builder/pkg/layer"
	"github.com/opencontainers/go-digest"
)

// NewCopy returns the snapshotter that copies the stack into a directory
// (Materialize) and diffs the directory afterwards (DirChanges): slower
// than overlay, but it needs no overlayfs, and the changes are the same.
func NewCopy(cfg Config) Snapshotter { return copySnapshotter{cfg} }

type copySnapshotter struct{ cfg Config }

// copySnapshot is a copy of the stack in rootfs, under a scratch directory
// of its own.
type copySnapshot struct {
	scratch string
	root    string
	lower   *Stack
}

// Prepare copies lower into a new root directory; ids are not needed.
func (c copySnapshotter) Prepare(ctx context.Context, lower *Stack, _ []digest.Digest) (Snapshot, error) {
	scratch, err := c.cfg.Scratch("root-")
	if err != nil {
		return nil, fmt.Errorf("preparing the root filesystem: %w", err)
	}
	s := &copySnapshot{scratch: scratch, root: filepath.Join(scratch, "rootfs"), lower: lower}
	if err := Materialize(ctx, lower, s.root); err != nil {
		return nil, errors.Join(fmt.Errorf("preparing the root filesystem: %w", err), s.Release())
	}
	// Extracted layer directories are private (0700), and the copy
	// takes its root's mode from them; an overlay's root is its fresh
	// upper directory. Give the copy the same 0755 root, or a step run
	// as another user cannot even enter /.
	if err := os.Chmod(s.root, 0o755); err != nil {
		return nil, errors.Join(fmt.Errorf("preparing the root filesystem: %w", err), s.Release())
	}
	return s, nil
}

// Mounts is the copy, as a plain directory.
func (s *copySnapshot) Mounts() Mounts { return Mounts{Dir: s.root} }

// Changes diffs the copy against the stack it was made from.
func (s *copySnapshot) Changes(exclude ...string) layer.Changes {
	return DirChanges(s.root, s.lower, exclude...)
}

// Commit hands over the copy itself: the layer is rendered from it, and
// its directory is extracted from the blob when a step needs it.
func (s *copySnapshot) Commit() (Result, error) {
	return Result{Dir: s.root}, nil
}

// Release removes the copy.
func (s *copySnapshot) Release() error {
	return os.RemoveAll(s.scratch)
}
