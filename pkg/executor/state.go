package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/ocibuilder/builder/internal/fsutil"
	"github.com/ocibuilder/builder/pkg/layer"
	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// state is one build's handle on the state directory:
//
//	blobs/sha256/<hex>   content store (pkg/oci)
//	layers/<hex>/        a layer extracted in overlay format, named by diffID; immutable
//	tmp/<id>/            this build's scratch space, guarded by tmp/<id>.lock
type state struct {
	root  string
	store *oci.Store
	tmp   string
	// scratch holds tmp's lock for as long as the build runs.
	scratch *fsutil.Scratch
	// shared is the state-directory lock every build holds, so that a
	// prune never removes what a running build is about to use.
	shared *fsutil.Lock
}

func openState(ctx context.Context, root string) (_ *state, err error) {
	if root == "" {
		return nil, errors.New("no state directory (Options.Root) given")
	}
	shared, err := fsutil.LockState(ctx, root, false)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			shared.Unlock()
		}
	}()
	for _, d := range []string{"layers", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("preparing state directory: %w", err)
		}
		// Each build's scratch space and each layer is a tree of its
		// own: spread them over the disk.
		fsutil.MarkTopDir(filepath.Join(root, d))
	}
	store, err := oci.OpenStore(root)
	if err != nil {
		return nil, err
	}
	// Scratch space of builds that died without cleaning up: their lock
	// is free.
	if _, err := fsutil.RemoveStale(ctx, filepath.Join(root, "tmp"), "build-"); err != nil {
		return nil, fmt.Errorf("cleaning the state directory: %w", err)
	}
	sc, err := fsutil.ReserveScratch(filepath.Join(root, "tmp"), "build-")
	if err != nil {
		return nil, fmt.Errorf("locking build directory: %w", err)
	}
	if err := os.Mkdir(sc.Path, 0o700); err != nil {
		return nil, errors.Join(fmt.Errorf("creating build directory: %w", err), sc.Release())
	}
	return &state{root: root, store: store, tmp: sc.Path, scratch: sc, shared: shared}, nil
}

func (s *state) close() error {
	err := os.RemoveAll(s.tmp)
	// With tmp gone, Release removes the lock file too.
	if uerr := s.scratch.Release(); err == nil {
		err = uerr
	}
	if uerr := s.shared.Unlock(); err == nil {
		err = uerr
	}
	return err
}

func (s *state) layerDir(diffID digest.Digest) string {
	return filepath.Join(s.root, "layers", diffID.Encoded())
}

// scratchDir makes a new directory in the build's scratch space.
func (s *state) scratchDir(prefix string) (string, error) {
	return os.MkdirTemp(s.tmp, prefix)
}

// extract returns the overlay-format directory of a layer, extracting its
// blob first if no build has done so yet. maxSize bounds the layer's
// uncompressed size (0: no limit).
func (s *state) extract(ctx context.Context, desc ocispec.Descriptor, diffID digest.Digest, maxSize int64) (string, error) {
	dst := s.layerDir(diffID)
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	tmp, err := s.scratchDir("extract-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	rc, err := s.store.Open(desc.Digest)
	if err != nil {
		return "", fmt.Errorf("opening layer %s: %w", desc.Digest, err)
	}
	defer rc.Close()
	// The store checks the blob digest at EOF, which pins the content the
	// diffID was computed from.
	if _, err := layer.Apply(ctx, tmp, rc, layer.ApplyOptions{Whiteouts: layer.WhiteoutOverlay, MaxSize: maxSize}); err != nil {
		return "", fmt.Errorf("extracting layer %s: %w", desc.Digest, err)
	}
	// Read to the end so that the store verifies the blob's digest.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return "", fmt.Errorf("extracting layer %s: %w", desc.Digest, err)
	}
	if err := os.Rename(tmp, dst); err != nil && !errors.Is(err, fs.ErrExist) && !isNotEmpty(err) {
		return "", fmt.Errorf("storing layer %s: %w", desc.Digest, err)
	}
	return dst, nil
}

// commitDir moves a finished upper directory into place as the layer
// directory of diffID. Another build may have stored the same layer first.
func (s *state) commitDir(dir string, diffID digest.Digest) (string, error) {
	dst := s.layerDir(diffID)
	if err := os.Rename(dir, dst); err != nil {
		if errors.Is(err, fs.ErrExist) || isNotEmpty(err) {
			os.RemoveAll(dir)
			return dst, nil
		}
		return "", fmt.Errorf("storing layer %s: %w", diffID, err)
	}
	return dst, nil
}

// isNotEmpty reports a rename onto an existing, non-empty directory.
func isNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY)
}
