package layer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// openDir returns a readable handle on the directory dir (relative to
// root, "" for root), resolved inside root. With create, missing
// directories are created with mode 0755 the way mkdir -p would.
func (a *applier) openDir(dir string, create bool) (*os.File, error) {
	if dir == "" {
		fd, err := unix.Openat(int(a.root.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("opening layer root: %w", err)
		}
		return os.NewFile(uintptr(fd), "."), nil
	}
	if create {
		h, err := pathrs.MkdirAllHandle(a.root, dir, 0o755)
		if errors.Is(err, unix.ENOTDIR) {
			h, err = a.mkdirThroughDangling(dir, err)
		}
		if err != nil {
			return nil, fmt.Errorf("creating directory %q: %w", dir, err)
		}
		return h, nil
	}
	h, err := pathrs.OpenatInRoot(a.root, dir)
	if err != nil {
		return nil, fmt.Errorf("opening directory %q: %w", dir, err)
	}
	defer h.Close()
	fd, err := unix.Openat(int(h.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening directory %q: %w", dir, err)
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// mkdirThroughDangling retries creating dir after MkdirAllHandle refused
// to create the missing target of a symlink on the way (err). Extractors
// such as containerd's create that target, and layers rely on it (a
// "var/run -> /run" link in one layer, "var/run/x" in the next), so the
// path is resolved inside root lexically and created as resolved. The
// resolution only picks the path; MkdirAllHandle still enforces
// containment.
func (a *applier) mkdirThroughDangling(dir string, err error) (*os.File, error) {
	rootPath := "/proc/self/fd/" + strconv.Itoa(int(a.root.Fd()))
	full, jerr := securejoin.SecureJoin(rootPath, dir)
	if jerr != nil {
		return nil, err
	}
	resolved, rerr := filepath.Rel(rootPath, full)
	if rerr != nil || resolved == dir || resolved == "." || strings.HasPrefix(resolved, "../") {
		return nil, err
	}
	return pathrs.MkdirAllHandle(a.root, resolved, 0o755)
}
