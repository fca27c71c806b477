package sandbox

import (
	"cmp"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// Mount is a filesystem a RUN step sees at Target besides its root: a host
// file or directory bound in, an overlay (a stage's layers, or a directory
// under a throw-away upper), or an empty tmpfs. Exactly one of Source,
// Overlay and Tmpfs is set.
type Mount struct {
	// Target is the absolute, clean path inside the sandbox. A path the
	// image lacks is created as a stub (Result.Stubs); symlinks on the
	// way resolve inside the root, never on the host.
	Target string
	// Source is a host file or directory bind-mounted at Target. Mounts
	// below it on the host are not carried along.
	Source string
	// Overlay is mounted privately in the sandbox; its upper directory
	// receives what the step writes there.
	Overlay *Overlay
	// Tmpfs mounts an empty tmpfs (mode 1777, as BuildKit's).
	Tmpfs *Tmpfs
	// Subpath selects what of Source or Overlay appears at Target: a
	// slash path inside it, whose symlinks resolve inside it too, so it
	// cannot lead out. Empty means the whole.
	Subpath string
	// ReadOnly makes the mount read-only.
	ReadOnly bool
}

// Tmpfs is a memory-backed filesystem of a step.
type Tmpfs struct {
	// Size bounds its size in bytes; 0 means the kernel's default (half
	// of the memory).
	Size int64
}

// checkMounts refuses mounts no kernel call could honour as asked, makes
// their host paths absolute and clean, and orders them so that a mount
// never hides one below its target: parents first.
func checkMounts(mounts []Mount) ([]Mount, error) {
	out := make([]Mount, len(mounts))
	seen := make(map[string]bool, len(mounts))
	for i, m := range mounts {
		switch {
		case strings.ContainsRune(m.Target, 0) || strings.ContainsRune(m.Subpath, 0):
			return nil, fmt.Errorf("%w: mount at %q contains a NUL byte", ErrInvalidSpec, m.Target)
		case !path.IsAbs(m.Target) || path.Clean(m.Target) != m.Target:
			return nil, fmt.Errorf("%w: mount target %q is not absolute and clean", ErrInvalidSpec, m.Target)
		case m.Target == "/":
			return nil, fmt.Errorf("%w: mount target is the root", ErrInvalidSpec)
		case seen[m.Target]:
			return nil, fmt.Errorf("%w: two mounts at %s", ErrInvalidSpec, m.Target)
		}
		seen[m.Target] = true
		var err error
		if out[i], err = m.normalize(); err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(out, func(a, b Mount) int {
		return cmp.Compare(strings.Count(a.Target, "/"), strings.Count(b.Target, "/"))
	})
	return out, nil
}

// normalize checks that m has exactly one kind and makes its host paths
// absolute.
func (m Mount) normalize() (Mount, error) {
	kinds := 0
	var err error
	if m.Source != "" {
		kinds++
		if m.Source, err = hostPath("mount source", m.Source); err != nil {
			return m, err
		}
	}
	if m.Overlay != nil {
		kinds++
		o, err := m.Overlay.normalize()
		if err != nil {
			return m, err
		}
		m.Overlay = &o
	}
	if m.Tmpfs != nil {
		kinds++
		if m.Tmpfs.Size < 0 {
			return m, fmt.Errorf("%w: tmpfs at %s: negative size", ErrInvalidSpec, m.Target)
		}
		if m.Subpath != "" {
			return m, fmt.Errorf("%w: tmpfs at %s has a subpath", ErrInvalidSpec, m.Target)
		}
	}
	if kinds != 1 {
		return m, fmt.Errorf("%w: mount at %s needs exactly one of a source, an overlay and a tmpfs", ErrInvalidSpec, m.Target)
	}
	return m, nil
}

// mountStepMounts mounts spec.Mounts inside root, in order, each nosuid
// and nodev like every other mount of the sandbox.
func mountStepMounts(spec *Spec, root string, st *stubs) error {
	for i, m := range spec.Mounts {
		if err := mountStep(spec.StateDir, i, m, root, st); err != nil {
			return fmt.Errorf("mount at %s: %w", m.Target, err)
		}
	}
	return nil
}

// mountStep mounts the i-th step mount m inside root.
func mountStep(stateDir string, i int, m Mount, root string, st *stubs) error {
	if m.Tmpfs != nil {
		dst, err := ensureMountpoint(root, strings.TrimPrefix(m.Target, "/"), true, st)
		if err != nil {
			return err
		}
		opts := "mode=1777"
		if m.Tmpfs.Size > 0 {
			opts += ",size=" + strconv.FormatInt(m.Tmpfs.Size, 10)
		}
		if err := unix.Mount("tmpfs", dst, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			return fmt.Errorf("mounting tmpfs: %w", err)
		}
		return setMountFlags(dst, m.ReadOnly)
	}
	src, err := stageMount(stateDir, i, m)
	if err != nil {
		return err
	}
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	dst, err := ensureMountpoint(root, strings.TrimPrefix(m.Target, "/"), fi.IsDir(), st)
	if err != nil {
		return err
	}
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting %s: %w", src, err)
	}
	return setMountFlags(dst, m.ReadOnly)
}

// stageMount returns the host path to bind at the mount's target: Source
// itself, or the overlay mounted in the sandbox's state directory, with
// Subpath resolved inside either.
func stageMount(stateDir string, i int, m Mount) (string, error) {
	base := m.Source
	if m.Overlay != nil {
		base = filepath.Join(stateDir, "mounts", strconv.Itoa(i))
		if err := os.MkdirAll(base, 0o700); err != nil {
			return "", fmt.Errorf("creating overlay mountpoint: %w", err)
		}
		if err := mountOverlay(*m.Overlay, base); err != nil {
			return "", err
		}
	}
	if m.Subpath == "" || m.Subpath == "/" || m.Subpath == "." {
		return base, nil
	}
	p, err := securejoin.SecureJoin(base, m.Subpath)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", m.Subpath, err)
	}
	if _, err := os.Lstat(p); err != nil {
		return "", fmt.Errorf("source %s: %w", m.Subpath, err)
	}
	return p, nil
}

// setMountFlags makes the mount at dst nosuid and nodev, and read-only
// when asked.
func setMountFlags(dst string, readOnly bool) error {
	attrs := uint64(unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV)
	if readOnly {
		attrs |= unix.MOUNT_ATTR_RDONLY
	}
	if err := addMountAttrs(dst, attrs); err != nil {
		return fmt.Errorf("setting its flags: %w", err)
	}
	return nil
}
