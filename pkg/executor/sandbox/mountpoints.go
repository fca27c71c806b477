package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// stubs records the paths created in the root filesystem as mountpoints.
type stubs struct {
	list []string
}

// mountpoints are the resolved host paths, inside the mounted root, that the
// sandbox mounts over.
type mountpoints struct {
	root                        string
	proc, dev, sys              string
	hosts, resolvConf, hostname string
}

// makeMountpoints resolves the sandbox's mountpoints inside root, creating
// what the image lacks. Symlinks in the image are followed as if root were
// "/", so an image whose /etc/hosts points elsewhere gets the mount at the
// link's target inside the image, never on the host.
func makeMountpoints(root string, st *stubs) (mountpoints, error) {
	mp := mountpoints{root: root}
	for _, m := range []struct {
		rel string
		dir bool
		dst *string
	}{
		{"proc", true, &mp.proc},
		{"dev", true, &mp.dev},
		{"sys", true, &mp.sys},
		{"etc/hosts", false, &mp.hosts},
		{"etc/resolv.conf", false, &mp.resolvConf},
		{"etc/hostname", false, &mp.hostname},
	} {
		p, err := ensureMountpoint(root, m.rel, m.dir, st)
		if err != nil {
			return mp, err
		}
		*m.dst = p
	}
	return mp, nil
}

// ensureMountpoint returns the host path of rel inside root, creating it and
// any missing parent (recorded as stubs) when absent.
func ensureMountpoint(root, rel string, dir bool, st *stubs) (string, error) {
	p, err := securejoin.SecureJoin(root, rel)
	if err != nil {
		return "", fmt.Errorf("resolving mountpoint /%s: %w", rel, err)
	}
	inRoot, err := filepath.Rel(root, p)
	if err != nil || inRoot == "." || strings.HasPrefix(inRoot, "../") {
		return "", fmt.Errorf("resolving mountpoint /%s: resolved outside the root to %s", rel, p)
	}
	parts := strings.Split(inRoot, string(filepath.Separator))
	cur := root
	for i, name := range parts {
		cur = filepath.Join(cur, name)
		last := i == len(parts)-1
		fi, err := os.Lstat(cur)
		switch {
		case err == nil:
			wantDir := dir || !last
			if fi.IsDir() != wantDir || (!wantDir && !fi.Mode().IsRegular()) {
				return "", fmt.Errorf("preparing mountpoint /%s: /%s is a %s", rel, filepath.ToSlash(filepath.Join(parts[:i+1]...)), kindOf(fi.Mode()))
			}
			continue
		case !errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("preparing mountpoint /%s: %w", rel, err)
		}
		// The parent keeps its times, so that a mountpoint does not
		// show up in the step's layer as a change of its directory.
		parent, perr := os.Lstat(filepath.Dir(cur))
		if last && !dir {
			err = createEmptyFile(cur)
		} else {
			err = os.Mkdir(cur, 0o755)
		}
		if err != nil {
			return "", fmt.Errorf("creating mountpoint /%s: %w", rel, err)
		}
		if perr == nil {
			if err := RestoreTimes(filepath.Dir(cur), parent); err != nil {
				return "", fmt.Errorf("creating mountpoint /%s: %w", rel, err)
			}
		}
		st.list = append(st.list, filepath.ToSlash(filepath.Join(parts[:i+1]...)))
	}
	return p, nil
}

func createEmptyFile(p string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

func kindOf(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m.IsRegular():
		return "regular file"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	}
	return "special file"
}

// RestoreTimes sets the access and modification times of p (not following
// a symlink) back to those recorded in fi.
func RestoreTimes(p string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("restoring times of %s: no stat data", p)
	}
	ts := []unix.Timespec{unix.Timespec(st.Atim), unix.Timespec(st.Mtim)}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("restoring times of %s: %w", p, err)
	}
	return nil
}
