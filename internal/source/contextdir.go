package source

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/ocibuilder/builder/internal/fsutil"
)

// ctxDirs reaches the entries of the context directory through directory
// descriptors: the root stays open, and so does the directory last worked
// in, so the entries of one directory, which COPY and the context hash
// visit one after another, cost one system call each. A directory is
// reached from the root with one openat2 that refuses symlinks and any way
// out, so only the length of a path inside the context is limited, never
// that of the context's own location.
type ctxDirs struct {
	root *fsutil.Dir

	mu  sync.Mutex
	rel string      // the directory cur is open on
	cur *fsutil.Dir // nil until first needed
}

func openCtxDirs(root string) (*ctxDirs, error) {
	d, err := fsutil.OpenDir(root)
	if err != nil {
		return nil, err
	}
	return &ctxDirs{root: d}, nil
}

// close releases the descriptors.
func (c *ctxDirs) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil {
		c.cur.Close()
		c.cur = nil
	}
	return c.root.Close()
}

// at runs fn on the directory holding the clean relative path p ("" is
// the root) and p's name in it, with the lock held.
func (c *ctxDirs) at(p string, fn func(d *fsutil.Dir, name string) error) error {
	dir, name := "", p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		dir, name = p[:i], p[i+1:]
	}
	if p == "" {
		name = "."
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, err := c.dirLocked(dir)
	if err != nil {
		return err
	}
	return fn(d, name)
}

// dirLocked returns the directory at rel, opening it unless it is the
// root or already open.
func (c *ctxDirs) dirLocked(rel string) (*fsutil.Dir, error) {
	if rel == "" {
		return c.root, nil
	}
	if c.cur != nil && c.rel == rel {
		return c.cur, nil
	}
	d, err := c.root.OpenDirBeneath(rel)
	if err != nil {
		return nil, err
	}
	if c.cur != nil {
		c.cur.Close()
	}
	c.cur, c.rel = d, rel
	return d, nil
}

// lstat describes p without following a final symlink.
func (c *ctxDirs) lstat(p string) (fi fs.FileInfo, err error) {
	err = c.at(p, func(d *fsutil.Dir, name string) error {
		fi, err = d.Lstat(name)
		return err
	})
	return fi, err
}

// readlink returns the target of the symlink p.
func (c *ctxDirs) readlink(p string) (t string, err error) {
	err = c.at(p, func(d *fsutil.Dir, name string) error {
		t, err = d.Readlink(name)
		return err
	})
	return t, err
}

// readDir lists the directory p sorted by name. The entries' types come
// from the listing; Info stats through the directory's descriptor.
func (c *ctxDirs) readDir(p string) ([]fs.DirEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, err := c.dirLocked(p)
	if err != nil {
		return nil, err
	}
	names, err := d.Names()
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, 0, len(names))
	for _, n := range names {
		fi, err := d.Lstat(n)
		if err != nil {
			if os.IsNotExist(err) {
				continue // removed while listing
			}
			return nil, fmt.Errorf("reading directory %s: %w", p, err)
		}
		out = append(out, fs.FileInfoToDirEntry(fi))
	}
	sortEntries(out)
	return out, nil
}

// open opens the entry p for reading, refusing symlinks on the way.
func (c *ctxDirs) open(p string) (*os.File, error) {
	return c.root.OpenBeneath(orDot(p))
}

// link reports, for resolve, whether cur is a symlink and where it
// points.
func (c *ctxDirs) link(cur string) (string, bool, error) {
	fi, err := c.lstat(cur)
	if err != nil {
		return "", false, err
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return "", false, nil
	}
	t, err := c.readlink(cur)
	return t, true, err
}

// sortEntries sorts directory entries by name, as os.ReadDir returns them.
func sortEntries(ents []fs.DirEntry) {
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
}
