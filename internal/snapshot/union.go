package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/ocibuilder/builder/internal/fsutil"
	"golang.org/x/sys/unix"
)

// node is one entry of a union view. Its layer directories stay open
// while the view it was found in is.
type node struct {
	name string
	// rel is the entry's path from the layer roots, "." for the root.
	rel string
	fi  fs.FileInfo
	// at is the root of the topmost layer that has the entry.
	at *fsutil.Dir
	// merge, for a directory, holds the roots of every layer whose
	// directory rel merges into it, topmost first. A directory with no
	// layers is empty.
	merge []*fsutil.Dir
}

// isDir reports whether n is a directory.
func (n node) isDir() bool { return n.fi != nil && n.fi.IsDir() }

// udir is a directory of a union view: the roots of the layers that merge
// into it, topmost first, and its path from them. Every entry is reached
// from a layer root's descriptor by its path inside the layer, so no host
// path longer than a layer root's is ever built. The layers do not change
// while in use and the path's directories were each seen as a directory
// in that layer, so the path leads where the walk went.
type udir struct {
	rel    string
	layers []*fsutil.Dir
}

// dir returns the union directory n is, or an empty one for a
// non-directory.
func (n node) dir() udir {
	return udir{rel: n.rel, layers: n.merge}
}

// join is the path of name in the directory at rel.
func join(rel, name string) string {
	if rel == "." {
		return name
	}
	return rel + "/" + name
}

// roots holds the open layer roots of a view, topmost first.
type roots []*fsutil.Dir

// close closes the layer roots.
func (r roots) close() {
	for _, d := range r {
		d.Close()
	}
}

// cleanRel turns a slash path relative to the view's root ("", "/" and a
// leading "/" allowed) into its clean form without a leading slash; ".."
// stops at the root. The root is "".
func cleanRel(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

// splitRel splits a clean relative path into components.
func splitRel(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// openRoot opens the layer directories dirs (lowest first) and returns
// them topmost first with the view's root node. The opaque marker of a
// layer root is ignored, as overlayfs merges every layer at the mount
// root. Without layers there is no root: root.fi is nil.
func openRoot(dirs []string) (r roots, root node, err error) {
	r = make(roots, 0, len(dirs))
	for _, d := range slices.Backward(dirs) {
		dd, err := fsutil.OpenDir(d)
		if err != nil {
			r.close()
			return nil, node{}, fmt.Errorf("opening layer %s: %w", d, err)
		}
		r = append(r, dd)
	}
	if len(r) == 0 {
		return r, node{}, nil
	}
	fi, err := r[0].Stat()
	if err != nil {
		r.close()
		return nil, node{}, fmt.Errorf("opening layer %s: %w", r[0].Name(), err)
	}
	return r, node{name: ".", rel: ".", fi: fi, at: r[0], merge: r}, nil
}

// child looks name up in the union directory u, topmost first, with the
// overlayfs rules: the first layer that has the name decides; a whiteout
// there hides it; a directory merges with the same directory in the layers
// below it until one of them is opaque or one has a non-directory there.
func child(u udir, name string) (node, bool, error) {
	rel := join(u.rel, name)
	for i, d := range u.layers {
		fi, err := d.Lstat(rel)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return node{}, false, fmt.Errorf("looking up: %w", err)
		}
		if isWhiteout(fi) {
			return node{}, false, nil
		}
		n := node{name: name, rel: rel, fi: fi, at: d}
		if !fi.IsDir() {
			return n, true, nil
		}
		n.merge = []*fsutil.Dir{d}
		opaque, err := xattrIs(d, rel, "y", xattrOpaque)
		if err != nil {
			return node{}, false, err
		}
		if opaque {
			return n, true, nil
		}
		for _, ld := range u.layers[i+1:] {
			lfi, err := ld.Lstat(rel)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return node{}, false, fmt.Errorf("looking up: %w", err)
			}
			if !lfi.IsDir() {
				break // a whiteout or a non-directory hides all further layers
			}
			n.merge = append(n.merge, ld)
			if opaque, err := xattrIs(ld, rel, "y", xattrOpaque); err != nil {
				return node{}, false, err
			} else if opaque {
				break
			}
		}
		return n, true, nil
	}
	return node{}, false, nil
}

// names lists the directory rel of the layer root d.
func names(d *fsutil.Dir, rel string) ([]string, error) {
	if rel == "." {
		return d.Names()
	}
	sub, err := d.OpenDirBeneath(rel)
	if err != nil {
		return nil, err
	}
	defer sub.Close()
	return sub.Names()
}

// list returns the entries of the union directory u sorted by name,
// whiteouts and the entries they hide removed.
func list(u udir) ([]node, error) {
	seen := make(map[string]bool)
	var out []node
	for i, d := range u.layers {
		ns, err := names(d, u.rel)
		if err != nil {
			return nil, fmt.Errorf("reading layer directory: %w", err)
		}
		for _, name := range ns {
			if seen[name] {
				continue
			}
			seen[name] = true
			// No layer above i has name, so the lookup can start at i.
			c, ok, err := child(udir{rel: u.rel, layers: u.layers[i:]}, name)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, c)
			}
		}
	}
	slices.SortFunc(out, func(a, b node) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// lookup finds the clean relative path p in the view of the layer
// directories dirs (lowest first) without following symlinks. Errors are
// *fs.PathError with ENOENT or ENOTDIR, like lstat. The node stays valid
// until release is called; release is nil when err is not.
func lookup(dirs []string, p string) (n node, release func(), err error) {
	r, n, err := openRoot(dirs)
	if err != nil {
		return node{}, nil, err
	}
	if n.fi == nil { // a stack without layers has not even a root
		return node{}, nil, &fs.PathError{Op: "lstat", Path: "/" + p, Err: unix.ENOENT}
	}
	for _, c := range splitRel(p) {
		if !n.isDir() {
			r.close()
			return node{}, nil, &fs.PathError{Op: "lstat", Path: p, Err: unix.ENOTDIR}
		}
		next, ok, err := child(n.dir(), c)
		if err != nil {
			r.close()
			return node{}, nil, err
		}
		if !ok {
			r.close()
			return node{}, nil, &fs.PathError{Op: "lstat", Path: p, Err: unix.ENOENT}
		}
		n = next
	}
	return n, r.close, nil
}
