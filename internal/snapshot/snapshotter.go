package snapshot

import (
	"context"

	"github.com/ocibuilder/builder/pkg/layer"
	"github.com/opencontainers/go-digest"
)

// Snapshotter gives a build step a writable root filesystem over the
// layers below it. It is the one place that knows how a root is made, so
// the code running a step is the same whatever the host offers.
type Snapshotter interface {
	// Prepare makes a writable root over lower, whose layers have the
	// diff IDs ids (lowest first; they name the squashed bottom of a
	// deep stack). lower's directories must not change until the
	// Snapshot is released.
	Prepare(ctx context.Context, lower *Stack, ids []digest.Digest) (Snapshot, error)
}

// Snapshot is one step's writable root. The caller mounts it as Mounts
// says, runs the step, then takes the result with Commit and Changes, and
// always calls Release.
type Snapshot interface {
	// Mounts says what to mount as the step's root.
	Mounts() Mounts
	// Changes is the step's difference to the stack it was prepared
	// over, leaving out the paths in exclude (as for Changes and
	// DirChanges). Called after Commit, it reads the committed
	// directory.
	Changes(exclude ...string) layer.Changes
	// Commit hands the step's result over; the root must not be
	// mounted any more.
	Commit() (Result, error)
	// Release removes everything Prepare made, except a directory
	// Commit handed over as a layer.
	Release() error
}

// Mounts is a step's root filesystem as a sandbox mounts it: exactly one
// of Dir and Overlay is set. It is plain data, so that this package needs
// nothing of the sandbox.
type Mounts struct {
	// Dir is a complete tree the step writes into directly.
	Dir string
	// Overlay is an overlayfs mount of read-only layers under a
	// writable upper directory.
	Overlay *Overlay
}

// Overlay is an overlayfs root. It must be mounted with
// index=off,metacopy=off,redirect_dir=off, so that UpperDir afterwards
// holds a plain diff that Changes can read.
type Overlay struct {
	// LowerDirs are the read-only layers, lowest first.
	LowerDirs []string
	// UpperDir receives the step's changes.
	UpperDir string
	// WorkDir is overlayfs's scratch directory, empty and on the same
	// filesystem as UpperDir.
	WorkDir string
}

// WriteDir is the directory the step's writes land in, where the sandbox
// leaves the mountpoints it had to create.
func (m Mounts) WriteDir() string {
	if m.Overlay != nil {
		return m.Overlay.UpperDir
	}
	return m.Dir
}

// Result is what Commit hands over.
type Result struct {
	// Dir holds the step's result, the root to render its changes from.
	Dir string
	// IsLayer is set when Dir holds exactly the step's changes, in
	// overlay format, and now belongs to the caller: it can become the
	// layer's directory. Otherwise Dir is the step's whole root, which
	// Release removes, so the layer must be written before.
	IsLayer bool
}

// Config is what the snapshotters need of the build's state directory,
// as plain functions so that they need none of its types.
type Config struct {
	// Scratch makes a new directory, its name starting with prefix, in
	// the build's scratch space, which is removed when the build ends.
	Scratch func(prefix string) (string, error)
	// ChainDir is where the squash of the layers with the given chain ID
	// is kept, shared across builds. Needed only by the overlay
	// snapshotter, for stacks deeper than MaxLowerDirs.
	ChainDir func(chainID digest.Digest) string
}
