package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// node is one entry of a union view.
type node struct {
	name string
	fi   fs.FileInfo
	// host is the entry in the topmost layer that has it.
	host string
	// dirs, for a directory, are its host paths in every layer that merges
	// into it, topmost first. A directory with no layers is empty.
	dirs []string
}

// isDir reports whether n is a directory.
func (n node) isDir() bool { return n.fi != nil && n.fi.IsDir() }

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

// rootNode returns the view's root directory. The opaque marker of a layer
// root is ignored, as overlayfs merges every layer at the mount root.
func rootNode(dirs []string) (node, error) {
	top := make([]string, 0, len(dirs))
	for _, d := range slices.Backward(dirs) {
		top = append(top, d)
	}
	if len(top) == 0 {
		return node{}, nil
	}
	fi, err := os.Lstat(top[0])
	if err != nil {
		return node{}, fmt.Errorf("opening layer %s: %w", top[0], err)
	}
	if !fi.IsDir() {
		return node{}, fmt.Errorf("opening layer %s: %w", top[0], unix.ENOTDIR)
	}
	return node{fi: fi, host: top[0], dirs: top}, nil
}

// child looks name up in the layers of a directory, topmost first, with the
// overlayfs rules: the first layer that has the name decides; a whiteout
// there hides it; a directory merges with the same directory in the layers
// below it until one of them is opaque or one has a non-directory there.
func child(dirs []string, name string) (node, bool, error) {
	for i, d := range dirs {
		hp := filepath.Join(d, name)
		fi, err := os.Lstat(hp)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return node{}, false, fmt.Errorf("looking up %s: %w", hp, err)
		}
		if isWhiteout(fi) {
			return node{}, false, nil
		}
		n := node{name: name, fi: fi, host: hp}
		if !fi.IsDir() {
			return n, true, nil
		}
		n.dirs = []string{hp}
		opaque, err := xattrIs(hp, "y", xattrOpaque)
		if err != nil {
			return node{}, false, err
		}
		if opaque {
			return n, true, nil
		}
		for _, ld := range dirs[i+1:] {
			lp := filepath.Join(ld, name)
			lfi, err := os.Lstat(lp)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return node{}, false, fmt.Errorf("looking up %s: %w", lp, err)
			}
			if !lfi.IsDir() {
				break // a whiteout or a non-directory hides all further layers
			}
			n.dirs = append(n.dirs, lp)
			if opaque, err := xattrIs(lp, "y", xattrOpaque); err != nil {
				return node{}, false, err
			} else if opaque {
				break
			}
		}
		return n, true, nil
	}
	return node{}, false, nil
}

// list returns the entries of directory n sorted by name, whiteouts and the
// entries they hide removed.
func list(n node) ([]node, error) {
	seen := make(map[string]bool)
	var out []node
	for i, d := range n.dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			return nil, fmt.Errorf("reading layer directory %s: %w", d, err)
		}
		for _, e := range ents {
			name := e.Name()
			if seen[name] {
				continue
			}
			seen[name] = true
			// No layer above i has name, so the lookup can start at i.
			c, ok, err := child(n.dirs[i:], name)
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

// lookup finds the clean relative path p in the view without following
// symlinks. Errors are *fs.PathError with ENOENT or ENOTDIR, like lstat.
func lookup(dirs []string, p string) (node, error) {
	n, err := rootNode(dirs)
	if err != nil {
		return node{}, err
	}
	if n.fi == nil { // a stack without layers has not even a root
		return node{}, &fs.PathError{Op: "lstat", Path: "/" + p, Err: unix.ENOENT}
	}
	for _, c := range splitRel(p) {
		if !n.isDir() {
			return node{}, &fs.PathError{Op: "lstat", Path: p, Err: unix.ENOTDIR}
		}
		next, ok, err := child(n.dirs, c)
		if err != nil {
			return node{}, err
		}
		if !ok {
			return node{}, &fs.PathError{Op: "lstat", Path: p, Err: unix.ENOENT}
		}
		n = next
	}
	return n, nil
}
