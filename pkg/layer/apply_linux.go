package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

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
	cr := &countReader{ctx: ctx, r: dr, budget: sizeBudget{limit: o.MaxSize}}
	n, err := extract(ctx, tar.NewReader(cr), cr, &applier{
		root:     rootDir,
		opts:     o,
		unpacked: make(map[string]bool),
		dirTimes: make(map[string]fileTimes),
		content:  sizeBudget{limit: o.MaxSize},
	})
	if cerr := dr.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing layer stream: %w", cerr)
	}
	return n, err
}

// extract runs the entry loop, then finishes directory times and drains
// the stream so the count covers the whole tar and decompressor checksums
// are verified.
func extract(ctx context.Context, tr *tar.Reader, cr *countReader, a *applier) (int64, error) {
	for {
		if err := ctx.Err(); err != nil {
			return cr.n, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return cr.n, fmt.Errorf("reading layer tar: %w", err)
		}
		if err := a.entry(ctx, hdr, tr); err != nil {
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
	// buf is the file copy buffer, allocated on first use.
	buf []byte
	// content counts the sizes of the files written so far.
	content sizeBudget
	// skippedDevices holds the device entries left out under
	// ApplyOptions.SkipDevices, so hard links to them are left out too.
	skippedDevices map[string]bool
}

// markUnpacked records name and its ancestors as written by this layer.
func (a *applier) markUnpacked(name string) {
	for name != "" && !a.unpacked[name] {
		a.unpacked[name] = true
		name, _ = splitName(name)
	}
}

// countReader counts bytes read, fails once they pass the budget, and
// stops reading once ctx is done, so a large file in the archive does not
// delay cancellation.
type countReader struct {
	ctx    context.Context
	r      io.Reader
	n      int64
	budget sizeBudget
}

func (c *countReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if berr := c.budget.take(int64(n)); berr != nil {
		// No bytes with the error: io.ReadFull drops an error that comes
		// with a full buffer.
		return 0, berr
	}
	return n, err
}
