package statedir

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/ocibuilder/builder/internal/fsutil"
)

// Scratch is one build's scratch directory, tmp/build-<id>, locked for as
// long as the build runs.
type Scratch struct {
	// Path is the directory.
	Path string
	res  *fsutil.Scratch
}

// NewScratch prepares the directory for a build: it creates layers/ and
// tmp/, removes the scratch space of builds that died, and reserves and
// creates a scratch directory of the build's own. Close removes it.
func (s *State) NewScratch(ctx context.Context) (*Scratch, error) {
	for _, d := range []string{s.LayersDir(), s.TmpDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("preparing state directory: %w", err)
		}
		// Each build's scratch space and each layer is a tree of its
		// own: spread them over the disk.
		fsutil.MarkTopDir(d)
	}
	if _, err := s.RemoveStale(ctx); err != nil {
		return nil, err
	}
	res, err := fsutil.ReserveScratch(s.TmpDir(), BuildPrefix)
	if err != nil {
		return nil, fmt.Errorf("locking build directory: %w", err)
	}
	if err := os.Mkdir(res.Path, 0o700); err != nil {
		return nil, errors.Join(fmt.Errorf("creating build directory: %w", err), res.Release())
	}
	return &Scratch{Path: res.Path, res: res}, nil
}

// Close removes the scratch directory and releases its lock.
func (sc *Scratch) Close() error {
	err := os.RemoveAll(sc.Path)
	if err != nil {
		err = fmt.Errorf("removing build directory: %w", err)
	}
	// With the directory gone, Release removes the lock file too.
	return errors.Join(err, sc.res.Release())
}
