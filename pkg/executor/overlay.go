package executor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/ocibuilder/builder/internal/snapshot"
	"github.com/opencontainers/image-spec/identity"
	"golang.org/x/sys/unix"
)

// maxLowerDirs bounds the lower directories of one overlay mount: the mount
// options must fit in a page, and each layer directory name takes about 65
// bytes. Deeper stacks are squashed (see lowerDirs).
const maxLowerDirs = 48

// keepLowerDirs is how many of the topmost layers at least stay separate
// when a stack is squashed. The squashed bottom grows in blocks of
// maxLowerDirs-keepLowerDirs layers, so a long stage squashes once per
// block, not at every step, and never needs more than maxLowerDirs lower
// directories.
const keepLowerDirs = 16

// snapshotter decides, once per build, how RUN steps get their root
// filesystem.
func (b *builder) snapshotter() (Snapshotter, error) {
	b.snapOnce.Do(func() {
		switch b.opts.Snapshotter {
		case SnapshotterOverlay, SnapshotterCopy:
			b.snapKind = b.opts.Snapshotter
		case SnapshotterAuto:
			if err := probeOverlay(b.state.tmp); err != nil {
				b.snapKind = SnapshotterCopy
				b.snapWhy = err
				return
			}
			b.snapKind = SnapshotterOverlay
		default:
			b.snapErr = fmt.Errorf("unknown snapshotter %q", b.opts.Snapshotter)
		}
	})
	return b.snapKind, b.snapErr
}

// probeOverlay mounts a throwaway overlay with the options RUN steps use,
// in a private mount namespace of a thread that is discarded afterwards,
// so the probe never leaves a mount behind.
func probeOverlay(tmp string) error {
	dir, err := os.MkdirTemp(tmp, "probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var dirs [4]string
	for i, n := range []string{"lower", "upper", "work", "merged"} {
		dirs[i] = filepath.Join(dir, n)
		if err := os.Mkdir(dirs[i], 0o755); err != nil {
			return err
		}
	}
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: it exits with the goroutine,
		// taking its mount namespace along.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			errc <- fmt.Errorf("unsharing the mount namespace: %w", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			errc <- fmt.Errorf("making mounts private: %w", err)
			return
		}
		opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s,index=off,metacopy=off,redirect_dir=off", dirs[0], dirs[1], dirs[2])
		if err := unix.Mount("overlay", dirs[3], "overlay", 0, opts); err != nil {
			errc <- fmt.Errorf("mounting overlayfs: %w", err)
			return
		}
		errc <- unix.Unmount(dirs[3], unix.MNT_DETACH)
	}()
	return <-errc
}

// lowerDirs returns the stage's layer directories as overlay lower dirs,
// lowest first. A stage without layers gets an empty directory; a stack
// deeper than maxLowerDirs has its bottom layers squashed once into a
// shared directory named by their chain ID.
func (b *builder) lowerDirs(ctx context.Context, ss *stageState, scratch string) ([]string, error) {
	dirs := ss.dirs
	if len(dirs) == 0 {
		empty := filepath.Join(scratch, "empty")
		if err := os.Mkdir(empty, 0o755); err != nil {
			return nil, err
		}
		return []string{empty}, nil
	}
	if len(dirs) <= maxLowerDirs {
		return dirs, nil
	}
	if len(ss.pending) > 0 {
		// execRun settles deep stacks before it takes their view.
		return nil, errors.New("squashing layers that are still being written")
	}
	block := maxLowerDirs - keepLowerDirs
	cut := (len(dirs) - keepLowerDirs) / block * block
	chain := b.state.dir.ChainDir(identity.ChainID(ss.cfg.RootFS.DiffIDs[:cut]))
	if _, err := os.Stat(chain); errors.Is(err, fs.ErrNotExist) {
		tmp, err := b.state.scratchDir("squash-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		flat := filepath.Join(tmp, "flat")
		if err := snapshot.Materialize(ctx, snapshot.NewStack(dirs[:cut]...), flat); err != nil {
			return nil, fmt.Errorf("squashing %d layers: %w", cut, err)
		}
		if err := os.Rename(flat, chain); err != nil && !errors.Is(err, fs.ErrExist) && !errors.Is(err, syscall.ENOTEMPTY) {
			return nil, fmt.Errorf("squashing %d layers: %w", cut, err)
		}
	} else if err != nil {
		return nil, err
	}
	return append([]string{chain}, dirs[cut:]...), nil
}
