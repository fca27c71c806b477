package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"

	"github.com/ocibuilder/builder/pkg/layer"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	"golang.org/x/sys/unix"
)

// MaxLowerDirs bounds the lower directories of one overlay mount: the mount
// options must fit in a page, and each layer directory name takes about 65
// bytes. The overlay snapshotter squashes deeper stacks, which needs the
// diff IDs of all their layers, so those must be known before Prepare.
const MaxLowerDirs = 48

// keepLowerDirs is how many of the topmost layers at least stay separate
// when a stack is squashed. The squashed bottom grows in blocks of
// MaxLowerDirs-keepLowerDirs layers, so a long stage squashes once per
// block, not at every step, and never needs more than MaxLowerDirs lower
// directories.
const keepLowerDirs = 16

// NewOverlay returns the snapshotter that mounts the stack under a fresh
// upper directory: nothing is copied, and the upper directory holds
// exactly the step's changes, ready to become its layer's directory.
func NewOverlay(cfg Config) Snapshotter { return overlaySnapshotter{cfg} }

type overlaySnapshotter struct{ cfg Config }

// overlaySnapshot is a step's upper and work directories in scratch, a
// directory of its own in the build's scratch space.
type overlaySnapshot struct {
	cfg     Config
	scratch string
	lower   *Stack
	mounts  Mounts
	// upper is where the step's changes are: in scratch until Commit
	// moves them out.
	upper string
}

// Prepare makes the upper and work directories and the lower directories
// the mount takes: the stack's, an empty one for an empty stack, and the
// squash of the bottom of a stack deeper than MaxLowerDirs.
func (o overlaySnapshotter) Prepare(ctx context.Context, lower *Stack, ids []digest.Digest) (Snapshot, error) {
	scratch, err := o.cfg.Scratch("root-")
	if err != nil {
		return nil, fmt.Errorf("preparing the root filesystem: %w", err)
	}
	s := &overlaySnapshot{cfg: o.cfg, scratch: scratch, lower: lower, upper: filepath.Join(scratch, "upper")}
	lowers, err := s.lowerDirs(ctx, lower.Dirs(), ids)
	if err != nil {
		return nil, errors.Join(err, s.Release())
	}
	work := filepath.Join(scratch, "work")
	for _, d := range []string{s.upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, errors.Join(fmt.Errorf("preparing the root filesystem: %w", err), s.Release())
		}
	}
	s.mounts = Mounts{Overlay: &Overlay{LowerDirs: lowers, UpperDir: s.upper, WorkDir: work}}
	return s, nil
}

// Mounts is the overlay of the lower directories under the upper one.
func (s *overlaySnapshot) Mounts() Mounts { return s.mounts }

// Changes reads the upper directory, wherever Commit put it.
func (s *overlaySnapshot) Changes(exclude ...string) layer.Changes {
	return Changes(s.upper, s.lower, exclude...)
}

// Commit moves the upper directory out of the snapshot's scratch
// directory, which Release removes, to become a lower directory of the
// next steps while its layer is still being written.
func (s *overlaySnapshot) Commit() (Result, error) {
	keep, err := s.cfg.Scratch("layer-")
	if err != nil {
		return Result{}, err
	}
	dir := filepath.Join(keep, "upper")
	if err := os.Rename(s.upper, dir); err != nil {
		return Result{}, fmt.Errorf("keeping the step's changes: %w", err)
	}
	s.upper = dir
	return Result{Dir: dir, IsLayer: true}, nil
}

// Release removes the snapshot's scratch directory, with the upper
// directory unless Commit moved it out.
func (s *overlaySnapshot) Release() error {
	return os.RemoveAll(s.scratch)
}

// lowerDirs returns dirs as overlay lower dirs, lowest first. An empty
// stack gets an empty directory; a stack deeper than MaxLowerDirs has its
// bottom layers squashed once into a shared directory named by their
// chain ID.
func (s *overlaySnapshot) lowerDirs(ctx context.Context, dirs []string, ids []digest.Digest) ([]string, error) {
	if len(dirs) == 0 {
		empty := filepath.Join(s.scratch, "empty")
		if err := os.Mkdir(empty, 0o755); err != nil {
			return nil, fmt.Errorf("preparing the root filesystem: %w", err)
		}
		return []string{empty}, nil
	}
	if len(dirs) <= MaxLowerDirs {
		return dirs, nil
	}
	block := MaxLowerDirs - keepLowerDirs
	cut := (len(dirs) - keepLowerDirs) / block * block
	if len(ids) < cut || slices.Contains(ids, "") {
		// The squash is named by diff IDs, which a layer gets when
		// it has been written.
		return nil, errors.New("squashing layers that are still being written")
	}
	chain := s.cfg.ChainDir(identity.ChainID(ids[:cut]))
	if _, err := os.Stat(chain); errors.Is(err, fs.ErrNotExist) {
		if err := squash(ctx, s.cfg, dirs[:cut], chain); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("squashing %d layers: %w", cut, err)
	}
	return append([]string{chain}, dirs[cut:]...), nil
}

// squash materializes the union of dirs and moves it to chain, unless
// another build got there first.
func squash(ctx context.Context, cfg Config, dirs []string, chain string) error {
	tmp, err := cfg.Scratch("squash-")
	if err != nil {
		return fmt.Errorf("squashing %d layers: %w", len(dirs), err)
	}
	defer os.RemoveAll(tmp)
	flat := filepath.Join(tmp, "flat")
	if err := Materialize(ctx, NewStack(dirs...), flat); err != nil {
		return fmt.Errorf("squashing %d layers: %w", len(dirs), err)
	}
	if err := os.Rename(flat, chain); err != nil && !errors.Is(err, fs.ErrExist) && !errors.Is(err, syscall.ENOTEMPTY) {
		return fmt.Errorf("squashing %d layers: %w", len(dirs), err)
	}
	return nil
}

// ProbeOverlay mounts a throwaway overlay in tmp with the options the
// overlay snapshotter needs, to tell whether it can work here. The mount
// is made in a private mount namespace of a thread that is discarded
// afterwards, so the probe never leaves a mount behind.
func ProbeOverlay(tmp string) error {
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
	o := Overlay{LowerDirs: dirs[:1], UpperDir: dirs[1], WorkDir: dirs[2]}
	return inPrivateMounts(func() error {
		if err := unix.Mount("overlay", dirs[3], "overlay", 0, o.mountOptions()); err != nil {
			return fmt.Errorf("mounting overlayfs: %w", err)
		}
		return unix.Unmount(dirs[3], unix.MNT_DETACH)
	})
}

// mountOptions is the overlayfs mount data for o, with the options that
// keep the upper directory a plain diff.
func (o Overlay) mountOptions() string {
	lowers := slices.Clone(o.LowerDirs)
	slices.Reverse(lowers) // overlayfs wants the top first
	return fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s,index=off,metacopy=off,redirect_dir=off",
		strings.Join(lowers, ":"), o.UpperDir, o.WorkDir)
}

// inPrivateMounts runs fn on a thread of its own in a private mount
// namespace. The thread is never unlocked: it exits with its goroutine,
// taking the namespace and any mount fn left behind along.
func inPrivateMounts(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			errc <- fmt.Errorf("unsharing the mount namespace: %w", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			errc <- fmt.Errorf("making mounts private: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
