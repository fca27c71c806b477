package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/ocibuilder/builder/pkg/layer"
	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/ocibuilder/builder/pkg/statedir"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// state is one build's handle on the state directory: the open
// statedir.State (its content store and lock) and the build's scratch
// directory.
type state struct {
	dir   *statedir.State
	store *oci.Store
	tmp   string
	// scratch holds tmp's lock for as long as the build runs.
	scratch *statedir.Scratch
	// owned is set when Build opened dir itself and must close it.
	owned bool
}

// openState prepares the build's scratch space in dir, or, with dir nil,
// opens the state directory root first (shared, so that a prune never
// removes what the build is about to use).
func openState(ctx context.Context, dir *statedir.State, root string) (_ *state, err error) {
	owned := false
	if dir == nil {
		if root == "" {
			return nil, errors.New("no state directory (Options.State or Options.Root) given")
		}
		if dir, err = statedir.Open(ctx, root, statedir.Shared); err != nil {
			return nil, err
		}
		owned = true
		defer func() {
			if err != nil {
				err = errors.Join(err, dir.Close())
			}
		}()
	}
	sc, err := dir.NewScratch(ctx)
	if err != nil {
		return nil, err
	}
	return &state{dir: dir, store: dir.Store(), tmp: sc.Path, scratch: sc, owned: owned}, nil
}

func (s *state) close() error {
	err := s.scratch.Close()
	if s.owned {
		err = errors.Join(err, s.dir.Close())
	}
	return err
}

func (s *state) layerDir(diffID digest.Digest) string {
	return s.dir.LayerDir(diffID)
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
