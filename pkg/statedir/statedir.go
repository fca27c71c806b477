// Package statedir owns a builder state directory (--root): where each kind
// of content lives, the lock that keeps builds and prune apart, the one
// content store, and the scratch space of builds, with the cleanup of what
// killed builds left behind.
//
//	blobs/sha256/<hex>          content store (oci.Store)
//	layers/<diffID>/            layers extracted in overlay format, shared by all builds
//	layers/chain-<id>/          squashed bottoms of very deep stacks
//	images.json, images.lock    names of kept images (pkg/oci/images)
//	cache/                      build cache (internal/cache), cache/files.stat
//	state.lock                  shared by builds, exclusive for prune
//	tmp/build-<id>/             one build's scratch space, locked by tmp/build-<id>.lock
//
// A process opens the directory once (Open) and hands the State to
// everything that works in it, so that there is one Store per process and
// the lock is held for as long as any of them may write.
package statedir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"

	"github.com/ocibuilder/builder/internal/fsutil"
	"github.com/ocibuilder/builder/pkg/oci"
)

// Mode says how Open locks the state directory.
type Mode int

const (
	// Shared is for builds and every command that reads or adds content:
	// any number of holders at once, and no prune while one holds it.
	Shared Mode = iota
	// Exclusive is for prune: it waits for every Shared holder and keeps
	// new ones waiting until Close.
	Exclusive
)

// Names of the lock, scratch entries and layer directories.
const (
	// LockName is the lock file that keeps builds (Shared holders) and
	// prune (the Exclusive holder) apart.
	LockName = "state.lock"
	// BuildPrefix names a build's scratch directory in tmp/, kept alive
	// by the build's lock on <name>.lock.
	BuildPrefix = "build-"
	// ChainPrefix names a squashed layer stack in layers/.
	ChainPrefix = "chain-"
)

// State is an open state directory. Its methods are safe for concurrent
// use; Close releases the lock, after which the State must not be used.
type State struct {
	root  string
	mode  Mode
	store *oci.Store
	lock  *fsutil.Lock
}

// Open takes the state-directory lock of root in mode, waiting until ctx
// is done for a holder of the other mode, and opens its content store,
// creating the directory if needed. The kernel drops the lock if the
// process dies, so a killed process never blocks the others.
func Open(ctx context.Context, root string, mode Mode) (_ *State, err error) {
	if root == "" {
		return nil, errors.New("opening state directory: no path given")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("resolving state directory %s: %w", root, err)
	}
	lock, err := lockState(ctx, abs, mode)
	if err != nil {
		return nil, fmt.Errorf("locking state directory %s: %w", abs, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, lock.Unlock())
		}
	}()
	store, err := oci.OpenStore(abs)
	if err != nil {
		return nil, err
	}
	return &State{root: abs, mode: mode, store: store, lock: lock}, nil
}

// lockState takes the lock file of the state directory root in mode,
// creating the directory first.
func lockState(ctx context.Context, root string, mode Mode) (*fsutil.Lock, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("creating state directory %s: %w", root, err)
	}
	p := filepath.Join(root, LockName)
	if mode == Exclusive {
		return fsutil.LockFileContext(ctx, p)
	}
	return fsutil.LockFileSharedContext(ctx, p)
}

// Exists reports whether root holds a content store, so that a command
// with nothing to do there need not create the directory.
func Exists(root string) bool {
	_, err := os.Stat(filepath.Join(root, "blobs"))
	return err == nil
}

// Close releases the state-directory lock.
func (s *State) Close() error {
	if err := s.lock.Unlock(); err != nil {
		return fmt.Errorf("unlocking state directory %s: %w", s.root, err)
	}
	return nil
}

// Root is the directory's absolute path.
func (s *State) Root() string { return s.root }

// Mode is the mode the directory was opened in.
func (s *State) Mode() Mode { return s.mode }

// Store is the content store of the directory.
func (s *State) Store() *oci.Store { return s.store }

// BlobDir holds the store's blobs, one file per sha256 hex digest.
func (s *State) BlobDir() string { return filepath.Join(s.root, "blobs", "sha256") }

// LayersDir holds the extracted layers and chain directories.
func (s *State) LayersDir() string { return filepath.Join(s.root, "layers") }

// LayerDir is the overlay-format directory of the layer diffID.
func (s *State) LayerDir(diffID digest.Digest) string {
	return filepath.Join(s.LayersDir(), diffID.Encoded())
}

// ChainDir is the directory of the squashed stack of layers chainID names.
func (s *State) ChainDir(chainID digest.Digest) string {
	return filepath.Join(s.LayersDir(), ChainPrefix+chainID.Encoded())
}

// CacheDir is the build cache's directory (internal/cache).
func (s *State) CacheDir() string { return filepath.Join(s.root, "cache") }

// FileStatsPath is the file of context-file digests by stat identity.
func (s *State) FileStatsPath() string { return filepath.Join(s.CacheDir(), "files.stat") }

// ImagesPath is the file of image names (images.json).
func (s *State) ImagesPath() string { return filepath.Join(s.root, "images.json") }

// ImagesLockPath is the lock that serializes updates of ImagesPath.
func (s *State) ImagesLockPath() string { return filepath.Join(s.root, "images.lock") }

// LockPath is the state-directory lock file.
func (s *State) LockPath() string { return filepath.Join(s.root, LockName) }

// CacheMountsDir is where RUN --mount=type=cache keeps its caches
// (package internal/cachemount).
func (s *State) CacheMountsDir() string { return filepath.Join(s.root, "cachemounts") }

// TmpDir is the scratch space of builds, the store and prune.
func (s *State) TmpDir() string { return filepath.Join(s.root, "tmp") }

// RemoveStale removes the scratch directories of builds that died: those
// whose lock is free. It returns how many entries it removed.
func (s *State) RemoveStale(ctx context.Context) (int, error) {
	n, err := fsutil.RemoveStale(ctx, s.TmpDir(), BuildPrefix)
	if err != nil {
		return n, fmt.Errorf("cleaning the state directory: %w", err)
	}
	return n, nil
}
