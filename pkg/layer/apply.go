package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// Apply extracts the layer read from r onto the directory root (created if
// missing) and returns the number of uncompressed tar bytes read. r may be
// gzip, zstd, bzip2, xz or plain tar.
//
// Every path is resolved inside root as if root were the filesystem root:
// absolute names and symlinks (including symlinks the archive itself
// creates) cannot lead outside it. Names that climb above root with ".."
// and hard links to targets that do not exist inside root fail with an
// *UnsafePathError. An entry replaces whatever was at its path, except
// that a directory over a directory merges. Whiteouts are applied as
// o.Whiteouts says. Owners (unless o.NoSameOwner), modes, extended
// attributes and modification times are restored; directory times are set
// last, after their children stopped changing them.
//
// Apply guards against the archive, not against other processes changing
// root while it runs.
func Apply(ctx context.Context, root string, r io.Reader, o ApplyOptions) (int64, error) {
	if o.Whiteouts != WhiteoutOCI && o.Whiteouts != WhiteoutOverlay {
		return 0, fmt.Errorf("applying layer: unknown whiteout format %d", o.Whiteouts)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return 0, fmt.Errorf("creating layer root: %w", err)
	}
	rootDir, err := os.OpenFile(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("opening layer root: %w", err)
	}
	defer rootDir.Close()

	dr, _, err := Decompress(r)
	if err != nil {
		return 0, fmt.Errorf("applying layer: %w", err)
	}
	cr := &countReader{ctx: ctx, r: dr}
	n, err := extract(tar.NewReader(cr), cr, &applier{
		root:     rootDir,
		opts:     o,
		unpacked: make(map[string]bool),
		dirTimes: make(map[string]fileTimes),
	})
	if cerr := dr.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing layer stream: %w", cerr)
	}
	return n, err
}

// extract runs the entry loop, then finishes directory times and drains
// the stream so the count covers the whole tar and decompressor checksums
// are verified.
func extract(tr *tar.Reader, cr *countReader, a *applier) (int64, error) {
	for {
		if err := cr.ctx.Err(); err != nil {
			return cr.n, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return cr.n, fmt.Errorf("reading layer tar: %w", err)
		}
		if err := a.entry(hdr, tr); err != nil {
			return cr.n, err
		}
	}
	if err := a.finishDirs(); err != nil {
		return cr.n, err
	}
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return cr.n, fmt.Errorf("reading layer stream end: %w", err)
	}
	return cr.n, nil
}

// fileTimes are the access and modification times to restore.
type fileTimes [2]unix.Timespec

// applier carries the state of one Apply call.
type applier struct {
	// root is an O_PATH handle on the target directory.
	root *os.File
	opts ApplyOptions
	// unpacked holds every name this layer wrote and its ancestors, so an
	// opaque whiteout keeps them.
	unpacked map[string]bool
	// dirTimes holds directory times set once the archive is done.
	dirTimes map[string]fileTimes
}

// markUnpacked records name and its ancestors as written by this layer.
func (a *applier) markUnpacked(name string) {
	for name != "" && !a.unpacked[name] {
		a.unpacked[name] = true
		name, _ = splitName(name)
	}
}

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
			return nil, fmt.Errorf("creating directory %s: %w", dir, err)
		}
		return h, nil
	}
	h, err := pathrs.OpenatInRoot(a.root, dir)
	if err != nil {
		return nil, fmt.Errorf("opening directory %s: %w", dir, err)
	}
	defer h.Close()
	fd, err := unix.Openat(int(h.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening directory %s: %w", dir, err)
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

// finishDirs sets the times of every directory the archive described.
// Names are looked up again because later entries may have replaced a
// directory; anything that is no longer a directory is left alone.
func (a *applier) finishDirs() error {
	names := make([]string, 0, len(a.dirTimes))
	for n := range a.dirTimes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		dir, base := splitName(name)
		parent, err := a.openDir(dir, false)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			continue
		}
		if err != nil {
			return err
		}
		err = setDirTimes(int(parent.Fd()), base, a.dirTimes[name])
		if cerr := parent.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("setting times of %s: %w", name, err)
		}
	}
	return nil
}

// setDirTimes sets the times of base in dirfd if it is still a directory.
func setDirTimes(dirfd int, base string, t fileTimes) error {
	var st unix.Stat_t
	err := unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) || (err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR) {
		return nil
	}
	if err != nil {
		return err
	}
	return unix.UtimesNanoAt(dirfd, base, t[:], unix.AT_SYMLINK_NOFOLLOW)
}

// countReader counts bytes read and stops reading once ctx is done, so a
// large file in the archive does not delay cancellation.
type countReader struct {
	ctx context.Context
	r   io.Reader
	n   int64
}

func (c *countReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
