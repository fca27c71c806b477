package copier

import (
	"io/fs"
	"os"
	"path"
	"strings"
)

// maxDirRoots bounds the directories dirRoots keeps open.
const maxDirRoots = 64

// dirRoots is an os.Root on a directory tree that also keeps roots on the
// directories it last worked in. os.Root resolves a path one component at
// a time, with a system call each, so a copy of many files deep in a tree
// would spend most of its time walking to their directories; through the
// parent's own root, each operation on an entry is one call, and still
// cannot leave the tree. It is not safe for concurrent use.
type dirRoots struct {
	root *os.Root
	dirs map[string]*os.Root
}

func openDirRoots(dir string) (*dirRoots, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &dirRoots{root: r, dirs: map[string]*os.Root{}}, nil
}

// at returns the root to reach p through and p's name in it.
func (d *dirRoots) at(p string) (*os.Root, string, error) {
	dir, name := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		return d.root, name, nil
	}
	if r, ok := d.dirs[dir]; ok {
		return r, name, nil
	}
	if len(d.dirs) >= maxDirRoots {
		d.forget("")
	}
	r, err := d.root.OpenRoot(dir)
	if err != nil {
		return nil, "", err
	}
	d.dirs[dir] = r
	return r, name, nil
}

// forget closes the roots on p and below it ("": all of them), which must
// happen before p is removed or replaced.
func (d *dirRoots) forget(p string) {
	for k, r := range d.dirs {
		if p == "" || k == p || strings.HasPrefix(k, p+"/") {
			r.Close()
			delete(d.dirs, k)
		}
	}
}

func (d *dirRoots) Close() error {
	d.forget("")
	return d.root.Close()
}

func (d *dirRoots) Lstat(p string) (fs.FileInfo, error) {
	r, name, err := d.at(p)
	if err != nil {
		return nil, err
	}
	return r.Lstat(name)
}

func (d *dirRoots) Mkdir(p string, perm fs.FileMode) error {
	r, name, err := d.at(p)
	if err != nil {
		return err
	}
	return r.Mkdir(name, perm)
}

func (d *dirRoots) Lchown(p string, uid, gid int) error {
	r, name, err := d.at(p)
	if err != nil {
		return err
	}
	return r.Lchown(name, uid, gid)
}

func (d *dirRoots) Chmod(p string, mode fs.FileMode) error {
	r, name, err := d.at(p)
	if err != nil {
		return err
	}
	return r.Chmod(name, mode)
}

func (d *dirRoots) Symlink(target, p string) error {
	r, name, err := d.at(p)
	if err != nil {
		return err
	}
	return r.Symlink(target, name)
}

func (d *dirRoots) OpenFile(p string, flag int, perm fs.FileMode) (*os.File, error) {
	r, name, err := d.at(p)
	if err != nil {
		return nil, err
	}
	return r.OpenFile(name, flag, perm)
}

// RemoveAll removes p and everything below it.
func (d *dirRoots) RemoveAll(p string) error {
	d.forget(p)
	return d.root.RemoveAll(p)
}

// Link makes newname a hard link to oldname; both are paths from the top.
func (d *dirRoots) Link(oldname, newname string) error {
	return d.root.Link(oldname, newname)
}
