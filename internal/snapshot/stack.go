package snapshot

import (
	"fmt"
	"io/fs"
	"os"
	"slices"

	"golang.org/x/sys/unix"
)

// Stack is a read-only union view over layer directories in overlay format,
// lowest first, resolved as overlayfs resolves its lower directories. The
// directories must not change while the Stack is in use.
type Stack struct {
	dirs []string
}

// NewStack returns the union of dirs, lowest first: the last one is the top.
// A Stack without directories is an empty view with no root.
func NewStack(dirs ...string) *Stack {
	return &Stack{dirs: slices.Clone(dirs)}
}

// Dirs returns the layer directories, lowest first.
func (s *Stack) Dirs() []string {
	return slices.Clone(s.dirs)
}

// With returns a new Stack with dir on top; s is unchanged.
func (s *Stack) With(dir string) *Stack {
	return &Stack{dirs: append(slices.Clone(s.dirs), dir)}
}

// Lstat describes the entry at p without following a final symlink. p is a
// slash path relative to the view's root; "" and "/" name the root and a
// leading "/" is allowed. A missing entry gives an error matching
// fs.ErrNotExist; a path through a non-directory gives ENOTDIR.
func (s *Stack) Lstat(p string) (fs.FileInfo, error) {
	n, release, err := lookup(s.dirs, cleanRel(p))
	if err != nil {
		return nil, err
	}
	release()
	return n.fi, nil
}

// HostPath returns the host path of the entry at p in the topmost layer
// that has it, to name it in messages. Reading through it would be limited
// by the kernel's path length; use Open, Readlink and Xattrs instead.
func (s *Stack) HostPath(p string) (string, error) {
	n, release, err := lookup(s.dirs, cleanRel(p))
	if err != nil {
		return "", err
	}
	release()
	if n.rel == "." {
		return n.at.Name(), nil
	}
	return n.at.Name() + "/" + n.rel, nil
}

// Xattrs returns the extended attributes of the entry at p that are file
// metadata (all but overlayfs' own), not following a final symlink.
func (s *Stack) Xattrs(p string) (map[string][]byte, error) {
	n, release, err := lookup(s.dirs, cleanRel(p))
	if err != nil {
		return nil, err
	}
	defer release()
	return metaXattrs(n.at, n.rel)
}

// ReadDir lists the directory at p merged over all layers, sorted by name,
// whiteouts and the entries they hide removed; an opaque directory stops the
// merge.
func (s *Stack) ReadDir(p string) ([]fs.DirEntry, error) {
	rel := cleanRel(p)
	n, release, err := lookup(s.dirs, rel)
	if err != nil {
		return nil, err
	}
	defer release()
	if !n.isDir() {
		return nil, &fs.PathError{Op: "readdir", Path: "/" + rel, Err: unix.ENOTDIR}
	}
	kids, err := list(n.dir())
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, len(kids))
	for i, k := range kids {
		out[i] = fs.FileInfoToDirEntry(k.fi)
	}
	return out, nil
}

// Readlink returns the target of the symlink at p.
func (s *Stack) Readlink(p string) (string, error) {
	rel := cleanRel(p)
	n, release, err := lookup(s.dirs, rel)
	if err != nil {
		return "", err
	}
	defer release()
	if n.fi.Mode()&fs.ModeSymlink == 0 {
		return "", &fs.PathError{Op: "readlink", Path: "/" + rel, Err: unix.EINVAL}
	}
	target, err := n.at.Readlink(n.rel)
	if err != nil {
		return "", fmt.Errorf("reading link %s: %w", rel, err)
	}
	return target, nil
}

// Open opens the entry at p for reading. A final symlink is not followed
// (the error is ELOOP), so content outside the view is never read; use
// Resolve first to follow links inside the view.
func (s *Stack) Open(p string) (*os.File, error) {
	rel := cleanRel(p)
	n, release, err := lookup(s.dirs, rel)
	if err != nil {
		return nil, err
	}
	defer release()
	return n.at.OpenBeneath(n.rel)
}
